"""Demo license types (证照类型): twelve common licenses and one of each other result kind, defined by the national demo departments.

Definers' credit codes are the check-valid fictional codes of ``national_departments`` (and a few more
central authorities numbered the same way); the type codes append a 3-digit sequence (GB/T 36904).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy.orm import Session

from zhengwu.licenses import service
from zhengwu.licenses.service import TypeSpec


def _definer(serial: int) -> str:
    from zhengwu.seed import government_credit_code

    return government_credit_code("100000", serial)


# (serial of the definer's code, definer name); 901-905 are national_departments().
MARKET: Final = (902, "国家市场监督管理总局")
POLICE: Final = (903, "中华人民共和国公安部")
HRSS: Final = (904, "中华人民共和国人力资源和社会保障部")
HOUSING: Final = (905, "中华人民共和国住房和城乡建设部")
HEALTH: Final = (906, "国家卫生健康委员会")
CIVIL: Final = (907, "中华人民共和国民政部")
TRANSPORT: Final = (908, "中华人民共和国交通运输部")
DRUGS: Final = (909, "国家药品监督管理局")

LOCAL: Final = ("province", "city", "county")


def _f(name: str, label: str, kind: str = "text", *, required: bool = True, **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "type": kind, "required": required, **extra}


SEX: Final = _f("sex", "性别", "enum", enum=["男", "女"])


def demo_types() -> list[TypeSpec]:
    """The demo types, in the order they are defined."""

    def spec(
        definer: tuple[int, str], seq: int, name: str, holder: str, fields: list[dict[str, Any]], **kw: Any
    ) -> TypeSpec:
        return TypeSpec(
            code=f"{_definer(definer[0])}{seq:03d}",
            name=name,
            definer_name=definer[1],
            issuing_levels=kw.pop("levels", LOCAL),
            holder_kind=holder,
            fields=fields,
            **kw,
        )

    return [
        spec(MARKET, 1, "营业执照", "enterprise", [
            _f("name", "名称"),
            _f("kind", "类型", "enum", enum=["有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "个体工商户"]),
            _f("legal_rep", "法定代表人", max_length=100),
            _f("capital", "注册资本（万元）", "decimal", required=False),
            _f("founded", "成立日期", "date"),
            _f("address", "住所"),
            _f("scope", "经营范围", max_length=2000),
        ]),
        spec(MARKET, 2, "食品经营许可证", "enterprise", [
            _f("licence_no", "许可证编号", pattern=r"JY\d{14}"),
            _f("operator", "经营者名称"),
            _f("premises", "经营场所"),
            _f("format", "主体业态", "enum", enum=["食品销售经营者", "餐饮服务经营者", "单位食堂"]),
            _f("items", "经营项目", max_length=1000),
        ], validity_years=5, number_field="licence_no"),
        spec(POLICE, 1, "居民户籍证明", "person", [
            _f("name", "姓名", max_length=100), SEX,
            _f("ethnicity", "民族", max_length=20),
            _f("birth_date", "出生日期", "date"),
            _f("address", "户籍地址"),
        ], validity_years=1, levels=("city", "county")),
        spec(HRSS, 1, "社会保险参保证明", "person", [
            _f("name", "姓名", max_length=100),
            _f("insurance", "参保险种", "enum", enum=["企业职工基本养老保险", "城乡居民基本养老保险", "失业保险", "工伤保险"]),
            _f("place", "参保地"),
            _f("since", "参保起始年月", pattern=r"\d{4}-(0[1-9]|1[0-2])"),
            _f("months", "累计缴费月数", "integer"),
        ], validity_years=1, trust_level="A"),
        spec(HEALTH, 1, "出生医学证明", "person", [
            _f("certificate_no", "出生医学证明编号", pattern=r"[A-Z]\d{9}"),
            _f("name", "新生儿姓名", max_length=100), SEX,
            _f("birth_date", "出生日期", "date"),
            _f("birth_place", "出生地点"),
            _f("mother", "母亲姓名", max_length=100),
            _f("father", "父亲姓名", required=False, max_length=100),
        ], number_field="certificate_no"),
        spec(HOUSING, 32, "建筑施工特种作业人员操作资格证书", "person", [
            _f("name", "姓名", max_length=100), SEX,
            _f("category", "操作类别", "enum", enum=["建筑电工", "建筑架子工", "建筑起重信号司索工", "建筑起重机械司机", "高处作业吊篮安装拆卸工"]),
            _f("certificate_no", "证书编号", max_length=64),
            _f("first_issued", "初次领证日期", "date"),
        ], validity_years=2, number_field="certificate_no", levels=("province",)),
        spec(HOUSING, 1, "建筑业企业资质证书", "enterprise", [
            _f("name", "企业名称"),
            _f("certificate_no", "证书编号", pattern=r"D\d{9}"),
            _f("qualification", "资质类别及等级", max_length=500),
            _f("legal_rep", "法定代表人", max_length=100),
        ], validity_years=5, number_field="certificate_no", levels=("province", "city")),
        spec(DRUGS, 1, "药品经营许可证", "enterprise", [
            _f("licence_no", "许可证编号", max_length=64),
            _f("name", "企业名称"),
            _f("premises", "注册地址"),
            _f("manager", "企业负责人", max_length=100),
            _f("scope", "经营范围", max_length=1000),
        ], validity_years=5, number_field="licence_no", levels=("province", "city")),
        spec(TRANSPORT, 1, "道路运输经营许可证", "enterprise", [
            _f("licence_no", "许可证号", pattern=r"冀交运管许可[\u4e00-\u9fff]{1,3}字\d{12}"),
            _f("name", "业户名称"),
            _f("scope", "经营范围", max_length=500),
        ], validity_years=4, number_field="licence_no"),
        spec(CIVIL, 1, "结婚登记证明", "person", [
            _f("name", "持证人", max_length=100),
            _f("spouse", "配偶姓名", max_length=100),
            _f("registered_on", "登记日期", "date"),
            _f("registration_no", "登记证字号", max_length=64),
        ], number_field="registration_no", levels=("city", "county")),
        spec(CIVIL, 2, "残疾人证", "person", [
            _f("name", "姓名", max_length=100), SEX,
            _f("category", "残疾类别", "enum", enum=["视力", "听力", "言语", "肢体", "智力", "精神", "多重"]),
            _f("grade", "残疾等级", "enum", enum=["一级", "二级", "三级", "四级"]),
        ], validity_years=10, levels=("city", "county")),
        spec(HEALTH, 2, "医师执业证书", "person", [
            _f("name", "姓名", max_length=100), SEX,
            _f("certificate_no", "证书编码", pattern=r"\d{15}"),
            _f("category", "执业类别", "enum", enum=["临床", "中医", "口腔", "公共卫生"]),
            _f("scope", "执业范围", max_length=200),
            _f("institution", "执业地点"),
        ], number_field="certificate_no", levels=("province", "city")),
        # Other results (证明、批文、鉴定报告), issued, sealed and verified the same way.
        spec(POLICE, 2, "无犯罪记录证明", "person", [
            _f("name", "姓名", max_length=100),
            _f("purpose", "用途", max_length=200),
            _f("proof_no", "证明编号", max_length=64),
        ], validity_years=1, number_field="proof_no", levels=("city", "county"), result_kind="proof"),
        spec(HOUSING, 2, "建设工程规划许可批复", "enterprise", [
            _f("project", "建设项目名称"),
            _f("approval_no", "批准文号", max_length=64),
            _f("site", "建设位置"),
            _f("scale", "建设规模", max_length=500),
            _f("decision", "批复意见", max_length=2000),
        ], number_field="approval_no", levels=("province", "city"), result_kind="approval"),
        spec(DRUGS, 2, "医疗器械检验鉴定报告", "enterprise", [
            _f("report_no", "报告编号", max_length=64),
            _f("product", "产品名称"),
            _f("model", "型号规格", max_length=200),
            _f("conclusion", "鉴定结论", "enum", enum=["符合", "不符合"]),
            _f("tested_on", "检验日期", "date"),
        ], number_field="report_no", levels=("province",), result_kind="appraisal"),
    ]  # fmt: skip


def seed_license_types(session: Session) -> int:
    """Define the demo types that are not there yet; returns how many were added."""
    have = {t.code for t in service.list_types(session)}
    added = 0
    for spec in demo_types():
        if spec.code in have:
            continue
        service.define_type(session, spec)
        added += 1
    return added

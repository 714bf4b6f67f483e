"""Legacy migration: exactly the expected merges, conflicts and rejections on dirty fixture files."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date
from pathlib import Path

import bcrypt
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from zhengwu.identity import service
from zhengwu.identity.importer import import_users
from zhengwu.identity.models import Account, AuthEvent, LegalEntity
from zhengwu.kernel.codes.citizen_id import check_digit, upgrade_15, validate_citizen_id
from zhengwu.kernel.codes.uscc import validate_uscc
from zhengwu.kernel.events import OutboxRecord
from zhengwu.seed.synthetic import citizen_id, enterprise_credit_code, nth_citizen_id

DATA = Path(__file__).parent / "data"
SALT = "s4lt-演示"
PASSWORDS = {
    "L001": "Legacy-bcrypt-1",
    "L002": "Legacy-pbkdf2-2",
    "L003": "Legacy-sha256-3",
    "L015": "legacy-md5-15",
}


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _id_ending_in_x() -> str:
    n = 1000
    while not nth_citizen_id(n).endswith("X"):
        n += 1
    return nth_citizen_id(n)


def _bad_area_id() -> str:
    for area in ("139999", "130999", "131999", "138888"):
        first17 = f"{area}19800101123"
        number = first17 + check_digit(first17)
        if validate_citizen_id(number).code == "citizen_id.area":
            return number
    raise AssertionError("no never-used area code found")


def natural_values() -> dict[str, str]:
    """The generated identifiers the fixture's placeholders stand for."""
    old15 = "130102700506123"
    id_x = _id_ending_in_x()
    good_check = nth_citizen_id(5)
    bad_date17 = "13010219990231123"
    pbkdf2 = base64.b64encode(
        hashlib.pbkdf2_hmac("sha256", PASSWORDS["L002"].encode(), b"djangosalt", 1000)
    ).decode()
    return {
        "ID1": nth_citizen_id(1),
        "ID2_FULLWIDTH_LOWER_X": _fullwidth(id_x.lower()),
        "ID2": id_x,
        "ID3_15": old15,
        "ID3": upgrade_15(old15),
        "ID_BAD_CHECK": good_check[:17] + ("0" if good_check[17] != "0" else "1"),
        "ID_BAD_DATE": bad_date17 + check_digit(bad_date17),
        "ID_BAD_AREA": _bad_area_id(),
        "ID8": nth_citizen_id(8),
        "ID9": nth_citizen_id(9),
        "ID11": nth_citizen_id(11),
        "ID13": nth_citizen_id(13),
        "ID14": nth_citizen_id(14),
        "ID15": nth_citizen_id(15),
        "ID17_SHORT": nth_citizen_id(17)[:17],
        "ID19": nth_citizen_id(19),
        "PHONE_OF_EXISTING_CHEN": "17000000777",
        "BCRYPT": bcrypt.hashpw(PASSWORDS["L001"].encode(), bcrypt.gensalt(rounds=4)).decode(),
        "PBKDF2": f"pbkdf2_sha256$1000$djangosalt${pbkdf2}",
        "SHA256_SALT": hashlib.sha256((SALT + PASSWORDS["L003"]).encode()).hexdigest(),
        "SALT": SALT,
        "MD5": hashlib.md5(PASSWORDS["L015"].encode()).hexdigest(),
    }


def materialise(template: Path, values: dict[str, str], target: Path) -> Path:
    """Fill the fixture's placeholders (no valid ID number is stored in the repository)."""
    text = template.read_text(encoding="utf-8")
    for key in sorted(values, key=len, reverse=True):
        text = text.replace("{" + key + "}", values[key])
    assert "{" not in text.replace('{"', "").replace("{}", ""), "unfilled placeholder"
    target.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def natural_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    values = natural_values()
    return materialise(DATA / "legacy_users_dirty.csv", values, tmp_path / "users.csv"), values


def _existing_accounts(session: Session, values: dict[str, str]) -> tuple[Account, Account]:
    zi = service.register_natural_person(
        session, name="演示用户子", id_number=values["ID14"], phone="17000000014", password="Demo-Passw0rd"
    )
    chen = service.register_natural_person(
        session,
        name="演示用户辰",
        id_number=nth_citizen_id(20),
        phone=values["PHONE_OF_EXISTING_CHEN"],
        password="Demo-Passw0rd",
    )
    return zi, chen


def test_dirty_natural_file_report_is_exactly_right(
    session: Session, natural_file: tuple[Path, dict[str, str]]
) -> None:
    path, values = natural_file
    zi, chen = _existing_accounts(session, values)
    accounts_before = session.scalar(select(func.count()).select_from(Account))
    report = import_users(session, path, source="legacy-portal", batch_size=100)
    assert report.summary() == {
        "rows": 19, "imported": 6, "merged": 3, "conflicts": 3, "rejected": 7, "warnings": 2, "legacy_passwords": 4,
    }  # fmt: skip
    rejections = {r["line"]: (r["field"], r["code"]) for r in report.rejections}
    assert rejections == {
        6: ("cert_no", "citizen_id.check_digit"),
        7: ("cert_no", "citizen_id.birth_date"),
        8: ("cert_no", "citizen_id.area"),
        12: ("user_name", "name.invalid"),
        13: ("cert_type", "cert_type.unsupported"),
        17: ("cert_no", "citizen_id.empty"),
        18: ("cert_no", "citizen_id.length"),
    }
    assert all(r["reason"] for r in report.rejections)
    merges = {m["line"]: m for m in report.merges}
    assert set(merges) == {5, 15, 19}
    assert (
        merges[5]["kind"] == "within_file"
        and merges[5]["into_line"] == 2
        and merges[5]["filled"] == ["email"]
    )
    assert merges[15]["kind"] == "existing_account" and merges[15]["account_id"] == zi.id
    assert merges[15]["filled"] == ["email"]
    assert merges[19]["kind"] == "within_file" and merges[19]["into_line"] == 4 and merges[19]["filled"] == []
    conflicts = {c["line"]: c for c in report.conflicts}
    assert set(conflicts) == {10, 11, 20}
    assert conflicts[10]["reason"] == "same_name_phone_different_id" and conflicts[10]["other_line"] == 9
    assert conflicts[11]["reason"] == "same_id_different_name" and conflicts[11]["other_line"] == 2
    assert (
        conflicts[20]["reason"] == "same_name_phone_different_id"
        and conflicts[20]["other_account_id"] == chen.id
    )
    warnings = {(w["line"], w["code"]) for w in report.warnings}
    assert warnings == {(14, "phone.invalid"), (14, "password.unknown_scheme")}
    # The report names lines and legacy ids, never the personal data itself.
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    for key in ("ID1", "ID2", "ID3", "ID8", "ID9", "ID13", "ID14", "ID15", "ID19"):
        assert values[key] not in text
    assert "17000000008" not in text
    assert session.scalar(select(func.count()).select_from(Account)) == accounts_before + 6
    # Cleansed on the way in: full-width lower-case x and a 15-digit number are found by their 18-digit form.
    assert service.find_account_by_citizen_id(session, values["ID2"]) is not None
    merged = service.find_account_by_citizen_id(session, values["ID3"])
    assert (
        merged is not None and merged.display_name == "演示用户丙" and merged.legacy_scheme == "sha256_salt"
    )
    first = service.find_account_by_citizen_id(session, values["ID1"])
    assert (
        first is not None
        and first.email == "demo.user@example.com"
        and first.source == "import:legacy-portal"
    )
    assert service.find_account_by_citizen_id(session, values["ID9"]) is None
    upward = session.scalars(select(OutboxRecord).where(OutboxRecord.topic == "up_uc_province_user")).all()
    assert len(upward) == 2 + 6
    assert all(values["ID1"] not in json.dumps(r.payload) for r in upward)
    event = session.scalars(select(AuthEvent).where(AuthEvent.event_type == "user_import")).one()
    assert event.detail["imported"] == 6


def test_reimport_is_all_merges(session: Session, natural_file: tuple[Path, dict[str, str]]) -> None:
    path, values = natural_file
    _existing_accounts(session, values)
    import_users(session, path, source="legacy-portal")
    count = session.scalar(select(func.count()).select_from(Account))
    again = import_users(session, path, source="legacy-portal")
    assert again.imported == 0 and session.scalar(select(func.count()).select_from(Account)) == count
    assert {m["kind"] for m in again.merges} == {"existing_account", "within_file"}


@pytest.mark.parametrize(("phone", "legacy_id", "scheme"), [
    ("17000000001", "L001", "bcrypt"),
    ("17000000002", "L002", "pbkdf2_sha256"),
    ("17000000003", "L003", "sha256_salt"),
    ("17000000015", "L015", "md5"),
])  # fmt: skip
def test_legacy_hashes_are_rehashed_at_first_login(
    session: Session, natural_file: tuple[Path, dict[str, str]], phone: str, legacy_id: str, scheme: str
) -> None:
    path, _ = natural_file
    import_users(session, path, source="legacy-portal")
    account = service.resolve_identifier(session, phone)
    assert account is not None and account.legacy_scheme == scheme and account.password_hash is None
    with pytest.raises(service.InvalidCredentials):
        service.authenticate_password(session, phone, "not-the-password")
    assert service.authenticate_password(session, phone, PASSWORDS[legacy_id]) is account
    assert account.legacy_scheme is None and account.legacy_hash is None
    assert account.password_hash is not None and account.password_hash.startswith(
        "$argon2id$v=19$m=19456,t=2,p=1$"
    )
    assert service.authenticate_password(session, phone, PASSWORDS[legacy_id]) is account
    assert (
        session.scalar(
            select(func.count()).select_from(AuthEvent).where(AuthEvent.event_type == "password_rehashed")
        )
        == 1
    )


def test_dirty_legal_file(session: Session, tmp_path: Path) -> None:
    code1 = enterprise_credit_code("130100", 1)
    code2 = enterprise_credit_code("130600", 2)
    bad = enterprise_credit_code("130200", 3)
    values = {
        "CODE1": code1,
        "CODE2_FULLWIDTH_LOWER": _fullwidth(code2.lower()),
        "CODE_BAD": bad[:17] + ("0" if bad[17] != "0" else "1"),
        "CODE6": enterprise_credit_code("130100", 6),
        "CODE7": enterprise_credit_code("130100", 7),
    }
    assert validate_uscc(values["CODE_BAD"]).code != "uscc.ok"
    path = materialise(DATA / "legacy_corporators_dirty.jsonl", values, tmp_path / "corps.jsonl")
    report = import_users(session, path, source="legacy-corp")
    assert report.kind == "legal"
    assert report.summary() == {
        "rows": 8, "imported": 2, "merged": 1, "conflicts": 2, "rejected": 3, "warnings": 0, "legacy_passwords": 0,
    }  # fmt: skip
    assert {r["line"]: r["code"] for r in report.rejections} == {
        3: report.rejections[0]["code"],
        7: "name.invalid",
        8: "row.unreadable",
    }
    assert report.rejections[0]["code"].startswith("uscc.")
    assert {c["line"]: c["reason"] for c in report.conflicts} == {
        5: "same_code_different_name",
        6: "same_name_different_code",
    }
    assert [(m["line"], m["into_line"]) for m in report.merges] == [(4, 1)]
    names = sorted(session.scalars(select(LegalEntity.name)))
    assert names == ["演示商贸（河北）有限公司", "演示科技有限公司"]
    assert service.find_legal_entity(session, code2) is not None
    assert (
        session.scalar(
            select(func.count())
            .select_from(OutboxRecord)
            .where(OutboxRecord.topic == "up_uc_corporator_identity")
        )
        == 2
    )


def test_xlsx_with_chinese_headers(session: Session, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["姓名", "证件号码", "手机号码", "电子邮箱"])
    sheet.append(["演示用户一", nth_citizen_id(31), "170-0000-0031", ""])
    sheet.append(["演示用户二", nth_citizen_id(32), "17000000032", "er@example.com"])
    sheet.append([None, None, None, None])
    sheet.append(["演示用户三", "12345", "17000000033", ""])
    path = tmp_path / "users.xlsx"
    workbook.save(path)
    report = import_users(session, path, source="xlsx-test")
    assert report.summary()["imported"] == 2 and [r["line"] for r in report.rejections] == [5]
    account = service.resolve_identifier(session, "17000000031")
    assert account is not None and account.display_name == "演示用户一"


def test_cli_import_writes_the_report(
    session: Session,
    natural_file: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
) -> None:
    from zhengwu.cli import app

    path, _ = natural_file
    data_dir = tmp_path / "node"
    db_url = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    from dbkit import migrate_fresh

    migrate_fresh(db_url)
    monkeypatch.setenv("ZHENGWU_DATABASE_URL", db_url)
    monkeypatch.setenv("ZHENGWU_DATA_DIR", str(data_dir))
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app, ["users", "import", str(path), "--source", "legacy", "--report", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["imported"] == 8 and summary["rejected"] == 7
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["summary"] == summary and len(body["rejections"]) == 7
    verify = CliRunner().invoke(app, ["users", "verify-audit"])
    assert verify.exit_code == 0 and "intact" in verify.output
    odd = tmp_path / "users.docx"
    odd.write_bytes(b"PK\x03\x04")
    assert CliRunner().invoke(app, ["users", "import", str(odd), "--source", "x"]).exit_code == 1
    headless = tmp_path / "headless.csv"
    headless.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["users", "import", str(headless), "--source", "x"]).exit_code == 1


def test_birth_dates_in_the_future_are_rejected() -> None:
    number = citizen_id("130102", date(2099, 1, 1), 1)
    assert validate_citizen_id(number).code == "citizen_id.birth_date"


def test_gbk_csv_with_chinese_headers(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    rows = [
        "姓名,证件号码,手机号码",
        f"演示用户四,{nth_citizen_id(41)},17000000041",
        f"演示用户五,{nth_citizen_id(42).lower()},",
    ]
    path.write_bytes("\r\n".join(rows).encode("gbk"))
    report = import_users(session, path, source="gbk")
    assert report.summary()["imported"] == 2 and report.rejections == []
    assert service.find_account_by_citizen_id(session, nth_citizen_id(41)) is not None


def test_duplicates_of_a_held_row_are_held_too(session: Session, tmp_path: Path) -> None:
    service.register_natural_person(
        session,
        name="演示用户子",
        id_number=nth_citizen_id(51),
        phone="17000000051",
        password="Demo-Passw0rd",
    )
    path = tmp_path / "held.csv"
    rows = [
        "user_name,cert_no,user_mobile",
        f"演示用户丑,{nth_citizen_id(51)},17000000052",
        f"演示用户丑,{nth_citizen_id(51)},",
        f"演示用户寅,{nth_citizen_id(53)},17000000053",
        f"演示用户寅,{nth_citizen_id(53)},",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = import_users(session, path, source="held")
    assert [(c["line"], c["reason"]) for c in report.conflicts] == [
        (2, "same_id_different_name"),
        (3, "duplicate_of_conflicting_row"),
    ]
    assert [(m["line"], m["into_line"]) for m in report.merges] == [(5, 4)]
    assert report.imported == 1

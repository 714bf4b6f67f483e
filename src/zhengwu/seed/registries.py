"""Deterministic synthetic registries for demo and test nodes (人口库 / 法人库 / 证照库).

Every person and enterprise is visibly fictional (names start with 演示); every ID number, credit
code and license identifier passes its national check. The same seed always yields the same data, so
a province test can pick a known person and ask the national node about them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy.orm import Session

from zhengwu.exchange import verification
from zhengwu.kernel.codes import divisions, make_license_id
from zhengwu.kernel.codes.citizen_id import check_digit
from zhengwu.kernel.codes.uscc import complete_uscc, org_check_digit
from zhengwu.kernel.config import Settings

SEED: Final = 20_240_601
_SURNAMES: Final = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
_GIVEN: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红德文晨曦宇航嘉怡子涵"
_TRADES: Final = ("科技", "商贸", "建材", "食品", "物流", "农业", "文化", "医药", "机械", "服装")
_FORMS: Final = (("有限公司", "有限责任公司"), ("股份有限公司", "股份有限公司"), ("合作社", "农民专业合作社"))
# 11100000000013338W032-style type code: definer USCC (a fictional central department) + 3 digits.
LICENSE_TYPE_NAME: Final = "演示营业执照"


@dataclass(frozen=True, slots=True)
class Person:
    """A synthetic natural person."""

    name: str
    id_number: str


@dataclass(frozen=True, slots=True)
class Company:
    """A synthetic legal person."""

    credit_code: str
    name: str
    legal_representative: str
    entity_type: str


@dataclass(frozen=True, slots=True)
class License:
    """A synthetic e-license (营业执照 of a synthetic company)."""

    identifier: str
    holder: str
    holder_code: str
    license_type: str


def _counties() -> list[str]:
    codes = sorted(c for c in divisions.current_codes() if c.startswith("13") and not c.endswith("00"))
    return codes or ["130102"]


def _name(rng: random.Random) -> str:
    given = rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.7 else "")
    return f"演示{rng.choice(_SURNAMES)}{given}"


def people(count: int, *, seed: int = SEED) -> list[Person]:
    """``count`` synthetic Hebei residents with check-valid, unique ID numbers."""
    rng = random.Random(seed)
    counties = _counties()
    result: list[Person] = []
    seen: set[str] = set()
    while len(result) < count:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 55 * 365))
        first17 = f"{rng.choice(counties)}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
        number = first17 + check_digit(first17)
        if number in seen:
            continue
        seen.add(number)
        result.append(Person(_name(rng), number))
    return result


def _uscc(rng: random.Random, division: str, prefix: str = "91") -> str:
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    return complete_uscc(f"{prefix}{division}{body}{org_check_digit(body)}")


def companies(count: int, *, seed: int = SEED + 1) -> list[Company]:
    """``count`` synthetic Hebei enterprises with check-valid, unique credit codes."""
    rng = random.Random(seed)
    counties = _counties()
    result: list[Company] = []
    seen: set[str] = set()
    while len(result) < count:
        division = rng.choice(counties)
        code = _uscc(rng, division)
        if code in seen:
            continue
        seen.add(code)
        form, entity_type = rng.choice(_FORMS)
        place = (divisions.name_of(division) or "河北")[:4]
        name = f"演示{place}{rng.choice(_TRADES)}{len(result) + 1:04d}{form}"
        result.append(Company(code, name, _name(rng), entity_type))
    return result


def license_type_code() -> str:
    """The 21-character type code of the synthetic business licence (definer USCC + 3 digits)."""
    body = "MB000901"
    definer = complete_uscc(f"11100000{body}{org_check_digit(body)}")
    return f"{definer}001"


def licenses(items: list[Company]) -> list[License]:
    """A business licence for each synthetic company, issued by a fictional Hebei market regulator."""
    body = "MB000012"
    issuer = complete_uscc(f"11130000{body}{org_check_digit(body)}")
    type_code = license_type_code()
    return [
        License(make_license_id(type_code, issuer, f"{i + 1:08d}"), c.name, c.credit_code, LICENSE_TYPE_NAME)
        for i, c in enumerate(items)
    ]


def seed_registries(
    session: Session, settings: Settings, *, people_count: int = 2_000, companies_count: int = 500
) -> dict[str, int]:
    """Load the deterministic synthetic registries (idempotent): persons, legal persons, licences."""
    orgs = companies(companies_count)
    return verification.load_registries(
        session, settings, people=people(people_count), companies=orgs, licenses=licenses(orgs)
    )

"""Demo seals: one seal for every department of the province demo, so that licences can be issued.

The seal name follows the department kind (e.g. 河北省市场监督管理局行政审批专用章). The node PKI is
initialised first when ``pki init`` has not run, so that a fresh demo node can seal documents at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.kernel.config import Settings
from zhengwu.kernel.logging import get_logger
from zhengwu.orgs.models import Department
from zhengwu.seals import authority, service
from zhengwu.seals.models import Seal

log = get_logger("zhengwu.seed.seals")

#: Seal kind by department kind (suffix of the department name); the first match wins.
SEAL_KINDS: Final = (
    ("行政审批局", "行政审批专用章"),
    ("市场监督管理局", "行政审批专用章"),
    ("公安局", "户政专用章"),
    ("公安厅", "户政专用章"),
    ("人力资源和社会保障厅", "社会保障专用章"),
    ("政务服务管理办公室", "电子证照专用章"),
)
DEFAULT_KIND: Final = "行政审批专用章"
DEMO_ACTOR: Final = "seed:demo"


def demo_seal_name(department_name: str) -> str:
    """The demo seal of a department, e.g. 石家庄市行政审批局行政审批专用章."""
    for suffix, kind in SEAL_KINDS:
        if department_name.endswith(suffix):
            return f"{department_name}{kind}"
    return f"{department_name}{DEFAULT_KIND}"


def seed_demo_seals(
    session: Session, settings: Settings, *, credit_codes: Iterable[str] | None = None
) -> int:
    """Make the demo seal of each listed department (all when None) that has none yet; init the PKI if needed."""
    if not authority.is_initialized(session):
        created = authority.init_pki(session, settings).created
        log.info("demo_pki_initialised", created=list(created))
    have = set(session.scalars(select(Seal.department_id)).all())
    query = select(Department).order_by(Department.division_code, Department.name)
    if credit_codes is not None:
        query = query.where(Department.credit_code.in_(list(credit_codes)))
    added = 0
    for department in session.scalars(query).all():
        if department.id in have:
            continue
        service.create_seal(
            session,
            settings,
            department_credit_code=department.credit_code,
            name=demo_seal_name(department.name),
            actor=DEMO_ACTOR,
        )
        added += 1
    return added

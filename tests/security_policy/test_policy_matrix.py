"""The authorisation matrix (ADR 0010): every staff route × every kind of caller, exact statuses.

Columns (``policy_kit.World.principals``): anonymous; a citizen; an enterprise agent; the department
principal of A acting on B's object and on A's own; a platform administrator — each with and without a
second factor. A row names one route, how to build a call on an object of a given department, the status
an allowed call answers, the role the department principal holds for it, and who may. Every cell runs on
a fresh object inside a savepoint that is rolled back, so allowed cells do not disturb each other.

A capability that adds staff routes adds rows here: ``test_every_staff_route_has_a_row`` fails until it
does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from policy_kit import PASSWORD, Principal, World, as_, init_pki, make_seal
from sqlalchemy.orm import Session

import catalog_kit as kit
from routekit import routes
from zhengwu.catalog import service as catalog
from zhengwu.catalog.models import ImportJob
from zhengwu.exchange.models import ExchangeFeedback
from zhengwu.identity import mfa
from zhengwu.identity import service as identity
from zhengwu.identity.oidc import service as oidc_service
from zhengwu.identity.oidc.schemas import ClientCreate
from zhengwu.identity.servicekeys import OIDC
from zhengwu.kernel.node import node_of
from zhengwu.orgs.models import Department
from zhengwu.seals import service as seals
from zhengwu.seals.ofd.writer import DocumentSpec, Paragraph, write_ofd
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

PASSPORT: str = kit.PASSPORT
DRAFT_CODE = "000101002000"


@dataclass(frozen=True)
class Call:
    """One request: its URL and body."""

    url: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """What the rows build their objects with."""

    app: Any
    session: Session
    world: World
    numbers: Any = field(default_factory=lambda: iter(range(62_000, 10**6)))

    @property
    def settings(self) -> Any:
        """The node's settings."""
        return node_of(self.app).settings

    def task(self, dept: Department, *, publish: bool = False) -> str:
        """An implementation item of ``dept`` (a draft unless published)."""
        item = catalog.create_task(self.session, kit.guide(dept.credit_code), actor="test")
        if publish:
            item = catalog.publish_task(self.session, item.task_code, actor="test")
        self.session.flush()
        return str(item.task_code)

    def seal(self, dept: Department, *, suspended: bool = False) -> str:
        """A seal of ``dept``."""
        es_id = make_seal(self.session, self.settings, dept.credit_code)
        if suspended:
            seals.suspend_seal(self.session, es_id, reason="核查", actor="test")
            self.session.flush()
        return es_id

    def license(self, dept: Department) -> str:
        """A valid license issued by ``dept`` (with a seal of its own and a type any level may issue)."""
        from zhengwu.licenses import service as licenses

        make_seal(self.session, self.settings, dept.credit_code)
        lic = licenses.issue_license(
            self.session,
            self.settings,
            type_code=self.license_type(),
            department_id=dept.id,
            holder_name="演示用户",
            holder_code=nth_citizen_id(next(self.numbers)),
            face={"note": "测试"},
            actor="test",
        )
        self.session.flush()
        return str(lic.id)

    def suspended_license(self, dept: Department) -> str:
        """A suspended license of ``dept``."""
        from zhengwu.licenses import service as licenses

        license_id = self.license(dept)
        licenses.change_status(self.session, license_id, "suspend", reason="核查", actor="test")
        self.session.flush()
        return license_id

    def license_type(self, *, seal_of: Department | None = None) -> str:
        """A license type every level may issue (defined once per test), and a seal of ``seal_of``."""
        from zhengwu.licenses import service as licenses
        from zhengwu.seed import government_credit_code

        if seal_of is not None:
            make_seal(self.session, self.settings, seal_of.credit_code)

        code = f"{government_credit_code('100000', 990)}001"
        if code not in {t.code for t in licenses.list_types(self.session)}:
            licenses.define_type(self.session, licenses.TypeSpec(
                code=code, name="测试证明", definer_name="测试部委", holder_kind="person",
                issuing_levels=("national", "province", "city", "county"),
                fields=[{"name": "note", "label": "备注"}]))  # fmt: skip
        return code

    def case(self, dept: Department) -> str:
        """A submitted case for a published item of ``dept`` (its required materials uploaded)."""
        from zhengwu.cases import service as cases
        from zhengwu.catalog.service import get_public_item
        from zhengwu.kernel.node import node_in

        task_code = self.task(dept, publish=True)
        n = next(self.numbers)
        account = identity.register_natural_person(
            self.session, name="申请用户", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
        )
        files = node_in(self.session).files
        materials = [
            cases.MaterialInput(str(m["row_guid"]), file_sm3=files.put(f"材料{n}".encode()))
            for m in get_public_item(self.session, task_code)["materials"]
        ]
        done = cases.save(
            self.session, account, task_code=task_code, form={}, materials=materials, submit=True
        )
        self.session.flush()
        return str(done.case.case_no)

    def client(self) -> str:
        """An OIDC client of the node."""
        data = ClientCreate(name="测试业务系统", grant_types=["client_credentials"], scope="verify:person")
        row, _ = oidc_service.create_client(
            self.session, node_of(self.app).services.provide(OIDC).node_keys, data, actor=None
        )
        self.session.flush()
        return str(row.client_id)

    def app_client(self) -> str:
        """An OIDC client logging people in at an H5 app (authorization code)."""
        data = ClientCreate(name="测试应用", grant_types=["authorization_code"],
                            redirect_uris=["https://app.example.gov.cn/cb"])  # fmt: skip
        row, _ = oidc_service.create_client(
            self.session, node_of(self.app).services.provide(OIDC).node_keys, data, actor=None
        )
        self.session.flush()
        return str(row.client_id)

    def department_client(self, dept: Department) -> str:
        """An OIDC client of the node bound to ``dept`` (a department system)."""
        data = ClientCreate(name="审批业务系统", grant_types=["client_credentials"], scope="cases.handle",
                            department_id=dept.id)  # fmt: skip
        row, _ = oidc_service.create_client(
            self.session, node_of(self.app).services.provide(OIDC).node_keys, data, actor=None
        )
        self.session.flush()
        return str(row.client_id)

    def delivery(self, dept: Department) -> str:
        """A dead webhook delivery of a case event of ``dept``."""
        from zhengwu.cases.webhooks.models import WebhookDelivery, WebhookEvent

        event = WebhookEvent(msg_id=f"msg_{next(self.numbers)}", type="case.submitted", department_id=dept.id,
                             case_no="X", body="{}")  # fmt: skip
        self.session.add(event)
        self.session.flush()
        row = WebhookDelivery(event_seq=event.seq, client_id="zwtest", status="dead", attempts=8)
        self.session.add(row)
        self.session.flush()
        return str(row.id)

    def staff_in(self, dept: Department, *, totp: bool = False) -> str:
        """A staff member of ``dept`` (with an enrolled TOTP when asked)."""
        account = self.world.staff_account(dept, ["seal_user"])
        if totp:
            mfa.begin_enrolment(self.session, account)
            account.totp_enabled_at = account.created_at
            self.session.flush()
        return str(account.id)

    def person(self) -> tuple[str, str]:
        """A registered person's ID number and name."""
        n = next(self.numbers)
        identity.register_natural_person(
            self.session, name="窗口用户", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
        )
        self.session.flush()
        return nth_citizen_id(n), "窗口用户"

    def feedback(self) -> str:
        """An open abnormal-feedback row (nothing to resend: the resend skips it)."""
        row = ExchangeFeedback(
            source="local", table_name="up_test", row_guid="r1", error_code="E1", reason="测试", status="open"
        )
        self.session.add(row)
        self.session.flush()
        return str(row.id)

    def portal_notice(self) -> str:
        """A notice this node published on its portal."""
        from zhengwu.portal import notices

        notice = notices.publish(
            self.session, self.settings, kind="notice", title="测试通知", body="正文", actor="test"
        )
        self.session.flush()
        return notice.id

    def portal_app(self) -> str:
        """A department app registered in the portal, with its OIDC client."""
        from zhengwu.portal import apps

        spec = apps.AppSpec(
            name="测试应用", entry_url="https://app.example.gov.cn/sso", client_id=self.app_client()
        )
        app = apps.register(self.session, spec, actor="test")
        self.session.flush()
        return app.id

    def notice(self, status: str = "open") -> str:
        """A security notice received from the upper node, in ``status``."""
        from datetime import UTC, datetime

        from zhengwu.security.models import SecurityNotice

        n = next(self.numbers)
        row = SecurityNotice(
            notice_key=f"national:{n}", direction="received", issuer="national", to_node="*", title="通报",
            body="正文", severity="high", status=status, assignee="duty" if status != "open" else None,
            issued_at=datetime(2026, 12, 5, tzinfo=UTC), updated_at=datetime(2026, 12, 5, tzinfo=UTC),
        )  # fmt: skip
        self.session.add(row)
        self.session.flush()
        return str(row.id)

    def staff_login(self) -> str:
        """The login name of a staff member a notice can be assigned to."""
        return str(self.world.staff_account(self.world.office, ["case_officer"]).login_name)

    def abnormal(self, dept: Department) -> str:
        """An open abnormal-data entry of ``dept``: an import row that imports as it is when resubmitted."""
        from zhengwu.licenses import abnormal

        values = {"holder_code": nth_citizen_id(next(self.numbers)), "holder_name": "演示用户",
                  "issue_date": "2020-01-01", "note": "测试"}  # fmt: skip
        origin = f"import:test:{next(self.numbers)}"
        abnormal.record_import_failures(self.session, [abnormal.ImportFailure(
            origin=origin, type_code=self.license_type(), department_id=dept.id,
            row={"type_code": self.license_type(), "department_id": dept.id, "values": values},
            row_key=origin, identifier=None, reason="测试", error_code="test")])  # fmt: skip
        self.session.flush()
        return next(e.id for e in abnormal.list_entries(self.session, departments={dept.id})[0])

    def license_grant(self, dept: Department) -> str:
        """A grant in force of a department system of ``dept`` for a license type."""
        from zhengwu.licenses import grants

        made = grants.add(self.session, client_id=self.department_client(dept), type_code=self.license_type(),
                          operations=["verify"], purpose="测试授权", actor="test")  # fmt: skip
        self.session.flush()
        return str(made.id)

    def job(self) -> str:
        """A finished catalog import job."""
        job = ImportJob(
            actor="test", filename="items.jsonl", size=1, file_path="/nonexistent", status="done", rejects=[]
        )
        self.session.add(job)
        self.session.flush()
        return str(job.id)


Build = Callable[[Ctx, Department], Call]


@dataclass(frozen=True)
class Row:
    """One staff route and who may call it."""

    route: str
    call: Build
    ok: int
    role: str = "admin"  # what the department principal holds in A
    department: bool = True  # the call is about an object of one department (A's or B's)
    department_may: bool = True  # a department principal may (on its own department's object)
    platform_may: bool = True  # a platform administrator may

    def expect(self, principal: Principal, on: str | None) -> int:
        """The status of this row's call by ``principal`` (acting on A's object, or B's)."""
        if principal.kind == "anonymous":
            return 401
        if principal.kind in ("citizen", "agent"):
            return 403
        if not principal.factor:
            return 401
        if principal.kind == "platform":
            return self.ok if self.platform_may else 403
        if not self.department_may:
            return 403
        return self.ok if (on == "A" or not self.department) else 403


def platform(route: str, call: Build, ok: int = 200) -> Row:
    """A row about the node's own objects: platform administrators only."""
    return Row(route, call, ok, department=False, department_may=False)


def shared(route: str, call: Build, ok: int = 200) -> Row:
    """A read of shared data by anyone holding the capability's right (no department touched)."""
    return Row(route, call, ok, department=False)


CATALOG = "/api/v1/catalog"
NEW_ENTRY = {"catalog_code": "000101099000", "task_name": "测试事项", "task_type": "01", "use_level": "2",
             "by_law": "《测试法》"}  # fmt: skip
REASON = {"reason": "测试原因"}


def _draft_basic(ctx: Ctx, _: Department) -> Call:
    kit.make_basic(ctx.session, DRAFT_CODE, "测试基本目录事项", publish=False)
    return Call(f"{CATALOG}/directory/{DRAFT_CODE}/publish")


def _synonym(ctx: Ctx, _: Department) -> Call:
    catalog.set_synonym(ctx.session, "护照本", "普通护照")
    ctx.session.flush()
    return Call(f"{CATALOG}/synonyms/护照本")


def _document() -> bytes:
    return write_ofd(DocumentSpec(title="行政许可决定书", blocks=[Paragraph("准予许可。")]))


ROWS: list[Row] = [
    # catalog: the basic catalog and synonyms are the platform's; items are their department's
    shared("GET /api/v1/catalog/directory", lambda c, d: Call(f"{CATALOG}/directory")),
    shared("GET /api/v1/catalog/directory/{catalog_code}", lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}")),
    shared("GET /api/v1/catalog/directory/{catalog_code}/history",
           lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}/history")),
    shared("GET /api/v1/catalog/directory/{catalog_code}/versions/{version}",
           lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}/versions/1")),
    shared("GET /api/v1/catalog/directory/{catalog_code}/diff",
           lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}/diff?from=1&to=1")),
    platform("POST /api/v1/catalog/directory", lambda c, d: Call(f"{CATALOG}/directory", NEW_ENTRY), 201),
    platform("PATCH /api/v1/catalog/directory/{catalog_code}",
             lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}", {"task_name": "普通护照签发（修订）"})),
    platform("POST /api/v1/catalog/directory/{catalog_code}/publish", _draft_basic),
    platform("POST /api/v1/catalog/directory/{catalog_code}/suspend",
             lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}/suspend", REASON)),
    platform("POST /api/v1/catalog/directory/{catalog_code}/cancel",
             lambda c, d: Call(f"{CATALOG}/directory/{PASSPORT}/cancel", REASON)),
    Row("GET /api/v1/catalog/tasks", lambda c, d: Call(f"{CATALOG}/tasks?department={d.credit_code}"), 200),
    Row("POST /api/v1/catalog/tasks", lambda c, d: Call(f"{CATALOG}/tasks", kit.guide(d.credit_code)), 201),
    Row("GET /api/v1/catalog/tasks/{task_code}", lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d)}"), 200),
    Row("PATCH /api/v1/catalog/tasks/{task_code}",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d)}", {"promise_day": 5}), 200),
    Row("DELETE /api/v1/catalog/tasks/{task_code}", lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d)}"), 204),
    Row("POST /api/v1/catalog/tasks/{task_code}/publish",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d)}/publish"), 200),
    Row("POST /api/v1/catalog/tasks/{task_code}/suspend",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d, publish=True)}/suspend", REASON), 200),
    Row("POST /api/v1/catalog/tasks/{task_code}/cancel",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d, publish=True)}/cancel", REASON), 200),
    Row("GET /api/v1/catalog/tasks/{task_code}/history",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d)}/history"), 200),
    Row("GET /api/v1/catalog/tasks/{task_code}/versions/{version}",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d, publish=True)}/versions/1"), 200),
    Row("GET /api/v1/catalog/tasks/{task_code}/diff",
        lambda c, d: Call(f"{CATALOG}/tasks/{c.task(d, publish=True)}/diff?from=1&to=1"), 200),
    platform("GET /api/v1/catalog/validation", lambda c, d: Call(f"{CATALOG}/validation")),
    shared("GET /api/v1/catalog/synonyms", lambda c, d: Call(f"{CATALOG}/synonyms")),
    platform("PUT /api/v1/catalog/synonyms",
             lambda c, d: Call(f"{CATALOG}/synonyms", {"term": "社保卡", "canonical": "社会保障卡"})),
    platform("DELETE /api/v1/catalog/synonyms/{term}", _synonym, 204),
    # An authorised upload of the wrong type is refused before a job starts (415): the policy let it in.
    platform("POST /api/v1/catalog/imports",
             lambda c, d: Call(f"{CATALOG}/imports", content=b"x", headers={"Content-Type": "text/plain"}), 415),
    # Likewise a finished job is not retried (409): past the policy, refused by the job's state.
    platform("POST /api/v1/catalog/imports/{job_id}/retry",
             lambda c, d: Call(f"{CATALOG}/imports/{c.job()}/retry"), 409),
    platform("GET /api/v1/catalog/imports/{job_id}", lambda c, d: Call(f"{CATALOG}/imports/{c.job()}")),
    platform("GET /api/v1/catalog/imports/{job_id}/rejects",
             lambda c, d: Call(f"{CATALOG}/imports/{c.job()}/rejects")),
    # seals: admins manage their department's; only the department's own seal users sign
    Row("POST /api/v1/seals",
        lambda c, d: Call("/api/v1/seals", {"department_credit_code": d.credit_code, "name": "行政审批专用章"}), 201),
    Row("GET /api/v1/seals", lambda c, d: Call(f"/api/v1/seals?department_id={d.id}"), 200),
    Row("GET /api/v1/seals/{es_id}", lambda c, d: Call(f"/api/v1/seals/{c.seal(d)}"), 200),
    Row("POST /api/v1/seals/{es_id}/suspend", lambda c, d: Call(f"/api/v1/seals/{c.seal(d)}/suspend", REASON), 200),
    Row("POST /api/v1/seals/{es_id}/resume",
        lambda c, d: Call(f"/api/v1/seals/{c.seal(d, suspended=True)}/resume", REASON), 200),
    Row("POST /api/v1/seals/{es_id}/revoke", lambda c, d: Call(f"/api/v1/seals/{c.seal(d)}/revoke", REASON), 200),
    Row("POST /api/v1/seals/{es_id}/sign",
        lambda c, d: Call(f"/api/v1/seals/{c.seal(d)}/sign?page=1&x=10&y=10", content=_document(),
                          headers={"Content-Type": "application/ofd"}),
        200, role="seal_user", platform_may=False),
    # OIDC clients: the node's own
    platform("POST /api/v1/identity/clients", lambda c, d: Call("/api/v1/identity/clients", {
        "name": "测试节点", "kind": "node", "grant_types": ["client_credentials"], "scope": "exchange:admin"}), 201),
    platform("GET /api/v1/identity/clients", lambda c, d: Call("/api/v1/identity/clients")),
    platform("GET /api/v1/identity/clients/{client_id}", lambda c, d: Call(f"/api/v1/identity/clients/{c.client()}")),
    platform("PATCH /api/v1/identity/clients/{client_id}",
             lambda c, d: Call(f"/api/v1/identity/clients/{c.client()}", {"name": "新名称"})),
    platform("POST /api/v1/identity/clients/{client_id}/status",
             lambda c, d: Call(f"/api/v1/identity/clients/{c.client()}/status",
                               {"status": "suspended", "reason": "测试"})),
    platform("POST /api/v1/identity/clients/{client_id}/secret",
             lambda c, d: Call(f"/api/v1/identity/clients/{c.client()}/secret")),
    platform("GET /api/v1/identity/clients/{client_id}/logout-deliveries",
             lambda c, d: Call(f"/api/v1/identity/clients/{c.client()}/logout-deliveries")),
    # staff management: admins in their departments; a lost factor is the platform's to reset
    Row("POST /api/v1/identity/staff", lambda c, d: Call("/api/v1/identity/staff", {
        "login_name": "new.clerk", "name": "张三", "department_id": d.id, "roles": ["seal_user"],
        "password": PASSWORD}), 201),
    Row("GET /api/v1/identity/staff", lambda c, d: Call(f"/api/v1/identity/staff?department_id={d.id}"), 200),
    Row("PUT /api/v1/identity/staff/{account_id}/roles",
        lambda c, d: Call(f"/api/v1/identity/staff/{c.staff_in(d)}/roles",
                          {"department_id": d.id, "roles": ["seal_admin"]}), 200),
    Row("POST /api/v1/identity/staff/{account_id}/disable",
        lambda c, d: Call(f"/api/v1/identity/staff/{c.staff_in(d)}/disable", REASON), 200),
    Row("POST /api/v1/identity/staff/{account_id}/mfa-reset",
        lambda c, d: Call(f"/api/v1/identity/staff/{c.staff_in(d, totp=True)}/mfa-reset", REASON),
        200, department_may=False),
    # counter verification: a business act of the clerk's own department
    Row("POST /api/v1/identity/counter-verifications",
        lambda c, d: Call("/api/v1/identity/counter-verifications",
                          dict(zip(("id_number", "name"), c.person(), strict=True), department_id=d.id)),
        200, role="counter", platform_may=False),
    # licenses: issuing seals with the department's seal (its license issuers only); admins manage
    Row("POST /api/v1/licenses", lambda c, d: Call("/api/v1/licenses", {
        "type_code": c.license_type(seal_of=d), "department_credit_code": d.credit_code, "holder_name": "演示用户",
        "holder_code": nth_citizen_id(next(c.numbers)), "face": {"note": "测试"}}), 201,
        role="license_issuer", platform_may=False),
    Row("POST /api/v1/licenses/{license_id}/suspend",
        lambda c, d: Call(f"/api/v1/licenses/{c.license(d)}/suspend", REASON), 200),
    Row("POST /api/v1/licenses/{license_id}/resume", lambda c, d: Call(
        f"/api/v1/licenses/{c.suspended_license(d)}/resume", REASON), 200),
    Row("POST /api/v1/licenses/{license_id}/revoke",
        lambda c, d: Call(f"/api/v1/licenses/{c.license(d)}/revoke", REASON), 200),
    Row("POST /api/v1/licenses/{license_id}/renew",
        lambda c, d: Call(f"/api/v1/licenses/{c.license(d)}/renew", REASON), 201,
        role="license_issuer", platform_may=False),
    platform("POST /api/v1/licenses/status-pushes", lambda c, d: Call("/api/v1/licenses/status-pushes", {
        "identifier": c.license(d), "status": "suspended", "reason": "测试下发"}), 202),
    # per-client grants (用证授权): the platform's decision
    platform("GET /api/v1/licenses/grants", lambda c, d: Call("/api/v1/licenses/grants")),
    platform("POST /api/v1/licenses/grants", lambda c, d: Call("/api/v1/licenses/grants", {
        "client_id": c.department_client(d), "type_code": c.license_type(), "operations": ["query"],
        "purpose": "测试授权"}), 201),
    platform("GET /api/v1/licenses/grants/{grant_id}",
             lambda c, d: Call(f"/api/v1/licenses/grants/{c.license_grant(d)}")),
    platform("GET /api/v1/licenses/grants/{grant_id}/usage",
             lambda c, d: Call(f"/api/v1/licenses/grants/{c.license_grant(d)}/usage")),
    platform("POST /api/v1/licenses/grants/{grant_id}/revoke",
             lambda c, d: Call(f"/api/v1/licenses/grants/{c.license_grant(d)}/revoke", REASON)),
    # abnormal license data: the managers of the department the entry belongs to
    shared("GET /api/v1/licenses/abnormal", lambda c, d: Call("/api/v1/licenses/abnormal")),
    Row("GET /api/v1/licenses/abnormal/{entry_id}",
        lambda c, d: Call(f"/api/v1/licenses/abnormal/{c.abnormal(d)}"), 200),
    Row("POST /api/v1/licenses/abnormal/{entry_id}/resubmit",
        lambda c, d: Call(f"/api/v1/licenses/abnormal/{c.abnormal(d)}/resubmit", {}), 200),
    Row("POST /api/v1/licenses/abnormal/{entry_id}/dismiss",
        lambda c, d: Call(f"/api/v1/licenses/abnormal/{c.abnormal(d)}/dismiss", REASON), 200),
    # cases: handled by the item's department (its case handlers and administrators)
    Row("POST /api/v1/cases/{case_no}/actions",
        lambda c, d: Call(f"/api/v1/cases/{c.case(d)}/actions", {"action": "accept", "opinion": "受理"}), 200,
        role="case_handler", platform_may=False),
    # department systems' case webhooks: the platform administrator registers endpoints and replays
    platform("POST /api/v1/department-systems/webhooks", lambda c, d: Call(
        "/api/v1/department-systems/webhooks",
        {"client_id": c.department_client(d), "url": "https://approvals.example.gov.cn/hooks"}), 201),
    platform("GET /api/v1/department-systems/webhooks/deliveries",
             lambda c, d: Call("/api/v1/department-systems/webhooks/deliveries")),
    platform("POST /api/v1/department-systems/webhooks/deliveries/{delivery_id}/replay",
             lambda c, d: Call(f"/api/v1/department-systems/webhooks/deliveries/{c.delivery(d)}/replay")),
    # exchange operators (machine clients with exchange:admin are tested in tests/exchange)
    platform("GET /api/v1/exchange/status", lambda c, d: Call("/api/v1/exchange/status")),
    # connection progress (应上尽上): the JSON API, the page and its workbook
    platform("GET /api/v1/exchange/progress", lambda c, d: Call("/api/v1/exchange/progress")),
    platform("GET /exchange/progress", lambda c, d: Call("/exchange/progress")),
    platform("GET /exchange/progress.xlsx", lambda c, d: Call("/exchange/progress.xlsx")),
    # operations: statuses of lower nodes
    platform("GET /api/v1/ops/nodes", lambda c, d: Call("/api/v1/ops/nodes")),
    platform("GET /ops", lambda c, d: Call("/ops")),
    platform("GET /api/v1/exchange/feedback", lambda c, d: Call("/api/v1/exchange/feedback")),
    platform("GET /api/v1/exchange/applied", lambda c, d: Call("/api/v1/exchange/applied")),
    platform("POST /api/v1/exchange/feedback/{feedback_id}/resend",
             lambda c, d: Call(f"/api/v1/exchange/feedback/{c.feedback()}/resend")),
    # security events: the security administrator only (三员: not the platform administrator)
    Row("GET /api/v1/security/events", lambda c, d: Call("/api/v1/security/events"), 200,
        role="security_admin", department=False, platform_may=False),
    # the audit change log: the audit administrator only (三员)
    Row("GET /api/v1/security/audit/changes", lambda c, d: Call("/api/v1/security/audit/changes"), 200,
        role="audit_admin", department=False, platform_may=False),
    # national security notices: handled by the security administrator only
    Row("GET /api/v1/security/notices", lambda c, d: Call("/api/v1/security/notices"), 200,
        role="security_admin", department=False, platform_may=False),
    Row("GET /api/v1/security/notices/{notice_id}", lambda c, d: Call(f"/api/v1/security/notices/{c.notice()}"),
        200, role="security_admin", department=False, platform_may=False),
    Row("POST /api/v1/security/notices/{notice_id}/assign",
        lambda c, d: Call(f"/api/v1/security/notices/{c.notice()}/assign", {"assignee": c.staff_login()}),
        200, role="security_admin", department=False, platform_may=False),
    Row("POST /api/v1/security/notices/{notice_id}/ack",
        lambda c, d: Call(f"/api/v1/security/notices/{c.notice('assigned')}/ack"),
        200, role="security_admin", department=False, platform_may=False),
    Row("POST /api/v1/security/notices/{notice_id}/close",
        lambda c, d: Call(f"/api/v1/security/notices/{c.notice('acknowledged')}/close", {"note": "已处置"}),
        200, role="security_admin", department=False, platform_may=False),
    # the portal's notices, columns and style (sent down to lower nodes): the platform administrator
    platform("GET /api/v1/portal/notices", lambda c, d: Call("/api/v1/portal/notices")),
    platform("POST /api/v1/portal/notices",
             lambda c, d: Call("/api/v1/portal/notices", {"title": "测试通知", "body": "正文"}), 201),
    platform("PUT /api/v1/portal/notices/{notice_id}",
             lambda c, d: Call(f"/api/v1/portal/notices/{c.portal_notice()}", {"title": "改", "body": "正文"})),
    platform("POST /api/v1/portal/notices/{notice_id}/withdraw",
             lambda c, d: Call(f"/api/v1/portal/notices/{c.portal_notice()}/withdraw")),
    platform("GET /api/v1/portal/style", lambda c, d: Call("/api/v1/portal/style")),
    platform("POST /api/v1/portal/style/offer", lambda c, d: Call("/api/v1/portal/style/offer")),
    platform("POST /api/v1/portal/style/adopt", lambda c, d: Call("/api/v1/portal/style/adopt", {"origin": None})),
    # the registered department apps of the mobile front end: platform (and identity) administrators
    platform("GET /api/v1/portal/apps", lambda c, d: Call("/api/v1/portal/apps")),
    platform("POST /api/v1/portal/apps", lambda c, d: Call("/api/v1/portal/apps", {
        "name": "测试应用", "entry_url": "https://app.example.gov.cn/sso", "client_id": c.app_client()}), 201),
    platform("PUT /api/v1/portal/apps/{app_id}", lambda c, d: Call(f"/api/v1/portal/apps/{c.portal_app()}", {
        "name": "改名应用", "entry_url": "https://app.example.gov.cn/sso", "client_id": c.app_client()})),
    platform("POST /api/v1/portal/apps/{app_id}/withdraw",
             lambda c, d: Call(f"/api/v1/portal/apps/{c.portal_app()}/withdraw")),
]  # fmt: skip


@pytest.mark.parametrize("row", ROWS, ids=[r.route for r in ROWS])
def test_matrix(app: Any, client: Any, session: Session, world: World, row: Row) -> None:
    ctx = Ctx(app, session, world)
    kit.make_basic(session)  # the published basic entry the items implement
    if "/api/v1/seals" in row.route or "/api/v1/licenses" in row.route:
        # Once, before the principals' savepoints: a seal or a license needs the node PKI, and making it
        # inside each principal's rolled-back savepoint made it anew for every one of them.
        init_pki(session, node_of(app).settings)
    session.flush()
    method = row.route.split(" ", 1)[0]
    seen: dict[str, int] = {}
    wanted: dict[str, int] = {}
    for principal, on in world.principals([row.role]):
        cell = f"{principal.label} on {on or '-'}"
        savepoint = session.begin_nested()
        session.connection()  # the SAVEPOINT now, before the app's own (they share the connection)
        try:
            call = row.call(ctx, world.b if on == "B" else world.a)
            answer = as_(client, principal.token).request(
                method, call.url, json=call.json, content=call.content, headers=call.headers
            )
        finally:
            savepoint.rollback()
        seen[cell] = answer.status_code
        wanted[cell] = row.expect(principal, on)
    assert seen == wanted


def test_every_staff_route_has_a_row(app: Any) -> None:
    staff = {r for r, kind in routes(app).items() if kind in ("staff", "staff-or-machine")}
    assert staff == {r.route for r in ROWS}

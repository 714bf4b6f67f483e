"""The reference department system (examples/department-system) on its own: it verifies what the node's
signer produces (both schemes), refuses forged, stale and unknown-scheme messages, processes a webhook-id
once whether it came by push, retry or pull, and keeps its pages behind the node's sign-on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from department_system import signatures
from department_system.app import create_app
from department_system.config import Config
from department_system.node import Answer, Node
from department_system.store import Store
from zhengwu.cases.webhooks import signing

SECRET = signing.new_secret()
NOW = 1_800_000_000


def _event(kind: str, status: str, stamp: str, case_no: str = "13000020261206000001") -> dict[str, Any]:
    return {"type": kind, "schema_version": "1", "timestamp": stamp,
            "data": {"case_no": case_no, "task_code": "T1", "status": status, "actor": "account:x"}}  # fmt: skip


def _signed(
    body: bytes, msg_id: str = "msg_1", stamp: int = NOW, schemes: tuple[str, ...] = ("v1", "v1sm3")
) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": signing.sign(SECRET, msg_id, stamp, body, schemes)}  # fmt: skip


@pytest.mark.parametrize("scheme", ["v1", "v1sm3"])
def test_the_node_signature_verifies_with_either_scheme(scheme: str) -> None:
    body = json.dumps(_event("case.submitted", "submitted", "2026-12-06T01:00:00Z")).encode()
    headers = _signed(body, schemes=(scheme,))
    assert signatures.verify(SECRET, headers, body, now=NOW) == ("msg_1", scheme)
    assert signatures.verify(SECRET, headers, body, now=NOW, schemes=(scheme,)) == ("msg_1", scheme)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda h, b: (h, b + b" "), "no signature"),  # one byte of the body changed
        (lambda h, b: ({**h, "webhook-id": "msg_2"}, b), "no signature"),  # the id is signed too
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW - 301)}, b), "tolerance"),  # a stale replay
        (lambda h, b: ({**h, "webhook-timestamp": str(NOW + 301)}, b), "tolerance"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
    ],
)
def test_forged_or_stale_messages_are_refused(change: Any, reason: str) -> None:
    body = b'{"type":"case.submitted"}'
    headers, sent = change(_signed(body), body)
    with pytest.raises(signatures.Refused, match=reason):
        signatures.verify(SECRET, headers, sent, now=NOW)


def test_a_scheme_the_system_does_not_accept_is_not_enough() -> None:
    body = b"{}"
    with pytest.raises(signatures.Refused):
        signatures.verify(SECRET, _signed(body, schemes=("v1",)), body, now=NOW, schemes=("v1sm3",))
    with pytest.raises(signatures.Refused):
        signatures.verify(signing.new_secret(), _signed(body), body, now=NOW)


class _Feed(Node):
    """The node's pull feed, canned; nothing else of the node is reached."""

    def __init__(self, config: Config, pages: list[list[dict[str, Any]]]) -> None:
        super().__init__(config)
        self.pages = pages
        self.asked: list[int] = []

    def events(self, after: int, limit: int = 100) -> Answer:
        self.asked.append(after)
        page = self.pages.pop(0) if self.pages else []
        return Answer(200, {"events": page, "next_cursor": page[-1]["cursor"] if page else after})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(node_url="http://node.invalid", client_id="c1", client_secret="s", base_url="http://rp.invalid",
                  webhook_secret=SECRET, database=str(tmp_path / "rp.db"))  # fmt: skip


def test_webhooks_are_stored_once_per_id_and_pull_adds_only_what_was_missed(config: Config) -> None:
    first = _event("case.submitted", "submitted", "2026-12-06T01:00:00.000001Z")
    second = _event("case.accepted", "accepted", "2026-12-06T01:05:00.000001Z")
    node = _Feed(
        config,
        [[{"cursor": 1, "webhook_id": "msg_1", **first}, {"cursor": 2, "webhook_id": "msg_2", **second}]],
    )
    store = Store(config.database)
    app = create_app(config, node=node, store=store, clock=lambda: NOW)
    with TestClient(app) as web:
        body = json.dumps(first).encode()
        got = web.post("/webhooks", content=body, headers=_signed(body))
        assert got.status_code == 200 and got.json()["duplicate"] is False
        again = web.post("/webhooks", content=body, headers=_signed(body))  # the node's retry or replay
        assert again.status_code == 200 and again.json()["duplicate"] is True
        forged = web.post("/webhooks", content=body, headers={**_signed(body), "webhook-id": "msg_9"})
        assert forged.status_code == 401
        stale = web.post("/webhooks", content=body, headers=_signed(body, "msg_8", NOW - 3600))
        assert stale.status_code == 401
        huge = b" " * (300 * 1024)
        assert web.post("/webhooks", content=huge, headers=_signed(huge, "msg_6")).status_code == 413
        future = json.dumps({**first, "schema_version": "2"}).encode()
        assert web.post("/webhooks", content=future, headers=_signed(future, "msg_7")).status_code == 422
    assert [r["webhook_id"] for r in store.query("SELECT webhook_id FROM events")] == ["msg_1"]
    assert app.state.catch_up() == (2, 1)  # msg_1 was pushed already; msg_2 is new
    assert store.cursor() == 2 and node.asked == [0, 2]
    assert [dict(r) for r in store.query("SELECT webhook_id, via, cursor FROM events ORDER BY cursor")] == [
        {"webhook_id": "msg_1", "via": "push", "cursor": 1},
        {"webhook_id": "msg_2", "via": "pull", "cursor": 2},
    ]
    assert [r["status"] for r in store.queue()] == ["accepted"]


def test_an_older_event_arriving_late_does_not_undo_a_newer_status(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "rp.db"))
    store.record_event(
        "msg_2", _event("case.accepted", "accepted", "2026-12-06T01:05:00.000001Z"), via="push"
    )
    store.record_event(
        "msg_1", _event("case.submitted", "submitted", "2026-12-06T01:00:00.000001Z"), via="push"
    )
    assert [r["status"] for r in store.queue()] == ["accepted"]


def test_pages_need_the_node_sign_on_and_forms_their_token(config: Config) -> None:
    app = create_app(config, node=Node(config), store=Store(config.database))
    with TestClient(app) as web:
        home = web.get("/")
        assert home.status_code == 200 and "使用政务服务平台账号登录" in home.text
        assert web.get("/cases/1300", follow_redirects=False).status_code == 303
        assert web.post("/cases/1300/actions", data={"action": "accept"}).status_code == 403
        lost = web.get("/callback", params={"state": "forged", "code": "x"})
        assert lost.status_code == 400 and "登录请求已失效" in lost.text
        token = Store(config.database).open_session("sub-1", "sid-1", "办件人员", "id.token.x")
        web.cookies.set("deptsys_session", token)
        no_csrf = web.post("/cases/1300/actions", data={"action": "accept", "action_key": "k"})
        assert no_csrf.status_code == 403 and "请求已失效" in no_csrf.text


class _Cases(Node):
    """The node's case API, canned: one case as the node shows it; the calls made are kept."""

    def __init__(self, config: Config, case: dict[str, Any], answer: Answer) -> None:
        super().__init__(config)
        self.shown = case
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def case(self, case_no: str) -> Answer:
        return Answer(200, self.shown)

    def act(self, case_no: str, body: dict[str, Any], idempotency_key: str) -> Answer:
        self.calls.append((case_no, body, idempotency_key))
        return self.answer

    def license_types(self) -> list[dict[str, Any]]:
        return []


def _case(allowed: list[str]) -> dict[str, Any]:
    return {"case_no": "C1", "task_name": "建筑施工特种作业人员操作资格认定", "applicant_name": "演示用户",
            "status": "joint_review", "status_label": "联办征求意见中", "step": "审查", "deadline": None,
            "form": {}, "materials": [{"material_id": "m1", "name": "申请表", "kind": "upload"}], "result": None,
            "joint": {"asked": "请出具消防意见"}, "allowed_actions": allowed}  # fmt: skip


def _clerk(web: TestClient, config: Config) -> str:
    store = Store(config.database)
    token = store.open_session("sub-1", "sid-1", "办件人员", "id.token.x")
    web.cookies.set("deptsys_session", token)
    return str(store.session(token)["csrf"])  # type: ignore[index]


def test_a_joint_opinion_is_given_for_the_configured_department_with_the_form_key(config: Config) -> None:
    from dataclasses import replace

    configured = replace(config, department="11130000000000001X")
    node = _Cases(configured, _case(["give_opinion"]), Answer(200, {}))
    with TestClient(create_app(configured, node=node, store=Store(configured.database))) as web:
        csrf = _clerk(web, configured)
        page = web.get("/cases/C1")
        assert (
            "请出具消防意见" in page.text
            and 'value="give_opinion"' in page.text
            and "受理</button>" not in page.text
        )
        form = {"csrf_token": csrf, "action_key": "k-1", "action": "give_opinion", "verdict": "refuse",
                "opinion": "消防通道不符合要求"}  # fmt: skip
        done = web.post("/cases/C1/actions", data=form, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/cases/C1?done=give_opinion"
    assert node.calls == [("C1", {"action": "give_opinion", "opinion": "消防通道不符合要求",
                                  "department": "11130000000000001X", "verdict": "refuse"}, "k-1")]  # fmt: skip


def test_the_node_refusal_is_shown_and_the_typing_kept(config: Config) -> None:
    refusal = Answer(409, {"detail": "当前状态不能办理该操作", "allowed": ["conclude"]})
    node = _Cases(config, _case(["request_supplement"]), refusal)
    store = Store(config.database)
    with TestClient(create_app(config, node=node, store=store)) as web:
        csrf = _clerk(web, config)
        form = {"csrf_token": csrf, "action_key": "k-2", "action": "request_supplement", "materials": "m1",
                "opinion": "申请表未签名"}  # fmt: skip
        shown = web.post("/cases/C1/actions", data=form)
        assert shown.status_code == 409
        assert "当前状态不能办理该操作" in shown.text and 'value="申请表未签名"' in shown.text
    assert node.calls[0][1]["materials"] == ["m1"] and node.calls[0][2] == "k-2"
    assert [(r["action"], r["http_status"], r["clerk_name"]) for r in store.actions_of("C1")] == [
        ("request_supplement", 409, "办件人员")
    ]


@pytest.mark.parametrize(
    ("action", "button"), [("accept_step", "接收本环节"), ("complete_step", "完成本环节")]
)
def test_a_joint_step_is_accepted_and_completed_from_the_case_page(
    config: Config, action: str, button: str
) -> None:
    # Another department's case at this department's 联办 step: the node says which step action is due.
    node = _Cases(config, {**_case([action]), "status": "in_process", "status_label": "办理中", "joint": None,
                           "step": "水利审查（河北省水利厅）"}, Answer(200, {}))  # fmt: skip
    with TestClient(create_app(config, node=node, store=Store(config.database))) as web:
        csrf = _clerk(web, config)
        page = web.get("/cases/C1")
        assert f'value="{action}"' in page.text and f"{button}</button>" in page.text
        assert "水利审查（河北省水利厅）" in page.text and "受理</button>" not in page.text
        form = {"csrf_token": csrf, "action_key": "k-3", "action": action, "opinion": "材料已核"}
        done = web.post("/cases/C1/actions", data=form, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/cases/C1?done={action}"
        assert f"已提交“{button}”" in web.get(done.headers["location"]).text
    assert node.calls == [("C1", {"action": action, "opinion": "材料已核"}, "k-3")]

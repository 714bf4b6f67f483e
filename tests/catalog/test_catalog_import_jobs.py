"""Catalog import over HTTP: 202 + Location, progress, the summary and the refused rows (conventions §10).

The job runs on a thread of the node, so the node here has a database of its own and commits for real.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from catalog_kit import guide, make_basic, make_department
from dbkit import live_app, migrated_database, served
from zhengwu.catalog.jobs import IMPORT_RUNNER
from zhengwu.catalog.models import BasicItem
from zhengwu.kernel.node import node_of

pytestmark = pytest.mark.db

IMPORTS = "/api/v1/catalog/imports"
SERIALS = itertools.count(41, 3)


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of this module's own."""
    yield from migrated_database(tmp_path_factory, role="catalog_jobs")


@dataclass
class Live:
    client: Any
    admin: str
    clerk: str
    city: str
    county: str


@pytest.fixture
def live(live_url: str, tmp_path: Path) -> Iterator[Live]:
    """A node with the basic catalog, two bodies, a platform administrator and a department admin."""
    from zhengwu.identity import service as identity
    from zhengwu.identity.context import for_node
    from zhengwu.identity.deps import cookie_name

    app = live_app(live_url, tmp_path / "data")
    suffix = tmp_path.name[-12:]
    with node_of(app).session_factory() as db:
        if db.scalar(select(func.count()).select_from(BasicItem)) == 0:
            make_basic(db)  # once for the module's database
        serial = next(SERIALS)
        city = make_department(db, "130100", f"石家庄市公安局{suffix}", serial)
        county = make_department(db, "130123", f"正定县公安局{suffix}", serial + 1)
        office = make_department(db, "130000", f"河北省政务服务管理办公室{suffix}", serial + 2)
        tokens = []
        for login, dept, role in ((f"pa{suffix}", office, "platform_admin"), (f"da{suffix}", city, "admin")):
            staff = identity.register_staff(
                db,
                name="测试管理员",
                login_name=login,
                password="Staff-Passw0rd!x",
                department_id=dept.id,
                roles=[role],
            )
            # Staff sessions passed the second factor (identity.policy).
            tokens.append(identity.start_session(db, staff, amr=["pwd", "otp"]).token)
        db.commit()
        codes = (city.credit_code, county.credit_code)
    try:
        with served(app) as client:
            client.cookies.set(cookie_name(for_node(node_of(app))), tokens[0])
            yield Live(client, tokens[0], tokens[1], *codes)
    finally:
        node_of(app).services.provide(IMPORT_RUNNER).close()


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    ).encode()


def _wait(client: Any, location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(location).json()
        if job["status"] in ("done", "failed", "interrupted"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("the import job did not finish")


def test_an_upload_is_imported_in_the_background_with_its_refused_rows(live: Live) -> None:
    body = _jsonl([guide(live.city), guide(live.county), guide(live.city, use_level="9"), "{not json"])
    started = live.client.post(
        IMPORTS,
        params={"filename": "公安事项.jsonl"},
        content=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location.startswith(IMPORTS + "/") and started.json()["status"] in ("queued", "running", "done")
    job = _wait(live.client, location)
    assert job["status"] == "done", job
    assert job["summary"]["inserted"] == 2 and job["summary"]["rejected_rows"] == 2
    assert {r["row"] for r in job["rejects"]} == {3, 4} and all(
        not r["reason"].isascii() for r in job["rejects"]
    )
    csv = live.client.get(f"{location}/rejects")
    assert csv.status_code == 200 and csv.content.startswith("\ufeff位置".encode())
    assert csv.text.count("\n") == 1 + len(job["rejects"])


def test_unusable_uploads_are_refused_at_once_and_nothing_is_queued(live: Live) -> None:
    garbage = live.client.post(
        IMPORTS, content=b"%PDF-1.7", headers={"Content-Type": "application/octet-stream"}
    )
    assert garbage.status_code == 422 and garbage.json()["code"] == "catalog.import_refused"
    wrong = live.client.post(IMPORTS, content=b"{}", headers={"Content-Type": "text/csv"})
    assert wrong.status_code == 415 and wrong.json()["code"] == "catalog.import_unsupported_type"
    assert live.client.get(f"{IMPORTS}/{'0' * 32}").status_code == 404


def test_only_platform_administrators_import(live: Live) -> None:
    from zhengwu.identity.context import for_node
    from zhengwu.identity.deps import cookie_name

    live.client.cookies.set(cookie_name(for_node(node_of(live.client.app))), live.clerk)
    refused = live.client.post(
        IMPORTS, content=_jsonl([guide(live.city)]), headers={"Content-Type": "application/x-ndjson"}
    )
    assert refused.status_code == 403


def _orphan(live: Live, body: bytes, *, owner: str, beat_ago: timedelta, actor: str | None = None) -> str:
    """A job row as a process on this database left it (its file stored under the upload's digest)."""
    from zhengwu.catalog.models import ImportJob
    from zhengwu.kernel.clock import utcnow

    app = live.client.app
    folder = Path(node_of(app).settings.data_dir) / "catalog-imports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(body).hexdigest()}.jsonl"
    path.write_bytes(body)
    with node_of(app).session_factory() as db:
        if actor is None:
            actor = db.scalars(select(ImportJob.actor).order_by(ImportJob.created_at.desc())).first() or "x"
        job = ImportJob(
            actor=actor,
            filename="orphan.jsonl",
            size=len(body),
            publish=False,
            file_path=str(path),
            status="running",
            owner=owner,
            started_at=utcnow() - beat_ago,
            heartbeat_at=utcnow() - beat_ago,
        )
        db.add(job)
        db.commit()
        return job.id


def _post(live: Live, body: bytes) -> Any:
    return live.client.post(IMPORTS, content=body, headers={"Content-Type": "application/x-ndjson"})


def test_jobs_orphaned_by_a_crash_are_marked_at_start_up_and_a_retry_runs(live: Live) -> None:
    from fastapi.testclient import TestClient

    dead = _orphan(
        live, _jsonl([guide(live.city)]), owner="gone-host:4242:dead", beat_ago=timedelta(minutes=10)
    )
    alive = _orphan(
        live, _jsonl([guide(live.county)]), owner="other-host:7:live", beat_ago=timedelta(seconds=1)
    )
    with TestClient(live.client.app, raise_server_exceptions=False) as restarted:  # the node starts again
        restarted.cookies.set(*next(iter(live.client.cookies.items())))
        job = restarted.get(f"{IMPORTS}/{dead}").json()
        assert job["status"] == "interrupted" and "导入进程已停止" in job["error"]
        assert restarted.get(f"{IMPORTS}/{alive}").json()["status"] == "running"  # another live process's
        retried = restarted.post(f"{IMPORTS}/{dead}/retry")
        assert retried.status_code == 202 and retried.json()["id"] != dead
        done = _wait(restarted, retried.headers["location"])
        assert done["status"] == "done" and done["summary"]["inserted"] == 1, done
        refused = restarted.post(f"{IMPORTS}/{alive}/retry")
        assert refused.status_code == 409 and refused.json()["code"] == "catalog.import_not_retryable"


def test_uploading_the_file_of_a_dead_job_again_starts_a_new_one(live: Live) -> None:
    first = _post(live, _jsonl([guide(live.city)]))
    assert _wait(live.client, first.headers["location"])["status"] == "done"
    body = _jsonl([guide(live.county)])
    dead = _orphan(live, body, owner="gone-host:4243:dead", beat_ago=timedelta(minutes=3))
    again = _post(live, body)
    assert again.status_code == 202 and again.json()["id"] != dead, (
        "the dead job must not stand for the upload"
    )
    assert _wait(live.client, again.headers["location"])["status"] == "done"
    assert live.client.get(f"{IMPORTS}/{dead}").json()["status"] == "interrupted"

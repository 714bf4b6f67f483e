"""导入任务 — catalog files uploaded over HTTP and imported in the background (conventions §10).

``POST /api/v1/catalog/imports`` stores the upload, checks that it is a readable JSON lines or XLSX file,
and answers ``202 Accepted`` with the ``Location`` of the job; ``GET`` on that location reports progress,
then the summary and the first refused rows (``/rejects`` gives all of them as CSV while they are kept).
The import itself is the CLI's (same validation, chunked commits, rejects report), run on one thread per
process so that two large imports never compete for the write lock. Each job records the process that
owns it, which refreshes its heartbeat while it is queued or running; a job whose owner stopped beating
(the process crashed or was killed) is marked interrupted, with the reason, when a node starts and
whenever an upload or a retry comes in, so that several processes on one database never take over a job
of a live one. The chunks committed before stay; ``POST .../{id}/retry`` runs an interrupted job's file
again, and uploading the same file again starts a new job unless a live one is queued or running for it.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import socket
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Lifespan

from zhengwu.catalog.access import Staff
from zhengwu.catalog.importexport import ImportOptions, Reject, RejectWriter, detect, import_file
from zhengwu.catalog.models import ImportJob
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import new_id
from zhengwu.kernel.errors import Conflict, DomainError, NotFound
from zhengwu.kernel.limits import MiB, body_limit
from zhengwu.kernel.logging import error_origin, get_logger
from zhengwu.kernel.node import Node, ServiceKey, node_of
from zhengwu.kernel.openapi import errors
from zhengwu.kernel.session import DbSession, unit_of_work

log = get_logger("zhengwu.catalog.jobs")

MAX_UPLOAD_BYTES: Final = 512 * MiB
KEPT_REJECTS: Final = 1000
HEARTBEAT: Final = timedelta(seconds=5)
STALE: Final = timedelta(minutes=2)
ORPHANED: Final = "导入进程已停止（节点重启或异常退出），已提交的批次保留；请重试该任务或重新上传文件"
TYPES: Final = {
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/json": ".jsonl",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/octet-stream": "",
}

router = APIRouter(prefix="/api/v1/catalog/imports", tags=["catalog 事项管理"])


class UnsupportedUpload(DomainError):
    """The upload is neither JSON lines nor XLSX."""

    status_code = 415
    code = "catalog.import_unsupported_type"
    default_detail = "请以 JSON lines（application/x-ndjson）或 XLSX 上传"


class JobNotFound(NotFound):
    """No such import job."""

    code = "catalog.import_job_not_found"
    default_detail = "导入任务不存在"


class ImportFileGone(Conflict):
    """The interrupted job's file is no longer on the node."""

    code = "catalog.import_file_gone"
    default_detail = "原上传文件已不在本节点，请重新上传"


class NotRetryable(Conflict):
    """Only an interrupted job can be retried."""

    code = "catalog.import_not_retryable"
    default_detail = "只有被中断的导入任务可以重试"


def _process_id() -> str:
    # Host and pid name the process for operators; the nonce tells a restarted process with a reused
    # pid from its predecessor.
    return f"{socket.gethostname()[:50]}:{os.getpid()}:{secrets.token_hex(4)}"


def mark_orphans(db: Session, *, now: datetime | None = None) -> int:
    """Mark the queued or running jobs whose owner stopped beating as interrupted; returns how many.

    A job owned by a live process (of this node or another on the same database) has a fresh heartbeat
    and is left alone; jobs from before owners were recorded count by their heartbeat or creation time.
    """
    now = now or utcnow()
    last_sign = func.coalesce(ImportJob.heartbeat_at, ImportJob.started_at, ImportJob.created_at)
    result = db.execute(
        update(ImportJob)
        .where(ImportJob.status.in_(("queued", "running")), last_sign < now - STALE)
        .values(status="interrupted", error=ORPHANED, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        log.warning("catalog_import_jobs_orphaned", count=count)
    return count


class ImportRunner:
    """Runs import jobs one at a time on a thread of this process, beating for the jobs it owns."""

    def __init__(self, session_factory: Callable[[], sessionmaker[Session]]) -> None:
        self._factory = session_factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-import")
        self.owner = _process_id()

    def submit(self, job_id: str) -> None:
        """Queue a job of this runner (it starts when the previous one has finished)."""
        self._executor.submit(self.run, job_id)

    def beat(self, running: str | None = None, progress: int = 0) -> None:
        """Refresh the heartbeat of every unfinished job this process owns (and the running one's progress)."""
        now = utcnow()
        with unit_of_work(self._factory()) as db:
            db.execute(
                update(ImportJob)
                .where(ImportJob.owner == self.owner, ImportJob.status.in_(("queued", "running")))
                .values(heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )
            if running is not None:
                db.execute(
                    update(ImportJob)
                    .where(ImportJob.id == running)
                    .values(progress=progress)
                    .execution_options(synchronize_session=False)
                )

    def _beating(self, stop: threading.Event, job_id: str, done: list[int]) -> None:
        while not stop.wait(HEARTBEAT.total_seconds()):
            try:
                self.beat(job_id, done[0])
            except Exception as exc:  # a missed beat is retried; STALE allows many
                log.warning("catalog_import_heartbeat_failed", error_type=type(exc).__name__)

    def run(self, job_id: str) -> None:
        """Import the job's file; the outcome (or the failure) is written to the job."""
        factory = self._factory()
        with unit_of_work(factory) as db:
            job = db.get(ImportJob, job_id)
            if job is None or job.status != "queued" or job.owner != self.owner:
                return
            job.status, job.started_at, job.heartbeat_at = "running", utcnow(), utcnow()
            path, publish, actor = Path(job.file_path), job.publish, job.actor
        rejects: list[dict[str, Any]] = []
        done = [0]  # bytes (JSON lines) or rows (XLSX) read so far
        # Beats on a thread of its own: a long chunk must not make a live job look orphaned.
        stop = threading.Event()
        beating = threading.Thread(
            target=self._beating, args=(stop, job_id, done), name="catalog-import-beat", daemon=True
        )
        beating.start()

        def on_reject(reject: Reject) -> None:
            if len(rejects) < KEPT_REJECTS:
                rejects.append(asdict(reject))

        def progress(position: int) -> None:
            done[0] = int(position)

        outcome: dict[str, Any]
        try:
            report = import_file(
                factory,
                path,
                options=ImportOptions(publish=publish, actor=actor, workers=0),
                on_reject=on_reject,
                progress=progress,
            )
            outcome = {"status": "done", "summary": report.as_dict(), "progress": path.stat().st_size}
        except DomainError as exc:
            outcome = {"status": "failed", "error": exc.detail[:500], "progress": done[0]}
        except Exception as exc:  # a bug must still end the job, not leave it "running"
            log.error(
                "catalog_import_failed", job=job_id, error_type=type(exc).__name__, origin=error_origin(exc)
            )
            outcome = {
                "status": "failed",
                "error": "导入失败（系统内部错误），已提交的批次保留，请联系运维人员",
                "progress": done[0],
            }
        finally:
            stop.set()
            beating.join()
            path.unlink(missing_ok=True)
        with unit_of_work(factory) as db:
            job = db.get(ImportJob, job_id)
            if job is not None:
                for name, value in outcome.items():
                    setattr(job, name, value)
                job.rejects, job.finished_at = rejects, utcnow()
        log.info("catalog_import_job_finished", job=job_id, status=outcome["status"])

    def close(self) -> None:
        """Finish the running job; the runner stays usable (an app started again submits new jobs)."""
        self._executor.shutdown(wait=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-import")


#: The import runner of the node (one per process: imports never compete for the write lock).
IMPORT_RUNNER: ServiceKey[ImportRunner] = ServiceKey("catalog.import_runner")


def runner_of(request: Request) -> ImportRunner:
    """The node's import runner (installed by ``catalog.wiring``)."""
    return node_of(request).services.provide(IMPORT_RUNNER)


def lifespan_hook(inner: Lifespan[Any], node: Node) -> Lifespan[Any]:
    """At start-up mark the jobs orphaned by a stopped process; at shutdown finish the running job."""

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        def recover() -> None:
            with unit_of_work(node.session_factory) as db:
                mark_orphans(db)

        await run_in_threadpool(recover)
        async with inner(application) as inner_state:
            yield inner_state
        await run_in_threadpool(node.services.provide(IMPORT_RUNNER).close)

    return lifespan


def _read(job: ImportJob) -> dict[str, Any]:
    status, error = job.status, job.error
    last_sign = job.heartbeat_at or job.started_at or job.created_at
    if status in ("queued", "running") and utcnow() - last_sign > STALE:
        status, error = "interrupted", ORPHANED  # not marked yet: the next upload or start-up will
    return {
        "id": job.id,
        "status": status,
        "filename": job.filename,
        "size": job.size,
        "publish": job.publish,
        "progress": job.progress,
        "summary": job.summary,
        "rejects": (job.rejects or [])[:100],
        "rejects_total": (job.summary or {}).get("rejects"),
        "error": error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _create(
    db: Session, staff_actor: str, path: Path, digest: str, name: str, publish: bool, owner: str
) -> tuple[ImportJob, bool]:
    """The job of this upload: a live queued/running one for the same file, or a new one."""
    detect(path)  # refuses what cannot be read (size, format, zip bombs) before anything is queued
    mark_orphans(db)  # a job of the same file whose process died must not stand for this upload
    same = db.scalars(
        select(ImportJob).where(
            ImportJob.actor == staff_actor,
            ImportJob.status.in_(("queued", "running")),
            ImportJob.file_path.endswith(f"{digest}{path.suffix}"),
        )
    ).first()
    if same is not None:
        path.unlink(missing_ok=True)
        return same, False
    job = ImportJob(
        actor=staff_actor,
        filename=name[:200],
        size=path.stat().st_size,
        publish=publish,
        file_path=str(path),
        status="queued",
        owner=owner,
        heartbeat_at=utcnow(),
    )
    db.add(job)
    db.flush()
    return job, True


@router.post(
    "",
    status_code=202,
    summary="上传事项文件并导入（异步）",
    responses=errors(415, 422),
    openapi_extra=body_limit(
        MAX_UPLOAD_BYTES,
        requestBody={
            "required": True,
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in TYPES},
        },
    ),
)
async def start_import(
    request: Request,
    staff: Staff,
    session: DbSession,
    publish: Annotated[bool, Query(description="发布导入的事项（版本、上报、检索）")] = False,
    filename: Annotated[str, Query(min_length=1, max_length=200)] = "upload",
) -> JSONResponse:
    """Store the uploaded JSON lines or XLSX file and import it in the background (platform admins)."""
    await run_in_threadpool(staff.ensure_platform)  # a refusal is written to the audit trail
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in TYPES:
        raise UnsupportedUpload(detail_en=f"unsupported type {media_type!r}")
    folder = Path(node_of(request).settings.data_dir) / "catalog-imports"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"upload-{new_id()}.part"
    digest = hashlib.sha256()
    try:
        with partial.open("wb") as handle:
            # The edge (kernel.limits) stops the stream past MAX_UPLOAD_BYTES with a 413.
            async for chunk in request.stream():
                digest.update(chunk)
                handle.write(chunk)
        suffix = TYPES[media_type] or (".xlsx" if filename.lower().endswith(".xlsx") else ".jsonl")
        path = folder / f"{digest.hexdigest()}{suffix}"
        shutil.move(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    runner = runner_of(request)
    job, new = await run_in_threadpool(
        _create, session, staff.actor, path, digest.hexdigest(), filename, publish, runner.owner
    )
    return await _accepted(request, session, job, new)


async def _accepted(request: Request, session: Session, job: ImportJob, new: bool) -> JSONResponse:
    body = _read(job)
    await run_in_threadpool(session.commit)  # the runner reads the job from its own session
    if new:
        runner_of(request).submit(job.id)
    return JSONResponse(body, status_code=202, headers={"Location": f"{router.prefix}/{job.id}"})


def _retry(db: Session, job_id: str, owner: str) -> ImportJob:
    mark_orphans(db)
    job = db.get(ImportJob, job_id)
    if job is None:
        raise JobNotFound()
    if job.status != "interrupted":
        raise NotRetryable(detail_en=f"the job is {job.status}")
    if not Path(job.file_path).is_file():
        raise ImportFileGone()
    again = ImportJob(
        actor=job.actor,
        filename=job.filename,
        size=job.size,
        publish=job.publish,
        file_path=job.file_path,
        status="queued",
        owner=owner,
        heartbeat_at=utcnow(),
    )
    db.add(again)
    db.flush()
    return again


@router.post(
    "/{job_id}/retry",
    status_code=202,
    summary="重试被中断的导入任务",
    responses=errors(409),
)
async def retry_import(request: Request, job_id: str, staff: Staff, session: DbSession) -> JSONResponse:
    """Run an interrupted job's file again as a new job (the chunks committed before stay)."""
    await run_in_threadpool(staff.ensure_platform)  # a refusal is written to the audit trail
    job = await run_in_threadpool(_retry, session, job_id, runner_of(request).owner)
    return await _accepted(request, session, job, True)


@router.get("/{job_id}", summary="导入任务进度与结果")
def get_import(job_id: str, staff: Staff, session: DbSession) -> dict[str, Any]:
    """Progress while running; then the summary and the first refused rows."""
    staff.ensure_platform()
    job = session.get(ImportJob, job_id)
    if job is None:
        raise JobNotFound()
    return _read(job)


@router.get("/{job_id}/rejects", summary="导入被拒行（CSV）", response_class=Response)
def get_rejects(job_id: str, staff: Staff, session: DbSession) -> Response:
    """The refused rows kept for the job (the first thousand) as CSV, UTF-8 with BOM for Excel."""
    staff.ensure_platform()
    job = session.get(ImportJob, job_id)
    if job is None:
        raise JobNotFound()
    buffer = io.StringIO()
    writer = RejectWriter(buffer, as_json=False)
    for reject in job.rejects or []:
        writer.write(Reject(**reject))
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job.id}-rejects.csv"'},
    )

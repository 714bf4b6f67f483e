"""导入任务 — catalog files uploaded over HTTP and imported in the background (conventions §10).

``POST /api/v1/catalog/imports`` stores the upload, checks that it is a readable JSON lines or XLSX file,
and answers ``202 Accepted`` with the ``Location`` of the job; ``GET`` on that location reports progress,
then the summary and the first refused rows (``/rejects`` gives all of them as CSV while they are kept).
The import itself is the CLI's (same validation, chunked commits, rejects report), run on one thread per
process so that two large imports never compete for the write lock. A job whose process stopped is
reported as interrupted (the chunks committed before stay); uploading the same file again while its job
is queued or running answers with that job rather than starting a second one.
"""

from __future__ import annotations

import hashlib
import io
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from zhengwu.catalog.access import Staff
from zhengwu.catalog.errors import ImportRefused
from zhengwu.catalog.importexport import ImportOptions, Reject, RejectWriter, detect, import_file
from zhengwu.catalog.models import ImportJob
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.db import new_id
from zhengwu.kernel.errors import DomainError, NotFound
from zhengwu.kernel.logging import error_origin, get_logger
from zhengwu.kernel.session import DbSession, unit_of_work

log = get_logger("zhengwu.catalog.jobs")

MAX_UPLOAD_BYTES: Final = 512 * 1024 * 1024
KEPT_REJECTS: Final = 1000
HEARTBEAT: Final = timedelta(seconds=5)
STALE: Final = timedelta(minutes=2)
TYPES: Final = {
    "application/x-ndjson": ".jsonl",
    "application/jsonl": ".jsonl",
    "application/json": ".jsonl",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/octet-stream": "",
}

router = APIRouter(prefix="/api/v1/catalog/imports", tags=["catalog 事项管理"])


class JobNotFound(NotFound):
    """No such import job."""

    code = "catalog.import_job_not_found"
    default_detail = "导入任务不存在"


class ImportRunner:
    """Runs import jobs one at a time on a thread of this process."""

    def __init__(self, session_factory: Callable[[], sessionmaker[Session]]) -> None:
        self._factory = session_factory
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-import")

    def submit(self, job_id: str) -> None:
        """Queue a job (it starts when the previous one has finished)."""
        self._executor.submit(self.run, job_id)

    def run(self, job_id: str) -> None:
        """Import the job's file; the outcome (or the failure) is written to the job."""
        factory = self._factory()
        with unit_of_work(factory) as db:
            job = db.get(ImportJob, job_id)
            if job is None or job.status != "queued":
                return
            job.status, job.started_at, job.heartbeat_at = "running", utcnow(), utcnow()
            path, publish, actor = Path(job.file_path), job.publish, job.actor
        rejects: list[dict[str, Any]] = []
        beat = [utcnow()]

        def on_reject(reject: Reject) -> None:
            if len(rejects) < KEPT_REJECTS:
                rejects.append(asdict(reject))

        def progress(done: int) -> None:
            now = utcnow()
            if now - beat[0] >= HEARTBEAT:
                beat[0] = now
                with unit_of_work(factory) as db:
                    running = db.get(ImportJob, job_id)
                    if running is not None:
                        running.progress, running.heartbeat_at = int(done), now

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
            outcome = {"status": "failed", "error": exc.detail[:500]}
        except Exception as exc:  # a bug must still end the job, not leave it "running"
            log.error(
                "catalog_import_failed", job=job_id, error_type=type(exc).__name__, origin=error_origin(exc)
            )
            outcome = {
                "status": "failed",
                "error": "导入失败（系统内部错误），已提交的批次保留，请联系运维人员",
            }
        finally:
            path.unlink(missing_ok=True)
        with unit_of_work(factory) as db:
            job = db.get(ImportJob, job_id)
            if job is not None:
                for name, value in outcome.items():
                    setattr(job, name, value)
                job.rejects, job.finished_at = rejects, utcnow()
        log.info("catalog_import_job_finished", job=job_id, status=outcome["status"])

    def close(self) -> None:
        """Finish the running job and stop."""
        self._executor.shutdown(wait=True)


def runner_of(request: Request) -> ImportRunner:
    """The app's import runner (created on first use)."""
    state = request.app.state
    runner: ImportRunner | None = getattr(state, "catalog_import_runner", None)
    if runner is None:
        runner = state.catalog_import_runner = ImportRunner(lambda: state.session_factory)
    return runner


def _read(job: ImportJob) -> dict[str, Any]:
    status = job.status
    if status == "running" and job.heartbeat_at is not None and utcnow() - job.heartbeat_at > STALE:
        status = "interrupted"  # the process running it stopped; committed chunks stay
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
        "error": job.error,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def _create(
    db: Session, staff_actor: str, path: Path, digest: str, name: str, publish: bool
) -> tuple[ImportJob, bool]:
    """The job of this upload: an existing queued/running one for the same file, or a new one."""
    detect(path)  # refuses what cannot be read (size, format, zip bombs) before anything is queued
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
    )
    db.add(job)
    db.flush()
    return job, True


@router.post("", status_code=202, summary="上传事项文件并导入（异步）")
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
        raise ImportRefused(
            "请以 JSON lines（application/x-ndjson）或 XLSX 上传",
            detail_en=f"unsupported type {media_type!r}",
        )
    folder = Path(request.app.state.settings.data_dir) / "catalog-imports"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"upload-{new_id()}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with partial.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise ImportRefused(
                        f"上传文件超过 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB，请使用命令行导入",
                        detail_en="upload too large; use `zhengwu catalog import`",
                    )
                digest.update(chunk)
                handle.write(chunk)
        suffix = TYPES[media_type] or (".xlsx" if filename.lower().endswith(".xlsx") else ".jsonl")
        path = folder / f"{digest.hexdigest()}{suffix}"
        shutil.move(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    job, new = await run_in_threadpool(
        _create, session, staff.actor, path, digest.hexdigest(), filename, publish
    )
    body = _read(job)
    await run_in_threadpool(session.commit)  # the runner reads the job from its own session
    if new:
        runner_of(request).submit(job.id)
    location = f"{router.prefix}/{job.id}"
    return JSONResponse(body, status_code=202, headers={"Location": location})


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

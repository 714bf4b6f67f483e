"""Case webhook fan-out: deliveries per second from the delivery table to a local receiver, next to the
same signed POSTs sent straight from memory by the same thread pool (issue 12 target: >= 1,000
deliveries/s without loss).

Events are written as the cases service writes them (``record_event``, one delivery per endpoint of the
department); ``deliver_due`` rounds then claim, sign (v1 and v1sm3), POST and record every delivery with
its attempt row. The receiver (stdlib threading HTTP server) counts what arrives, so a lost delivery
shows. The baseline signs and POSTs the same bodies with the same pool and client, without the database.

    .venv/bin/python bench/webhooks.py [--events 500] [--endpoints 2]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, select

from harness import Result, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work


class _Count:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()


def _receiver(counter: _Count) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with counter.lock:
                counter.n += 1
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=2)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-webhooks-"))
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=folder, log_level="WARNING")

    from zhengwu.cases.events import CaseSubmitted
    from zhengwu.cases.webhooks import dispatch, service, signing
    from zhengwu.cases.webhooks.models import WebhookDelivery, WebhookEvent
    from zhengwu.commands.node import open_node
    from zhengwu.identity.oidc.models import OidcClient
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    counter = _Count()
    server, hook = _receiver(counter)
    node = open_node(settings)
    factory = node.session_factory
    with unit_of_work(factory) as session:
        dept = orgs.add_department(session, DepartmentCreate(
            credit_code=government_credit_code("130000", 89), name="河北省住房和城乡建设厅", division_code="130000"))  # fmt: skip
        for n in range(args.endpoints):
            session.add(
                OidcClient(client_id=f"bench{n}", name=f"系统{n}", sector="bench", department_id=dept.id)
            )
            session.flush()
            service.register(session, f"bench{n}", hook, actor="bench")
        for n in range(args.events):
            event = CaseSubmitted(case_id=str(n), case_no=f"BENCH{n:08d}", task_code="T", department_id=dept.id,
                                  status="submitted", actor="bench")  # fmt: skip
            service.record_event(session, event)
    total = args.events * args.endpoints

    client = httpx.Client(timeout=dispatch.TIMEOUT)
    started = time.perf_counter()
    while True:
        if dispatch.deliver_due(factory, client=client, limit=500).attempted == 0:
            break
    ours = Result("deliver_due (claim, sign v1+v1sm3, POST, record)", total, time.perf_counter() - started,
                  unit="deliveries")  # fmt: skip
    with unit_of_work(factory) as session:
        delivered = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
        )
        bodies = [b.encode() for b in session.scalars(select(WebhookEvent.body))]
    assert delivered == total == counter.n, (delivered, total, counter.n)

    secret = signing.new_secret()
    jobs = [(f"msg_{i}", body) for i, body in enumerate(bodies * args.endpoints)]

    def send(job: tuple[str, bytes]) -> int:
        stamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": job[0], "webhook-timestamp": str(stamp),
                   "webhook-signature": signing.sign(secret, job[0], stamp, job[1])}  # fmt: skip
        return client.post(hook, content=job[1], headers=headers).status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=dispatch.PARALLEL) as pool:
        codes = list(pool.map(send, jobs))
    base = Result("signed POSTs from memory, same pool", len(jobs), time.perf_counter() - started,
                  unit="deliveries")  # fmt: skip
    assert codes.count(204) == len(jobs)
    report([ours, base], baseline=base, title=f"{args.events} events x {args.endpoints} endpoints, no loss")
    client.close()
    server.shutdown()
    server.server_close()
    node.close()


if __name__ == "__main__":
    main()

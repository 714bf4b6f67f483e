"""Case webhook fan-out: deliveries per second from the delivery table to a local receiver, next to the
same signed POSTs sent straight from memory by the same thread pool (issue 12 target: >= 1,000
deliveries/s without loss).

Events are written as the cases service writes them (``record_event``, one delivery per endpoint of the
department); ``deliver_due`` rounds then claim, sign (v1 and v1sm3), POST and record every delivery with
its attempt row. The receiver (stdlib threading HTTP server, in its own process) counts what arrives, so
a lost delivery shows. The baseline signs and POSTs the same bodies with the same pool and the worker's
kept-alive transport, without the database; a third line sends them through one ``httpx.Client`` (the
transport before). Each line's CPU per delivery is printed too (steadier than rates on a shared machine).

    .venv/bin/python bench/webhooks.py [--events 500] [--endpoints 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select

from harness import Result, report
from zhengwu.kernel.config import Settings
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.session import unit_of_work

# The receiver runs in its own process, as a department system does: in the bench's process its request
# handling would share the interpreter lock with the sender it is measuring.
_RECEIVER = """
import sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
count, lock = [0], threading.Lock()
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        with lock:
            count[0] += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()
    def do_GET(self):
        body = str(count[0]).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _receiver() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, f"http://127.0.0.1:{int(proc.stdout.readline())}/hooks"


def _received(hook: str) -> int:
    return int(httpx.get(hook).text)


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
    from zhengwu.cases.webhooks.transport import HttpxTransport, KeepAlive, Transport
    from zhengwu.commands.node import open_node
    from zhengwu.identity.oidc.models import OidcClient
    from zhengwu.orgs import service as orgs
    from zhengwu.orgs.schemas import DepartmentCreate
    from zhengwu.seed import government_credit_code

    receiver, hook = _receiver()
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

    hooks = KeepAlive()
    started, cpu = time.perf_counter(), time.process_time()
    while True:
        if dispatch.deliver_due(factory, transport=hooks, limit=500).attempted == 0:
            break
    spent = {"ours": time.process_time() - cpu}
    ours = Result("deliver_due (claim, sign v1+v1sm3, POST, record)", total, time.perf_counter() - started,
                  unit="deliveries")  # fmt: skip
    with unit_of_work(factory) as session:
        delivered = session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
        )
        bodies = [b.encode() for b in session.scalars(select(WebhookEvent.body))]
    received = _received(hook)
    assert delivered == total == received, (delivered, total, received)

    secret = signing.new_secret()
    jobs = [(f"msg_{i}", body) for i, body in enumerate(bodies * args.endpoints)]

    def from_memory(name: str, transport: Transport) -> Result:
        def send(job: tuple[str, bytes]) -> int:
            stamp = int(time.time())
            headers = {"content-type": "application/json", "webhook-id": job[0],
                       "webhook-timestamp": str(stamp), "webhook-signature": signing.sign(secret, job[0], stamp, job[1])}  # fmt: skip
            return transport.post(hook, job[1], headers)

        before = _received(hook)
        started, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=dispatch.PARALLEL) as pool:
            codes = list(pool.map(send, jobs))
        result = Result(name, len(jobs), time.perf_counter() - started, unit="deliveries")
        spent[name] = time.process_time() - cpu
        assert codes.count(204) == len(jobs) and _received(hook) == before + len(jobs)
        return result

    base = from_memory("signed POSTs from memory, same pool and connections", hooks)
    with httpx.Client() as client:
        old = from_memory("the same through one httpx.Client (before)", HttpxTransport(client))
    report(
        [ours, base, old], baseline=base, title=f"{args.events} events x {args.endpoints} endpoints, no loss"
    )
    # The sender's own CPU per delivery (the receiver runs in its own process): steadier than the rates
    # on a shared machine; 1,000,000 / (µs per delivery) is what one free core would send.
    for result, key in ((ours, "ours"), (base, base.name), (old, old.name)):
        per = spent[key] / result.ops * 1e6
        print(f"{result.name}: {per:.0f} µs CPU per delivery (one free core: about {1e6 / per:,.0f}/s)")
    hooks.close()
    receiver.terminate()
    receiver.wait()
    node.close()


if __name__ == "__main__":
    main()

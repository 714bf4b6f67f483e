"""Where one license issuance spends its CPU, stage by stage (issue 11).

Wraps the functions an issuance goes through (by module attribute, where the caller looks them up) and
adds up the CPU of the calling thread (``time.thread_time()``) inside each; the file store runs on a
thread of its own and is timed there. Stages nest: a stage's figure includes the stages under it, which
are printed indented below it. SQL statements are counted per issuance (the BEGIN counted, the COMMIT
not: it is no cursor execute).

    .venv/bin/python bench/licenses_stages.py [--issuances 300]

Used by ``bench/licenses.py --stages N``; run it with ``PYTHONPATH=<checkout>/src`` for another version
(a stage that does not exist in that version is left out of its table).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: (label, depth, "module:attribute" or "module:Class.method"): what to time, in the order printed.
STAGES: tuple[tuple[str, int, str], ...] = (
    ("issue_license (no commit)", 0, "zhengwu.licenses.service:issue_license"),
    ("type (cached)", 1, "zhengwu.licenses.service:issuing_type"),
    ("department read", 1, "zhengwu.orgs.service:get_department"),
    ("department, seal, its certificate (one query)", 1, "zhengwu.seals.service:department_with_seal"),
    ("holder code check", 1, "zhengwu.licenses.holders:check_holder"),
    ("face schema check", 1, "zhengwu.licenses.face:FaceSchema.validate"),
    ("active seal read", 1, "zhengwu.licenses.service:_active_seal"),
    ("serial counter", 1, "zhengwu.licenses.repository:LicenseRepository.next_serial"),
    ("holder code SM4 encrypt", 1, "zhengwu.licenses.service:encrypt_field"),
    ("holder index (HMAC)", 1, "zhengwu.licenses.service:_holder_index"),
    ("both signing identities (one query)", 1, "zhengwu.pki.authority:signing_identities"),
    ("render inputs (face_of)", 1, "zhengwu.licenses.service:face_of"),
    ("offline payload signed", 2, "zhengwu.licenses.offline:make_token"),
    ("license key lookup", 3, "zhengwu.licenses.offline:offline_authority"),
    ("render OFD", 1, "zhengwu.licenses.render:render_license"),
    ("QR PNG", 2, "zhengwu.licenses.render:qr_png"),
    ("OFD writer", 2, "zhengwu.licenses.render:write_ofd"),
    ("seal (sign_document)", 1, "zhengwu.seals.service:sign_document"),
    ("seal certificate read", 2, "zhengwu.seals.service:seal_certificate"),
    ("seal signer lookup", 2, "zhengwu.pki.authority:signer_for_key_id"),
    ("sign_ofd", 2, "zhengwu.seals.service:sign_ofd"),
    ("checks (cert, seal validity)", 3, "zhengwu.seals.ofd.signer:_check_inputs"),
    ("read package back", 3, "zhengwu.seals.ofd.signer:OFDPackage.from_bytes"),
    ("read layout", 3, "zhengwu.seals.ofd.signer:read_layout"),
    ("place stamp", 3, "zhengwu.seals.ofd.signer:_place"),
    ("Signature.xml (SM3 of parts)", 3, "zhengwu.seals.ofd.signer:_signature_xml"),
    ("SES to-be-signed", 3, "zhengwu.seals.ofd.signer:tbs_sign_parts"),
    ("SES SM2 signature", 3, "zhengwu.seals.ofd.signer:sign_tbs"),
    ("TSA token", 3, "zhengwu.pki.tsa:timestamp_token"),
    ("TSA identity lookup", 4, "zhengwu.pki.tsa:signing_identity"),
    ("token DER + SM2", 4, "zhengwu.pki.tsa:issue_token"),
    ("SES assembled", 3, "zhengwu.seals.ofd.signer:assemble_signature"),
    ("zip written", 3, "zhengwu.seals.ofd.container:OFDPackage.to_bytes"),
    ("seal usage row", 2, "zhengwu.seals.repository:SealRepository.add_usage"),
    ("license row INSERT", 1, "zhengwu.licenses.repository:LicenseRepository.insert_license"),
    ("status event INSERT", 1, "zhengwu.licenses.service:_event"),
    ("audit change recorded", 1, "zhengwu.licenses.service:record_change"),
    ("up_lic_data queued", 1, "zhengwu.licenses.topics:emit_change"),
    ("holder code SM4 decrypt", 2, "zhengwu.licenses.topics:decrypt_field"),
    ("wait for the store", 1, "zhengwu.licenses.service:_stored"),
    ("event published", 1, "zhengwu.licenses.service:publish_on"),
    ("commit", 0, "<commit>"),
    ("audit chain linked", 1, "zhengwu.audit.chain:link_pending"),
    ("chain head claimed", 2, "zhengwu.audit.chain:lock"),
    ("ORM flushes, wherever they run", 0, "sqlalchemy.orm.session:Session.flush"),
    ("file store (its own thread)", 0, "zhengwu.kernel.files:FileStore.put"),
)


def _resolve(spec: str) -> tuple[Any, str] | None:
    module_name, _, path = spec.partition(":")
    try:
        owner: Any = importlib.import_module(module_name)
    except ImportError:
        return None
    *parents, attr = path.split(".")
    for name in parents:
        owner = getattr(owner, name, None)
        if owner is None:
            return None
    return (owner, attr) if hasattr(owner, attr) else None


class StageClock:
    """CPU seconds and calls per stage label (thread CPU of the thread that made the call)."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, label: str, seconds: float) -> None:
        self.cpu[label] = self.cpu.get(label, 0.0) + seconds
        self.calls[label] = self.calls.get(label, 0) + 1

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(label, time.thread_time() - start)

        return timed

    @contextmanager
    def installed(self) -> Iterator[list[str]]:
        """Wrap every stage found; yields the labels that were found, restores on exit."""
        undo: list[tuple[Any, str, Any]] = []
        found: list[str] = []
        for label, _depth, spec in STAGES:
            if spec.startswith("<"):
                found.append(label)
                continue
            target = _resolve(spec)
            if target is None:
                continue
            owner, attr = target
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
            if isinstance(original, (staticmethod, classmethod)):
                wrapped: Any = type(original)(self.wrap(label, original.__func__))
            else:
                wrapped = self.wrap(label, original)
            setattr(owner, attr, wrapped)
            undo.append((owner, attr, original))
            found.append(label)
        try:
            yield found
        finally:
            for owner, attr, original in reversed(undo):
                setattr(owner, attr, original)


def measure(issuances: int) -> None:
    """Issue ``issuances`` licenses (after a warm-up) with the stages timed, and print the table."""
    from sqlalchemy import event, select

    from licenses import FACE, build
    from zhengwu.kernel.session import unit_of_work
    from zhengwu.licenses import service
    from zhengwu.orgs.models import Department

    settings, node, _issue, holder = build()
    factory = node.session_factory
    with unit_of_work(factory) as session:
        department = session.scalars(select(Department.id)).one()
        kind = next(t.code for t in service.list_types(session) if t.name == "营业执照")

    def one(clock: StageClock | None) -> None:
        session = factory()
        try:
            service.issue_license(  # looked up now: the wrapped one while installed
                session, settings, type_code=kind, department_id=department,
                holder_name="石家庄演示科技有限公司", holder_code=holder, face=FACE, actor="bench",
            )  # fmt: skip
            start = time.thread_time()
            session.commit()
            if clock is not None:
                clock.add("commit", time.thread_time() - start)
        finally:
            session.close()

    for _ in range(20):
        one(None)
    statements = [0]

    def counted(*_args: Any) -> None:
        statements[0] += 1

    engine = factory.kw["bind"]
    clock = StageClock()
    with clock.installed() as found:
        event.listen(engine, "before_cursor_execute", counted)
        wall = time.perf_counter()
        cpu = time.process_time()
        for _ in range(issuances):
            one(clock)
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        event.remove(engine, "before_cursor_execute", counted)
    node.close()
    per = 1000 / issuances
    print(f"{issuances} issuances, CPU per issuance (process, every thread, wrappers included): "
          f"{cpu * per:.3f} ms; wall {wall * per:.2f} ms")  # fmt: skip
    print(f"SQL statements per issuance (BEGIN counted, COMMIT not): {statements[0] / issuances:.1f}")
    print(f"{'stage':<44} {'ms CPU':>8} {'calls':>6}")
    for label, depth, _spec in STAGES:
        if label not in found or label not in clock.cpu:
            continue
        name = "  " * depth + label
        print(f"{name:<44} {clock.cpu[label] * per:8.3f} {clock.calls[label] / issuances:6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--issuances", type=int, default=300)
    measure(parser.parse_args().issuances)


if __name__ == "__main__":
    main()

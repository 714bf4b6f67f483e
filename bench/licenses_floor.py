"""The floor of one license issuance in this design: its irreducible parts, with this code base's own
building blocks, next to the raw SM2 sign of the same backend (issue 11 asks for >= 0.2x).

What an issuance cannot do without, each timed in a loop of its own (CPU of this process,
``time.process_time()``, the least of ``--rounds`` rounds):

- the offline payload of the 2-D code, signed (one SM2 signature and its JSON);
- the license's OFD: the face laid out, the QR code drawn as a PNG, the package zipped (``render``);
- the seal: Signature.xml over the SM3 of every part, the SES structure signed, a time-stamp token
  written and signed, the sealed package zipped (``seals.ofd.signer.sign_ofd`` with the TSA's
  ``tstoken.issue_token`` called directly: two SM2 signatures);
- the sealed file's SM3, written to a file and fsynced;
- the rows: the issuance's statements (serial bump, the seal and its certificate, the two signing
  certificates, the license, its first status event, the seal's usage, the audit chain's claim, advance
  and record, the outbox row) through the bare ``sqlite3`` driver in one BEGIN IMMEDIATE … COMMIT,
  with the rows an issuance of this node wrote as their values — no SQLAlchemy.

Nothing of the node's own issuance path is left out or stubbed in the parts: the floor is what remains
if every other cost (the ORM and Core layers, lookups, the re-read of the package, the caches' checks)
were free. The sum, against three raw signatures, says how far this design can go.

    .venv/bin/python bench/licenses_floor.py [--calls 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from licenses import build
from zhengwu.kernel.crypto import SM2PrivateKey, SoftwareSigner, sm3
from zhengwu.kernel.pki import CertProfile
from zhengwu.kernel.session import unit_of_work
from zhengwu.licenses import holders, offline, render, service
from zhengwu.licenses.models import License
from zhengwu.pki import authority
from zhengwu.pki.tsa import TSA_POLICY
from zhengwu.pki.tstoken import issue_token, request_for
from zhengwu.seals import service as seals
from zhengwu.seals.ofd.container import OFDPackage
from zhengwu.seals.ofd.signer import sign_ofd
from zhengwu.seals.ses import parse_seal


def least_cpu(fn: Callable[[], object], *, calls: int, rounds: int) -> float:
    """The least, over ``rounds`` rounds of ``calls`` calls, of process CPU seconds per call."""
    fn()
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.process_time() - start) / calls)
    return best


def _row(conn: sqlite3.Connection, table: str) -> dict[str, Any]:
    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid DESC LIMIT 1")
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def _insert(table: str, row: dict[str, Any]) -> str:
    columns = ", ".join(f'"{c}"' for c in row)
    return f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings, node, issue, _holder = build()
    issue()  # a real issuance: makes the license key, and its rows are the templates of the SQL below
    issue_cpu = least_cpu(issue, calls=max(20, args.calls // 5), rounds=args.rounds)
    now = datetime.now(UTC).replace(microsecond=0)
    with unit_of_work(node.session_factory) as session:
        lic = session.scalars(select(License).order_by(License.issued_at.desc())).first()
        assert lic is not None
        kind, schema = service.issuing_type(session, lic.type_code)
        license_key, tsa_key = authority.signing_identities(
            session, settings, offline.PROFILE, CertProfile.TSA
        )
        assert license_key is not None and tsa_key is not None and tsa_key.issuer is not None
        found = seals.first_seal_with_certificate(session, lic.department_id, status=seals.ACTIVE)
        assert found is not None and found[1] is not None and found[1].key_id is not None
        seal_row, cert_row = found
        seal_signer = authority.signer_for_key_id(session, settings, cert_row.key_id)
        assert seal_signer is not None
        seal_der, cert_der, claims = seal_row.der, cert_row.der, service._offline_claims(lic)
        face_values = dict(lic.face)
        identifier, number, holder_name = lic.identifier, lic.number, lic.holder_name
        code_label = holders.label(lic.holder_code_type)
        issuer_name, valid_from, valid_until = lic.issuer_name, lic.valid_from, lic.valid_until
    tsa_issuer, seal_obj = tsa_key.issuer, parse_seal(seal_der)

    def payload() -> str:
        return offline.make_token(session, settings, claims, at=now, identity=license_key)

    def face() -> render.Face:
        return render.Face(
            identifier=identifier, type_name=kind.name, number=number, holder_name=holder_name,
            holder_code_label=code_label, holder_code_masked="9113****0001", fields=schema.fields,
            values=face_values, issuer_name=issuer_name, issued_on=now.date(), valid_from=valid_from,
            valid_until=valid_until, verify_url=f"{settings.public_url}/licenses/verify#{payload()}",
        )  # fmt: skip

    shown = face()
    unsigned = render.render_license(shown)

    def timestamp(value: bytes) -> bytes:
        request = request_for(sm3(value), nonce=secrets.randbits(64))
        return issue_token(request, tsa_certificate=tsa_key.certificate, signer=tsa_key.signer,
                           gen_time=now, policy=TSA_POLICY, chain=[tsa_issuer])  # fmt: skip

    def seal(data: bytes) -> bytes:
        return sign_ofd(data, seal=seal_obj, signer=seal_signer, cert_der=cert_der, page=1,
                        x=render.SEAL_X_MM, y=render.SEAL_Y_MM, timestamp_provider=timestamp, signed_at=now)  # fmt: skip

    signed = seal(unsigned)
    folder = Path(tempfile.mkdtemp(prefix="zw-bench-floor-"))

    def store() -> None:
        digest = sm3(signed).hex()
        path = folder / f"{digest}.{secrets.token_hex(4)}"
        with open(path, "wb") as fh:
            fh.write(signed)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()

    # The rows, through the bare driver on the node's own database file (WAL, its indexes and checks).
    conn = sqlite3.connect(str(settings.data_dir / "node.db"), isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    templates = {
        t: _row(conn, t)
        for t in ("licenses_license", "licenses_status_event", "seals_usage", "audit_change", "kernel_outbox")
    }
    templates["kernel_outbox"].pop("seq")
    sql = {t: _insert(t, row) for t, row in templates.items()}
    serial_scope = conn.execute("SELECT scope FROM licenses_serial LIMIT 1").fetchone()[0]
    department_id = templates["licenses_license"]["department_id"]
    chain = conn.execute("SELECT name FROM audit_chain_head WHERE name = ?", ("audit.changes",)).fetchone()[0]

    def rows() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT version FROM kernel_stamp WHERE name = ?", ("licenses.types",)).fetchall()
        conn.execute("SELECT * FROM orgs_department WHERE id = ?", (department_id,)).fetchone()
        conn.execute(
            "SELECT s.*, c.* FROM seals_seal s LEFT JOIN pki_certificate c ON c.id = s.certificate_id "
            "WHERE s.department_id = ? AND s.status = ? ORDER BY s.es_id LIMIT 1",
            (department_id, "active"),
        ).fetchone()
        (value,) = conn.execute(
            "UPDATE licenses_serial SET value = value + 1 WHERE scope = ? RETURNING value", (serial_scope,)
        ).fetchone()
        conn.execute(
            "SELECT id, key_id, issuer_id FROM pki_certificate WHERE profile IN (?, ?) AND status = 'valid'",
            (offline.PROFILE, CertProfile.TSA.value),
        ).fetchall()
        row_id = secrets.token_hex(16)
        lic_row = dict(templates["licenses_license"], id=row_id, identifier=f"{identifier[:-10]}{value:010d}")
        lic_row["face"] = json.dumps(face_values, ensure_ascii=False)
        conn.execute(sql["licenses_license"], tuple(lic_row.values()))
        event = dict(templates["licenses_status_event"], id=secrets.token_hex(16), license_id=row_id)
        conn.execute(sql["licenses_status_event"], tuple(event.values()))
        usage = dict(templates["seals_usage"], id=secrets.token_hex(16))
        usage["detail"] = json.dumps({"page": 1, "keyword": False})
        conn.execute(sql["seals_usage"], tuple(usage.values()))
        outbox = dict(templates["kernel_outbox"], message_id=secrets.token_hex(16))
        outbox["payload"] = json.dumps(json.loads(outbox["payload"]), ensure_ascii=False)
        conn.execute(sql["kernel_outbox"], tuple(outbox.values()))
        seq, prev = conn.execute(
            "UPDATE audit_chain_head SET seq = seq WHERE name = ? RETURNING seq, hash", (chain,)
        ).fetchone()
        change = dict(templates["audit_change"], seq=seq + 1, prev_hash=prev)
        change["hash"] = sm3(bytes.fromhex(prev) + json.dumps(change, sort_keys=True).encode()).hex()
        conn.execute(
            "UPDATE audit_chain_head SET seq = ?, hash = ? WHERE name = ?", (seq + 1, change["hash"], chain)
        )
        conn.execute(sql["audit_change"], tuple(change.values()))
        conn.execute("COMMIT")

    software = SoftwareSigner(SM2PrivateKey.generate())
    message = b"x" * 256
    calls, rounds = args.calls, args.rounds
    raw = least_cpu(lambda: software.sign(message), calls=calls * 4, rounds=rounds)
    seal_sign = least_cpu(lambda: seal_signer.sign(message), calls=calls * 4, rounds=rounds)
    parts = {
        "offline payload (1 signature, JSON)": least_cpu(payload, calls=calls, rounds=rounds),
        "OFD rendered (layout, QR PNG, zip)": least_cpu(lambda: render.render_license(shown), calls=calls, rounds=rounds),
        "sealed (Signature.xml, SES, TSA token: 2 signatures, zip)": least_cpu(lambda: seal(unsigned), calls=calls, rounds=rounds),
        "stored (SM3, write, fsync)": least_cpu(store, calls=calls, rounds=rounds),
        "rows (bare sqlite3, one transaction)": least_cpu(rows, calls=calls, rounds=rounds),
    }  # fmt: skip
    inside = {
        "  of which the QR PNG": least_cpu(
            lambda: render.qr_png(shown.verify_url), calls=calls, rounds=rounds
        ),
        "  of which the package read back by the signer": least_cpu(
            lambda: OFDPackage.from_bytes(unsigned, keep_raw=True), calls=calls, rounds=rounds
        ),
    }
    conn.close()
    node.close()
    floor = sum(parts.values())
    print(f"CPU per call, least of {rounds} rounds (process_time), load average {os.getloadavg()[0]:.2f}")
    print(f"{'raw SM2 sign (software key, the bench baseline)':<62} {raw * 1000:7.3f} ms")
    print(f"{'SM2 sign with the seal key (the node key ring)':<62} {seal_sign * 1000:7.3f} ms")
    for name, value in (*parts.items(), *inside.items()):
        print(f"{name:<62} {value * 1000:7.3f} ms")
    print(f"{'floor: sum of the parts':<62} {floor * 1000:7.3f} ms  ratio to raw sign {raw / floor:.3f}")
    print(f"{'issuance as the node does it (bench/licenses.py issue())':<62} {issue_cpu * 1000:7.3f} ms  "
          f"ratio {raw / issue_cpu:.3f}")  # fmt: skip
    print(f"{'three signatures alone':<62} {3 * seal_sign * 1000:7.3f} ms  ratio {raw / (3 * seal_sign):.3f}")


if __name__ == "__main__":
    main()

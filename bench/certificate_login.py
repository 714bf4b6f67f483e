"""Certificate login (数字证书登录) against the cryptography it cannot avoid, in the same process.

Per CPU-second (``time.process_time``), interleaved rounds, one SQLite database file:
* baseline "SM2 verify + chain validation": parse the certificate, verify the SM2 signature over the
  challenge message, validate the chain to the login anchor with its CRL (what any implementation must do);
* ``identity.certlogin.login`` + commit: challenge check and single-use row, the same verification through
  the node trust store (``pki.login_trust``), identity from the GM/T 0015 extension, account lookup by
  blind index, hash-chained audit rows, session row.

The proofs (challenge + UKey signature) are made before timing: signing happens on the citizen's side.

    .venv/bin/python bench/certificate_login.py [--seconds 6] [--people 50]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import core

from harness import Result, report
from zhengwu.identity import certlogin, service
from zhengwu.identity.audit import RequestMeta
from zhengwu.identity.wiring import configure
from zhengwu.kernel.config import Settings
from zhengwu.kernel.crypto import SM2PrivateKey
from zhengwu.kernel.logging import configure_logging
from zhengwu.kernel.migrate import upgrade
from zhengwu.kernel.pki import TrustStore, load_certificate
from zhengwu.kernel.pki.crl import build_crl
from zhengwu.kernel.pki.issuance import CertProfile, create_root_ca, issue_certificate
from zhengwu.kernel.session import unit_of_work
from zhengwu.main import build_node, import_models
from zhengwu.pki import authority
from zhengwu.pki.login_trust import LoginCertificateTrust
from zhengwu.seed.synthetic import nth_citizen_id, nth_phone

ISSUER = "http://127.0.0.1:8000"


def cpu_rate(name: str, fn: Callable[[], object], cpu_seconds: float) -> Result:
    """Calls of ``fn`` per CPU-second over about ``cpu_seconds`` of this process's CPU time."""
    calls = 0
    start = time.process_time()
    while time.process_time() - start < cpu_seconds:
        fn()
        calls += 1
    return Result(name, calls, time.process_time() - start, unit="logins")


def main() -> None:
    """Build a CA, people and their certificates, then time both figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING", json_output=True)
    import_models()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{(Path(tmp) / 'bench.db').as_posix()}"
        upgrade(url)
        settings = Settings(data_dir=Path(tmp), database_url=url, log_level="WARNING", public_url=ISSUER)
        node = build_node(settings)
        ctx = configure(node)
        engine, factory = node.engine, node.session_factory
        start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
        end = start + timedelta(days=3650)
        ca_key = SM2PrivateKey.generate()
        ca = create_root_ca(
            subject={"C": "CN", "CN": "基准测试CA"}, signer=ca_key, not_before=start, not_after=end
        )
        crl = build_crl(
            issuer=ca, signer=ca_key, this_update=start, next_update=end - timedelta(days=1), crl_number=1
        )
        people: list[tuple[SM2PrivateKey, bytes]] = []
        with unit_of_work(factory) as db:
            authority.add_trust_anchors(db, ca.der, purposes=["login"], actor="bench", crl=crl.der)
            for n in range(args.people):
                service.register_natural_person(
                    db, name="证书用户", id_number=nth_citizen_id(n), phone=nth_phone(n), password=None
                )
                key = SM2PrivateKey.generate()
                cert = issue_certificate(
                    issuer=ca,
                    issuer_signer=ca_key,
                    subject={"C": "CN", "CN": "证书用户"},
                    public_key=key.public_key,
                    profile=CertProfile.PERSON_AUTH,
                    not_before=start,
                    not_after=end - timedelta(days=1),
                    identity_extensions={
                        certlogin.PERSON_EXTENSIONS[0]: core.PrintableString(
                            nth_citizen_id(n), implicit=0
                        ).dump()
                    },
                )
                people.append((key, cert.der))
        total = int(args.seconds * 2000) + 1000  # more proofs than either figure can use
        proofs = []
        for key, der in itertools.islice(itertools.cycle(people), total):
            challenge, _ = certlogin.new_challenge(ctx.keys)
            signature = key.sign(certlogin.message(ISSUER, challenge))
            proofs.append(certlogin.CertificateProof(challenge, der, (), signature))
        trust = LoginCertificateTrust(settings)
        store = TrustStore()
        store.add_anchor(ca.der, ["login"])
        store.add_crl(crl.der)
        meta = RequestMeta(ip="192.0.2.1", user_agent="bench")
        base_iter, ours_iter = iter(proofs), iter(proofs)

        def bare() -> None:
            proof = next(base_iter)
            cert = load_certificate(proof.certificate)
            if not cert.public_key.verify(proof.signature, certlogin.message(ISSUER, proof.challenge)):
                raise SystemExit("signature does not verify")
            if not store.validate(
                cert, (), purpose="login", at=datetime.now(UTC), check_revocation="leaf"
            ).ok:
                raise SystemExit("chain does not validate")

        def login() -> None:
            proof = next(ours_iter)
            with unit_of_work(factory) as db:
                certlogin.login(db, proof, issuer=ISSUER, trust=trust, meta=meta)

        candidates = {
            "SM2 verify + chain validation (baseline)": bare,
            "certlogin.login + commit": login,
        }
        totals = {name: Result(name, 0, 0.0, unit="logins") for name in candidates}
        for _ in range(args.rounds):
            for name, fn in candidates.items():
                part = cpu_rate(name, fn, args.seconds / args.rounds / len(candidates))
                totals[name].ops += part.ops
                totals[name].seconds += part.seconds
        engine.dispose()
        baseline, ours = totals.values()
        report([ours, baseline], baseline=baseline, title="certificate login vs its unavoidable cryptography")


if __name__ == "__main__":
    main()

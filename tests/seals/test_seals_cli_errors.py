"""`zhengwu pki` / `zhengwu seals` answer refused requests and bad input with a message and exit 1.

Commands run in-process with ``catch_exceptions=False``: an exception escaping a command (a traceback
for the operator) fails the test instead of becoming exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture(scope="module")
def node_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from dbkit import migrate_fresh

    folder = tmp_path_factory.mktemp("cli-errors")
    url = f"sqlite:///{(folder / 'node.db').as_posix()}"
    migrate_fresh(url)
    env = {"ZHENGWU_DATABASE_URL": url, "ZHENGWU_DATA_DIR": str(folder), "ZHENGWU_LOG_LEVEL": "WARNING"}
    assert run(env, "pki", "init").exit_code == 0
    return env


def run(env: dict[str, str], *args: str) -> Any:
    from zhengwu.cli import app

    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def certificates(env: dict[str, str]) -> dict[str, Any]:
    shown = run(env, "pki", "show", "--json")
    assert shown.exit_code == 0, shown.output
    out: dict[str, Any] = json.loads(shown.stdout.strip().splitlines()[-1])["certificates"]
    return out


@pytest.mark.parametrize("ident", ["fingerprint", "serial"])
def test_revoking_the_root_ca_is_refused_with_a_message(node_env: dict[str, str], ident: str) -> None:
    root = certificates(node_env)["root-ca"][ident]
    result = run(node_env, "pki", "revoke", root, "--reason", "key_compromise")
    assert result.exit_code == 1
    assert "根证书不能通过撤销列表撤销" in result.stderr
    assert "root CA is not" in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output and result.stdout == ""
    # The root's CRL still issues.
    crl = Path(node_env["ZHENGWU_DATA_DIR"]) / "root.crl"
    assert run(node_env, "pki", "crl", "--ca", "root", "-o", str(crl)).exit_code == 0


def test_revoking_the_root_ca_in_the_service_is_a_domain_error(node_env: dict[str, str]) -> None:
    from zhengwu.commands.seals import node_session
    from zhengwu.kernel.config import Settings
    from zhengwu.kernel.errors import DomainError
    from zhengwu.pki import authority
    from zhengwu.pki.errors import RevocationRefused

    config = Settings(
        database_url=node_env["ZHENGWU_DATABASE_URL"], data_dir=Path(node_env["ZHENGWU_DATA_DIR"])
    )
    with node_session(config) as session:
        row = authority.ca_certificate(session, "root")
        with pytest.raises(RevocationRefused) as caught:
            authority.revoke_certificate(session, config, row, actor="test")
        assert isinstance(caught.value, DomainError) and caught.value.status_code == 409
        assert row.status != "revoked"


def test_pki_and_crypto_errors_of_any_command_become_exit_status_1(
    node_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from zhengwu.kernel.crypto.errors import CryptoError
    from zhengwu.kernel.pki.errors import PkiError
    from zhengwu.pki import authority
    from zhengwu.seals import service

    def pki_refuses(*_: Any, **__: Any) -> Any:
        raise PkiError("the TSA certificate is not valid at genTime", "时间戳服务证书在签发时间无效")

    def crypto_refuses(*_: Any, **__: Any) -> Any:
        raise CryptoError("SM2 private key does not match key 1a2b3c4d")

    monkeypatch.setattr(authority, "current_crl", pki_refuses)
    crl = run(node_env, "pki", "crl", "-o", str(Path(node_env["ZHENGWU_DATA_DIR"]) / "x.crl"))
    assert crl.exit_code == 1
    assert "时间戳服务证书在签发时间无效" in crl.stderr and "not valid at genTime" in crl.stderr
    monkeypatch.setattr(service, "list_seals", crypto_refuses)
    listed = run(node_env, "seals", "list")
    assert listed.exit_code == 1
    assert "密码运算失败" in listed.stderr and "1a2b3c4d" in listed.stderr
    monkeypatch.setattr(authority, "list_trust_anchors", crypto_refuses)
    nested = run(node_env, "pki", "trust", "list")  # a command of the nested `pki trust` group
    assert nested.exit_code == 1 and "密码运算失败" in nested.stderr


def test_other_errors_are_not_swallowed(node_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from zhengwu.pki import authority

    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("a programming error")

    monkeypatch.setattr(authority, "current_crl", broken)
    with pytest.raises(ValueError, match="a programming error"):
        run(node_env, "pki", "crl", "-o", str(Path(node_env["ZHENGWU_DATA_DIR"]) / "y.crl"))


@pytest.mark.parametrize(
    "args",
    [
        ("pki", "revoke", "0"),
        ("pki", "crl", "--ca", "bogus", "-o", "{dir}/x.crl"),
        ("pki", "export-ca", "--ca", "bogus", "-o", "{dir}/x.pem"),
        ("pki", "trust", "add", "{garbage}", "--for", "seals"),
        ("pki", "trust", "add", "{bad_pem}", "--for", "seals"),
        ("pki", "trust", "remove", "zz"),
        ("pki", "issue-exchange", "{garbage}", "--node-id", "n1", "-o", "{dir}/e.pem"),
        ("pki", "issue-exchange", "{bad_pem}", "--node-id", "n1", "-o", "{dir}/e.pem"),
        ("seals", "sign", "{garbage}", "--seal", "13000000000001", "--page", "1", "-o", "{dir}/s.ofd"),
        ("seals", "verify", "{garbage}", "--trust", "{garbage}", "--offline"),
        ("seals", "verify", "{garbage}", "--trust", "{bad_pem}"),
        ("seals", "status", "13999999999999"),
        ("seals", "revoke", "13999999999999"),
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_bad_input_gets_a_message_not_a_traceback(
    node_env: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x30\x82\x01\x00garbage")
    bad_pem = tmp_path / "bad.pem"
    bad_pem.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", encoding="ascii")
    values = {"dir": str(tmp_path), "garbage": str(garbage), "bad_pem": str(bad_pem)}
    result = run(node_env, *(a.format(**values) for a in args))
    assert result.exit_code == 1
    assert result.stderr.strip() and "Traceback" not in result.output

from pathlib import Path

import pytest
from pydantic import ValidationError

from zhengwu.kernel.config import Settings, Tier


def test_defaults_derive_sqlite_under_data_dir(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.database_url == f"sqlite:///{(tmp_path / 'zhengwu.db').as_posix()}"
    assert s.tier is Tier.PROVINCE and s.division_code == "130000"


def test_env_prefix_and_nested_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHENGWU_TIER", "city")
    monkeypatch.setenv("ZHENGWU_DIVISION_CODE", "130100")
    monkeypatch.setenv("ZHENGWU_NODE_ID", "sjz")
    monkeypatch.setenv("ZHENGWU_PUBLIC_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("ZHENGWU_UPSTREAM_URL", "http://up.example/")
    monkeypatch.setenv("ZHENGWU_SECURITY__SESSION_IDLE_MINUTES", "15")
    monkeypatch.setenv("ZHENGWU_EXCHANGE_TRANSPORT", "frontdb")
    s = Settings()
    assert s.tier is Tier.CITY
    assert s.public_url == "http://127.0.0.1:9000"
    assert s.upstream_url == "http://up.example"
    assert s.security.session_idle_minutes == 15
    assert s.exchange.transport == "frontdb"


@pytest.mark.parametrize(
    "overrides",
    [
        {"division_code": "13000"},
        {"tier": "national", "division_code": "130000"},
        {"tier": "national", "division_code": "000000", "upstream_url": "http://up.example"},
        {"tier": "planet"},
        {"node_id": "Bad Id"},
        {"exchange_transport": "carrier-pigeon"},
        {"production": True},
    ],
)
def test_fail_fast_on_bad_settings(overrides: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**overrides)  # type: ignore[arg-type]


def test_production_refuses_development_keys() -> None:
    with pytest.raises(ValidationError, match="FEDERATION_KEY"):
        Settings(
            production=True,
            public_url="https://zwfw.hebei.gov.cn",
            security={"secret_key": "a-real-secret-of-enough-length-0001"},  # type: ignore[arg-type]
        )


PRODUCTION = {
    "production": True,
    "public_url": "https://zwfw.hebei.gov.cn",
    "security": {"secret_key": "a-real-secret-of-enough-length-0001", "secure_cookies": False},
    "identity": {"federation_key": "a-real-federation-key-0000000001"},
}


def test_production_forces_secure_cookies_and_an_https_url() -> None:
    assert Settings(**PRODUCTION).security.secure_cookies is True  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="https"):
        Settings(**{**PRODUCTION, "public_url": "http://zwfw.hebei.gov.cn"})  # type: ignore[arg-type]

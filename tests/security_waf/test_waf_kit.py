"""Without nginx, the ModSecurity module or the CRS the WAF tests skip with the reason — and fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from waf_kit import render, require_waf


@pytest.mark.parametrize(
    ("attribute", "value", "says"),
    [
        ("NGINX", "nginx-that-is-not-installed", "nginx is not installed"),
        ("MODULE", Path("/nonexistent/ngx_http_modsecurity_module.so"), "libnginx-mod-http-modsecurity"),
        ("CRS_RULES", Path("/nonexistent/rules"), "modsecurity-crs"),
    ],
)
def test_a_missing_piece_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, attribute: str, value: object, says: str
) -> None:
    monkeypatch.setattr(render, attribute, value)
    reason = render.missing()
    assert reason is not None and says in reason
    monkeypatch.delenv("ZHENGWU_CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=says):
        require_waf()
    monkeypatch.setenv("ZHENGWU_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="ZHENGWU_CI=1"):
        require_waf()


def test_rendering_fills_every_placeholder_and_tls_when_asked(tmp_path: Path) -> None:
    rendered = render.render(
        tmp_path / "out", listen="443", upstream="127.0.0.1:8000", server_name="zwfw.example.gov.cn",
        tls_cert="/etc/zhengwu/tls/fullchain.pem", tls_key="/etc/zhengwu/tls/privkey.pem",
    )  # fmt: skip
    site = rendered.site_conf.read_text()
    assert "listen 443 ssl;" in site and "ssl_certificate     /etc/zhengwu/tls/fullchain.pem;" in site
    assert "server 127.0.0.1:8000;" in site and "modsecurity on;" in site
    for path in (rendered.nginx_conf, rendered.site_conf, rendered.root / "modsecurity" / "modsecurity.conf"):
        text = path.read_text()
        assert not any(
            part.isupper() and part.replace("_", "").isalpha() for part in text.split("@")[1::2]
        ), path
    off = render.render(tmp_path / "off", listen="127.0.0.1:1", upstream="127.0.0.1:2", waf=False)
    assert "modsecurity off;" in off.site_conf.read_text()

#!/usr/bin/env python3
"""Render the nginx + ModSecurity + OWASP CRS configuration of a zhengwu node into a directory.

Standard library only: operators run it on the proxy host, tests and bench/waf.py import it.

    python3 deploy/nginx/render.py --out /etc/zhengwu/nginx --listen 443 --upstream 127.0.0.1:8000 \
        --server-name zwfw.example.gov.cn --tls-cert /etc/zhengwu/tls/fullchain.pem \
        --tls-key /etc/zhengwu/tls/privkey.pem --site-only
    python3 deploy/nginx/render.py --out /tmp/zw-nginx --listen 127.0.0.1:8080 --upstream 127.0.0.1:8000
    nginx -p /tmp/zw-nginx -c /tmp/zw-nginx/nginx.conf -g 'daemon off;'

The output directory holds ``nginx.conf`` (a complete main configuration for ``nginx -p DIR -c``, with
pid, logs and temporary files inside DIR, so nginx runs as any user), ``zhengwu-site.conf`` (the
server block alone, for /etc/nginx/sites-available), ``modsecurity/`` (engine, CRS setup, exclusions)
and ``logs/`` (access, error and the JSON ModSecurity audit log).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Where Debian 12's packages put things (libnginx-mod-http-modsecurity, modsecurity-crs, nginx-common).
MODULE = Path("/usr/lib/nginx/modules/ngx_http_modsecurity_module.so")
CRS_RULES = Path("/usr/share/modsecurity-crs/rules")
UNICODE_MAP = Path("/etc/nginx/unicode.mapping")
MIME_TYPES = Path("/etc/nginx/mime.types")
NGINX = "nginx"

_STATIC = ("crs-setup.conf", "zhengwu-exclusions-before-crs.conf", "zhengwu-exclusions-after-crs.conf")


@dataclass(frozen=True)
class Rendered:
    """Paths of one rendered configuration."""

    root: Path
    nginx_conf: Path
    site_conf: Path
    audit_log: Path
    access_log: Path
    error_log: Path


def missing() -> str | None:
    """Why nginx + ModSecurity + CRS cannot run on this machine, or None when they can."""
    if shutil.which(NGINX) is None:
        return "nginx is not installed (Debian: apt-get install nginx)"
    if not MODULE.exists():
        return f"the ModSecurity nginx module is missing ({MODULE}; apt-get install libnginx-mod-http-modsecurity)"
    if not CRS_RULES.is_dir():
        return f"the OWASP CRS rules are missing ({CRS_RULES}; apt-get install modsecurity-crs)"
    if not UNICODE_MAP.exists():
        return f"{UNICODE_MAP} is missing (installed with libnginx-mod-http-modsecurity)"
    return None


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = sorted(set(re.findall(r"@[A-Z_]+@", text)))
    if leftover:
        raise ValueError(f"unrendered placeholders: {leftover}")
    return text


def _tls(cert: str | None, key: str | None) -> tuple[str, str]:
    """(the listen line's suffix, the TLS directives) for the site."""
    if not cert or not key:
        return "", ""
    lines = [
        f"    ssl_certificate     {cert};",
        f"    ssl_certificate_key {key};",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:zhengwu_tls:10m;",
    ]
    return " ssl", "\n".join(lines)


def render(
    out: Path,
    *,
    listen: str,
    upstream: str,
    server_name: str = "_",
    workers: int = 1,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    daemon: bool = False,
    module: Path = MODULE,
    crs_rules: Path = CRS_RULES,
    waf: bool = True,
) -> Rendered:
    """Write the configuration under ``out`` (created); every path in it is absolute.

    ``waf=False`` renders the same proxy with ModSecurity off: bench/waf.py measures the proxy's own cost.
    """
    out = out.resolve()
    logs, run, modsec, tmp = out / "logs", out / "run", out / "modsecurity", out / "run" / "modsecurity"
    for folder in (logs, run, modsec, tmp):
        folder.mkdir(parents=True, exist_ok=True)
    ssl, tls = _tls(tls_cert, tls_key)
    values = {
        "MODSEC_MODULE": str(module),
        "WORKERS": str(workers),
        "RUN_DIR": str(run),
        "LOG_DIR": str(logs),
        "DAEMON": "" if daemon else "daemon off;",
        "MIME_TYPES": str(MIME_TYPES),
        "SITE": str(out / "zhengwu-site.conf"),
        "UPSTREAM": upstream,
        "LISTEN": listen + ssl,
        "TLS": tls,
        "SERVER_NAME": server_name,
        "MODSECURITY": "on" if waf else "off",
        "MODSEC_CONF": str(modsec / "modsecurity.conf"),
        "MODSEC_DIR": str(modsec),
        "CRS_RULES": str(crs_rules),
        "TMP_DIR": str(tmp),
        "UNICODE_MAP": str(UNICODE_MAP),
        "AUDIT_LOG": str(logs / "modsec_audit.json"),
    }
    (out / "nginx.conf").write_text(_fill((HERE / "nginx.conf.in").read_text(), values))
    (out / "zhengwu-site.conf").write_text(_fill((HERE / "zhengwu-site.conf.in").read_text(), values))
    (modsec / "modsecurity.conf").write_text(
        _fill((HERE / "modsecurity" / "modsecurity.conf.in").read_text(), values)
    )
    for name in _STATIC:
        shutil.copyfile(HERE / "modsecurity" / name, modsec / name)
    return Rendered(
        out, out / "nginx.conf", out / "zhengwu-site.conf", logs / "modsec_audit.json",
        logs / "access.log", logs / "error.log",
    )  # fmt: skip


def check(rendered: Rendered) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on the rendered configuration (loads the module and every CRS rule)."""
    return subprocess.run(  # noqa: S603 (nginx with the paths this script wrote)
        [NGINX, "-t", "-q", "-p", str(rendered.root), "-c", str(rendered.nginx_conf)],
        capture_output=True,
        text=True,
        check=False,
    )


class Proxy:
    """nginx in the foreground on a rendered configuration (tests and benchmarks)."""

    def __init__(self, rendered: Rendered, url: str) -> None:
        self.rendered, self.url = rendered, url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> Proxy:
        """Start nginx and wait until it answers (any HTTP status: the upstream may not be up yet)."""
        log = (self.rendered.root / "logs" / "nginx.stderr").open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 (nginx with the paths render() wrote)
            [NGINX, "-p", str(self.rendered.root), "-c", str(self.rendered.nginx_conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its workers leave with it (stop() signals the group)
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                logs = [self.rendered.root / "logs" / "nginx.stderr", self.rendered.error_log]
                said = "".join(p.read_text(errors="replace") for p in logs if p.exists())
                raise RuntimeError(f"nginx exited: {said[-2000:]}")
            try:
                self._probe()
                return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("nginx did not answer")

    def _probe(self) -> None:
        """One GET of /_status through nginx (any HTTP answer will do; OSError while nothing listens)."""
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
        try:
            connection.request(
                "GET", "/_status", headers={"Accept": "application/json", "User-Agent": "zhengwu-nginx-probe"}
            )
            connection.getresponse().read()
        finally:
            connection.close()

    def stop(self) -> None:
        """Quit nginx and its workers."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="directory to write (created)")
    parser.add_argument("--listen", required=True, help="nginx listen address, e.g. 443 or 127.0.0.1:8080")
    parser.add_argument(
        "--upstream", required=True, help="the node's `zhengwu serve` address, e.g. 127.0.0.1:8000"
    )
    parser.add_argument("--server-name", default="_")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--daemon", action="store_true", help="let nginx daemonise (default: foreground)")
    parser.add_argument("--check", action="store_true", help="run `nginx -t` on the result")
    args = parser.parse_args()
    rendered = render(
        args.out, listen=args.listen, upstream=args.upstream, server_name=args.server_name,
        workers=args.workers, tls_cert=args.tls_cert, tls_key=args.tls_key, daemon=args.daemon,
    )  # fmt: skip
    print(f"nginx -p {rendered.root} -c {rendered.nginx_conf}")
    if args.check:
        result = check(rendered)
        print(result.stderr.strip() or "nginx -t: ok")
        return result.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

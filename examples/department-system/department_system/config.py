"""Settings from the environment (``DEPTSYS_*``)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """What the system needs to know about itself and its node."""

    node_url: str  # the node's issuer, e.g. https://zwfw.hebei.gov.cn
    client_id: str
    client_secret: str
    base_url: str  # where this system is reached; the redirect URI is <base_url>/callback
    webhook_secret: str  # whsec_… as shown once by ``zhengwu webhooks register``
    database: str = "department-system.db"
    schemes: tuple[str, ...] = ("v1", "v1sm3")
    tolerance: int = 300
    license_types: tuple[str, ...] = ()  # the license types its clerks issue; empty: ask the node
    department: str = ""  # its department's 统一社会信用代码: the department its 联办 opinions are given for
    title: str = "部门业务系统"

    @property
    def redirect_uri(self) -> str:
        """The registered redirect URI."""
        return f"{self.base_url}/callback"

    @property
    def secure_cookies(self) -> bool:
        """Cookies only over TLS when the system is served over TLS."""
        return self.base_url.startswith("https://")

    @classmethod
    def from_env(cls) -> Config:
        """Read ``DEPTSYS_*``; a missing required one is an error naming it."""
        env = os.environ

        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SystemExit(f"缺少环境变量 {name}（见 README）")
            return value

        def split(name: str, default: str) -> tuple[str, ...]:
            return tuple(s.strip() for s in env.get(name, default).split(",") if s.strip())

        return cls(
            node_url=need("DEPTSYS_NODE_URL").rstrip("/"),
            client_id=need("DEPTSYS_CLIENT_ID"),
            client_secret=need("DEPTSYS_CLIENT_SECRET"),
            base_url=need("DEPTSYS_BASE_URL").rstrip("/"),
            webhook_secret=need("DEPTSYS_WEBHOOK_SECRET"),
            database=env.get("DEPTSYS_DATABASE", "department-system.db"),
            schemes=split("DEPTSYS_SCHEMES", "v1,v1sm3"),
            tolerance=int(env.get("DEPTSYS_TOLERANCE", "300")),
            license_types=split("DEPTSYS_LICENSE_TYPES", ""),
            department=env.get("DEPTSYS_DEPARTMENT", "").strip(),
            title=env.get("DEPTSYS_TITLE", "部门业务系统"),
        )

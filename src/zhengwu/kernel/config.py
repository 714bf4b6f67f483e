"""Node settings: one pydantic-settings object read from ``ZHENGWU_*`` environment variables.

Nested groups use a double underscore (``ZHENGWU_SECURITY__SECRET_KEY``). Validation fails fast at
start-up so that a misconfigured node never serves a request.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Tier(StrEnum):
    """The tier a node serves (国家/省/市/县)."""

    NATIONAL = "national"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"


class SecuritySettings(BaseModel):
    """Keys and cookie policy."""

    # Derives the SM4 data key, HMAC keys and cookie signing keys. A node refuses to start in
    # production mode with the development default.
    secret_key: SecretStr = SecretStr("dev-only-change-me-0123456789abcdef")
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    secure_cookies: bool = False
    # Public endpoints that cost CPU or could be harvested (OFD verification, certificate-login
    # challenges): requests per client address per minute, for the whole node.
    public_rate_per_minute: int = Field(default=120, ge=1, le=1_000_000)
    # Where the per-address and per-client rate limits keep their buckets: ``database`` (shared by every
    # server process on the node's database: one small upsert per limited request) or ``memory`` (each
    # process its own: N processes let N times the rate through; a single process only).
    rate_limit_store: Literal["database", "memory"] = "database"
    # Security events of this severity or higher go to the upper node as they are stored (security.upward).
    upward_min_severity: Literal["info", "low", "medium", "high", "critical"] = "high"
    # How often the worker reports the security posture summary upward; 0: never.
    posture_minutes: int = Field(default=15, ge=0, le=24 * 60)
    # How often the worker checks the installed files against the signed anti-tamper manifest; 0: never.
    integrity_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    # Privileged CLI commands name their staff operator and take a TOTP code of theirs (commands.operator);
    # always so on a production node, and with this set elsewhere too.
    cli_second_factor: bool = False
    # After one second-factor check, later privileged commands of the same operator on the same terminal
    # run without a new code for this many minutes (like sudo's timestamp; not extended by use); 0: never.
    cli_session_minutes: int = Field(default=5, ge=0, le=15)
    # The TLCP (国密 SSL) gateway in front of the node, ``host:port``; empty: none configured. The node
    # checks its handshake and certificates (security.tlcp), not that the product is certified: the
    # certification is recorded here (number, expiry) and warned about before it expires.
    tlcp_gateway: str = ""
    tlcp_ca_file: Path | None = None
    tlcp_product_certificate: str = ""
    tlcp_product_certificate_expires: date | None = None
    tlcp_warn_days: int = Field(default=30, ge=1, le=365)
    # How long /_status reuses the last handshake with the gateway (each check is a TCP connection).
    tlcp_check_minutes: int = Field(default=10, ge=1, le=24 * 60)


class IdentitySettings(BaseModel):
    """Unified identity authentication (统一身份认证) policy."""

    # Keys the cross-tier hash (cert_key) of identity numbers; every node of a federation shares it
    # (standards §4.1: the national platform correlates users by such hashes, never by plain numbers).
    federation_key: SecretStr = SecretStr("dev-only-federation-key-0123456789")
    # 等保 8.1.4.1.b: limit illegal login attempts (5 failures lock the account for 15 minutes).
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    ip_failure_limit: int = Field(default=30, ge=1, le=100_000)
    ip_failure_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Registrations (successful or refused) per client address per window: bounds mass account creation
    # and probing which ID numbers are registered; a service hall behind one address may need more.
    registration_ip_limit: int = Field(default=20, ge=1, le=100_000)
    registration_ip_window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # argon2id; m=19 MiB, t=2, p=1 is the OWASP minimum for argon2id.
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8 * 1024)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)
    notifier: str = Field(default="file", pattern="^(file|console)$")
    # 等保 8.1.4.1.d: every staff action needs a session that passed a second factor (TOTP or certificate)
    # at most this long ago (identity.policy, ADR 0010); one working shift by default.
    staff_factor_max_age_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)
    # 证书助手: the local program on the citizen's computer that signs with the UKey (vendors' SKF or
    # PKCS#11 middleware behind it). The certificate login page posts the challenge to it (docs/ukey-agent.md).
    ukey_agent_url: str = Field(default="http://127.0.0.1:18088/zhengwu/v1/sign", pattern=r"^https?://\S+$")


class ExchangeSettings(BaseModel):
    """Upward data exchange."""

    transport: str = Field(default="http", pattern="^(http|frontdb)$")
    frontdb_url: str | None = None
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # 数据来源 (national data_source, varchar(3)); the meaning of values is UNCERTAIN (standards §3.1).
    data_source: str = Field(default="111", pattern="^[0-9A-Za-z]{1,3}$")
    # On an upper node: the node id of the lower node whose 前置库 (frontdb_url) this node reads.
    frontdb_peer: str | None = None
    # Receiving side limits (oversized batches are refused whole).
    max_batch_rows: int = Field(default=5_000, ge=1, le=100_000)
    # Join requests are unauthenticated (an operator approves them): bound how many can wait, in all and
    # per client address, and for how long (days) before they expire unanswered.
    max_pending_joins: int = Field(default=1_000, ge=1, le=100_000)
    max_pending_joins_per_address: int = Field(default=5, ge=1, le=1_000)
    join_request_days: int = Field(default=7, ge=1, le=365)
    max_batch_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # Dispatcher: claim lease, retries with exponential backoff + jitter, dead letter after permanent errors.
    lease_seconds: float = Field(default=15.0, gt=0)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=10, ge=1)
    request_timeout_seconds: float = Field(default=60.0, gt=0)
    poll_seconds: float = Field(default=1.0, gt=0)
    # Signed batches older (or newer) than this are refused as stale/replayed.
    freshness_seconds: int = Field(default=300, ge=5)
    # 前置库 readers only take rows whose cd_time is at least this old (writers' transactions settle).
    frontdb_settle_seconds: float = Field(default=2.0, ge=0)
    # …and read again once this old, taking the rows whose writers committed after the first reading.
    frontdb_late_seconds: float = Field(default=600.0, ge=0)
    # Verification services (共享核验).
    verify_cache_seconds: int = Field(default=60, ge=0)
    verify_rate_per_minute: int = Field(default=120, ge=1)
    # Connection progress (应上尽上): how often this node reports its counts upward; 0 disables it.
    progress_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # How long the progress page and API may show numbers computed earlier when nothing they read has
    # changed (exchange.progress.current); 0 computes on every request.
    progress_cache_seconds: int = Field(default=30, ge=0, le=3600)


class AuditSettings(BaseModel):
    """The audit capability."""

    # How often the worker signs the chain heads and reports them upward (ADR 0011); 0 disables it.
    seal_minutes: int = Field(default=15, ge=0, le=24 * 60)


class OpsSettings(BaseModel):
    """Operations (``ZHENGWU_OPS__*``)."""

    # Worker processes that en- and decrypt large backup artifacts (ops.sealing); 1: the calling process
    # alone, 0: one per usable core. More processes shorten the wall time on free cores and cost CPU for
    # starting them and passing chunks (bench/backup.py: +50 % CPU, slower on the shared 2-core machine).
    backup_processes: int = Field(default=1, ge=0, le=16)
    # How often the worker reports this node's status (health, version, lag, backup age) upward; 0: never.
    status_minutes: int = Field(default=5, ge=0, le=24 * 60)
    # The ops page (/ops): how often each server process samples its numbers, and how many samples it keeps.
    sample_seconds: int = Field(default=60, ge=5, le=3600)
    samples: int = Field(default=360, ge=10, le=10_000)
    # The worker walks the public citizen journey (ops.probe) every N minutes; 0: never.
    probe_minutes: int = Field(default=0, ge=0, le=24 * 60)
    # Where the probe goes; empty: the node's public URL (ZHENGWU_PUBLIC_URL).
    probe_url: str = Field(default="", max_length=500)
    # What the probe searches for (a word that finds a published item on this node).
    probe_query: str = Field(default="办理", min_length=1, max_length=50)
    # How long the probe waits for each step's answer before it counts the step as failed.
    probe_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # PostgreSQL through pgBackRest (deploy/pgbackrest): the rendered pgbackrest.conf. Set, ``zhengwu backup``
    # runs pgBackRest (WAL archived continuously) instead of pg_dump; empty: pg_dump.
    pgbackrest_config: str = Field(default="", max_length=500)
    pgbackrest_stanza: str = Field(default="zhengwu", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Words put before pgbackrest and pg_ctl so they run as the cluster's owner, e.g. "sudo -u postgres".
    pgbackrest_run_as: str = Field(default="", max_length=200)
    # PostgreSQL's server programs (pg_ctl) for the drill's scratch cluster; empty: the newest under
    # /usr/lib/postgresql.
    pg_bin_dir: str = Field(default="", max_length=500)


class PortalSettings(BaseModel):
    """The portal's look per node and its search vocabulary (``ZHENGWU_PORTAL__*``)."""

    # Shown in the red header; empty: the node's name.
    title: str = Field(default="", max_length=60)
    # A same-site path of the logo image (the pages' Content-Security-Policy allows images from the node only);
    # empty: the name alone.
    logo_url: str = Field(default="", max_length=500)
    # Header colour and the accent of links and buttons (contrast with white must stay ≥ 4.5:1).
    header_colour: str = Field(default="#b5121b", pattern=r"^#[0-9a-fA-F]{6}$")
    footer: str = Field(
        default="主办单位：本级人民政府办公厅　承办单位：本级政务服务管理部门", max_length=500
    )
    # An operator's additions to the search vocabulary (same format as portal/vocabulary.tsv).
    vocabulary_file: Path | None = None
    # Load the search's word dictionary (jieba, ~0.6 s of CPU) while the node starts, not on the first
    # search after each restart, which otherwise made every search arriving meanwhile wait for it.
    warm_search: bool = True


class OidcSettings(BaseModel):
    """Lifetimes, caches and delivery policy of the node's OIDC provider (``ZHENGWU_OIDC__*``)."""

    # RFC 6749 §4.1.2 recommends at most 10 minutes; codes are redeemed within seconds.
    code_ttl_seconds: int = Field(default=120, ge=10, le=600)
    id_token_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    logout_token_ttl_seconds: int = Field(default=120, ge=30, le=600)
    client_cache_seconds: float = Field(default=30.0, ge=0, le=600)
    key_refresh_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Group commit of issuance audit rows: the token response waits until its row is committed.
    issuance_batch: bool = True
    issuance_batch_max: int = Field(default=256, ge=1, le=10_000)
    backchannel_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    backchannel_max_attempts: int = Field(default=6, ge=1, le=50)
    backchannel_backoff_seconds: float = Field(default=2.0, gt=0, le=3600)
    # Display name of the upstream provider on the login page (国家政务服务平台 for a province).
    upstream_label: str = "使用国家政务服务平台账号登录"
    federation_http_timeout_seconds: float = Field(default=10.0, gt=0, le=120)


class AdmissionSettings(BaseModel):
    """How many requests run their database part at a time, and how long the others may queue
    (kernel.admission, ADR 0009). Unset numbers follow the database pool."""

    enabled: bool = True
    # Requests admitted at a time; default: the pool's connections minus four kept for /_status, /metrics
    # and the node's own background work.
    slots: int | None = Field(default=None, ge=1, le=10_000)
    # A request that queued longer than this is answered 503 with Retry-After instead of running late.
    max_wait_seconds: float = Field(default=30.0, gt=0, le=600)
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)


class RetrySettings(BaseModel):
    """How a queued delivery (a webhook, a notice) is retried: the n-th failure waits
    backoff·2^(n−1) seconds, at most the cap; after ``max_attempts`` failures it is dead (kept, replayable)."""

    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_seconds: float = Field(default=5.0, gt=0, le=86_400)
    backoff_cap_seconds: float = Field(default=3600.0, gt=0, le=7 * 86_400)
    # One attempt's limit (a receiver that hangs counts as failed after it).
    timeout_seconds: float = Field(default=5.0, gt=0, le=120)


class NoticeRetrySettings(RetrySettings):
    """Notices to applicants: fewer, slower retries than webhooks (an SMS gateway is down for minutes)."""

    max_attempts: int = Field(default=6, ge=1, le=100)
    backoff_seconds: float = Field(default=30.0, gt=0, le=86_400)


class CasesSettings(BaseModel):
    """Cases (办件): the case number, the soon-due window and the national code mappings (``ZHENGWU_CASES__*``)."""

    # The case number generator (standards §2.2 leaves the national rule open): ``division_date_serial``
    # gives <division><yyyyMMdd><serial>, ``task_date_serial`` the 43-character <task code><yyyyMMdd><serial>.
    number_scheme: str = Field(
        default="division_date_serial", pattern="^(division_date_serial|task_date_serial)$"
    )
    # A digit or two naming this node among nodes of one division, so their serials never meet.
    node_tag: str = Field(default="", pattern="^[0-9]{0,2}$")
    serial_digits: int = Field(default=6, ge=4, le=8)
    # A case is "soon due" when at most this many working days are left.
    soon_due_days: int = Field(default=2, ge=0, le=30)
    # Overrides of the UNCERTAIN national code values (cases.codes.DEFAULTS): {table: {name: code}}.
    codes: dict[str, dict[str, str]] = {}
    # Webhooks to department systems and notices to applicants (``ZHENGWU_CASES__WEBHOOKS__MAX_ATTEMPTS``…).
    webhooks: RetrySettings = RetrySettings()
    notices: NoticeRetrySettings = NoticeRetrySettings()
    # The ClamAV daemon every uploaded material is scanned by: a unix socket path or tcp://host:port;
    # empty: no scanner (uploads are type- and size-checked only).
    clamd_socket: str = ""
    clamd_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # When clamd cannot be asked: refuse the upload with 503 (false) or take it unscanned (true, logged).
    scan_fail_open: bool = False


class StatusPushMapping(BaseModel):
    """How this node reads the upper node's license status pushes (``dn_lic_status``, standards §5: the
    national DDL has no such table, so its columns and code values are the upper system's choice).

    Each list names columns tried before the built-in ones; ``status_values`` adds or overrides status
    words (value → ``valid`` | ``suspended`` | ``revoked``, compared case-insensitively). A value known
    to neither is refused for that row and logged as a warning."""

    identifier_columns: list[str] = []
    status_columns: list[str] = []
    reason_columns: list[str] = []
    status_values: dict[str, Literal["valid", "suspended", "revoked"]] = {}


class LicensesSettings(BaseModel):
    """Electronic licenses (``ZHENGWU_LICENSES__*``)."""

    status_push: StatusPushMapping = StatusPushMapping()


class Settings(BaseSettings):
    """Everything a node needs to know about itself."""

    model_config = SettingsConfigDict(
        env_prefix="ZHENGWU_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    data_dir: Path = Path("var")
    database_url: str = ""
    tier: Tier = Tier.PROVINCE
    division_code: str = "130000"
    node_id: str = "hebei"
    node_name: str = "河北省政务服务平台"
    public_url: str = "http://127.0.0.1:8000"
    upstream_url: str | None = None
    production: bool = False
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    log_json: bool = True
    security: SecuritySettings = SecuritySettings()
    exchange: ExchangeSettings = ExchangeSettings()
    identity: IdentitySettings = IdentitySettings()
    audit: AuditSettings = AuditSettings()
    ops: OpsSettings = OpsSettings()
    oidc: OidcSettings = OidcSettings()
    portal: PortalSettings = PortalSettings()
    admission: AdmissionSettings = AdmissionSettings()
    cases: CasesSettings = CasesSettings()
    licenses: LicensesSettings = LicensesSettings()
    # Flat aliases named in the exchange issue; they override the nested group when set.
    exchange_transport: str | None = None
    frontdb_url: str | None = None

    @model_validator(mode="after")
    def _derive_and_check(self) -> Self:
        if not re.fullmatch(r"\d{6}", self.division_code):
            raise ValueError(
                f"ZHENGWU_DIVISION_CODE must be 6 digits (GB/T 2260), got {self.division_code!r}"
            )
        if self.tier is Tier.NATIONAL and self.division_code != "000000":
            raise ValueError("a national node has ZHENGWU_DIVISION_CODE=000000")
        if self.tier is Tier.NATIONAL and self.upstream_url:
            raise ValueError("a national node has no upstream: unset ZHENGWU_UPSTREAM_URL")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", self.node_id):
            raise ValueError("ZHENGWU_NODE_ID: lowercase letters, digits and '-', at most 63 characters")
        self.public_url = self.public_url.rstrip("/")
        if self.upstream_url:
            self.upstream_url = self.upstream_url.rstrip("/")
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'zhengwu.db').as_posix()}"
        if self.exchange_transport:
            self.exchange.transport = self.exchange_transport
        if self.frontdb_url:
            self.exchange.frontdb_url = self.frontdb_url
        if self.exchange.transport not in ("http", "frontdb"):
            raise ValueError("ZHENGWU_EXCHANGE_TRANSPORT must be http or frontdb")
        if self.production:
            # A production node is served over TLS, so its cookies are Secure (and __Host- prefixed)
            # whatever ZHENGWU_SECURITY__SECURE_COOKIES says.
            self.security.secure_cookies = True
            if not self.public_url.startswith("https://"):
                raise ValueError("ZHENGWU_PUBLIC_URL must be an https:// URL on a production node")
        if self.production and self.security.secret_key.get_secret_value().startswith("dev-only"):
            raise ValueError("ZHENGWU_SECURITY__SECRET_KEY must be set in production")
        if self.production and self.identity.federation_key.get_secret_value().startswith("dev-only"):
            raise ValueError("ZHENGWU_IDENTITY__FEDERATION_KEY must be set in production")
        return self

    @property
    def is_sqlite(self) -> bool:
        """True when the node runs on the embedded SQLite database."""
        return self.database_url.startswith("sqlite")

"""Settings from the environment, in one typed object built once at start-up."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

MIN_SECRET_LENGTH = 32


class SettingsError(Exception):
    """The environment does not describe a runnable server; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server needs to know about its environment."""

    home: Path
    database_url: str | None
    jwt_secret: str
    data_key: str
    jwt_issuer: str = "alertwhisperer"
    jwt_audience: str = "alertwhisperer-api"
    token_ttl_seconds: int = 24 * 3600
    webhook_max_body_bytes: int = 1024 * 1024
    graphql_max_body_bytes: int = 256 * 1024
    allowed_origins: tuple[str, ...] = ()
    workers: str = "inline"  # "process" (serve supervises an `alertwhisperer worker`), "inline" or "off"
    log_level: str = "INFO"
    sns_verify: bool = True
    db_pool_size: int = 10
    bcrypt_rounds: int = 12
    # /readyz answers 503 once the oldest alert waiting for correlation is older than this.
    ready_max_lag_seconds: float = 60.0
    # How often an open websocket re-checks its token and its user's access (a deactivation or a
    # revocation closes it at once through an event; this catches what no event announces).
    ws_recheck_seconds: float = 60.0
    # Notification emails go out through AWS SES from this verified sender; unset: in-app only.
    email_from: str | None = None
    # SES's region (else boto3's own, AWS_REGION...; else us-east-1).
    ses_region: str | None = None
    # Where people open the web app: emails link to `<public_url>/incidents/<id>`.
    public_url: str | None = None
    # LLM analysis (companies opt in): Bedrock's model id ("" turns Bedrock off), then Gemini's.
    bedrock_model: str = "anthropic.claude-3-5-haiku-20241022-v1:0"
    bedrock_region: str | None = None
    gemini_api_key: str | None = None
    gemini_model: str = "gemini-2.0-flash"
    gemini_base_url: str | None = None
    llm_timeout_seconds: float = 20.0
    llm_min_priority: float = 60.0
    # How often the SLA monitor looks for due warnings and breaches (its lag after a deadline).
    sla_check_seconds: float = 15.0
    # /metrics: open when unset (as exporters usually are: keep it on the private network), else it
    # needs `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    # `alertwhisperer worker`'s own scrape target (0: none).
    worker_metrics_port: int = 0
    worker_metrics_host: str = "0.0.0.0"
    # Browser origins (scheme://host[:port]) whose scripts may call the HTTP API (CORS); none: only
    # pages of the API's own origin. The websocket's are `allowed_origins`.
    cors_origins: tuple[str, ...] = ()
    # Alerts older than this many days (per company, `alertRetentionDays`) are deleted in batches of
    # this size by the retention loop; how long it rests between batches (so ingestion keeps the disk).
    retention_batch: int = 1000
    retention_pause_seconds: float = 0.05
    # Demo mode: the length of one scenario step (tests make it short), and where a worker process
    # posts the demo's webhooks (unset: in-process, when this process serves the webhooks itself).
    demo_step_seconds: float = 3.0
    demo_ingest_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def run_workers(self) -> bool:
        """Whether this process runs the background workers in its own event loop."""
        return self.workers == "inline"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read settings; generate development secrets under the home directory when unset."""
        env = dict(os.environ if env is None else env)
        home = Path(env.get("ALERTWHISPERER_HOME", "./.alertwhisperer")).resolve()
        return cls(
            home=home,
            database_url=env.get("DATABASE_URL") or None,
            jwt_secret=_secret(env, "ALERTWHISPERER_JWT_SECRET", home / "jwt-secret"),
            data_key=_secret(env, "ALERTWHISPERER_DATA_KEY", home / "data-key"),
            token_ttl_seconds=int(env.get("ALERTWHISPERER_TOKEN_TTL_SECONDS", 24 * 3600)),
            allowed_origins=tuple(o for o in env.get("ALERTWHISPERER_ALLOWED_ORIGINS", "").split(",") if o),
            workers=_workers_mode(env.get("ALERTWHISPERER_WORKERS", "process")),
            log_level=env.get("ALERTWHISPERER_LOG_LEVEL", "INFO").upper(),
            sns_verify=env.get("ALERTWHISPERER_SNS_VERIFY", "1") not in ("0", "false", "no"),
            db_pool_size=int(env.get("ALERTWHISPERER_DB_POOL_SIZE", 10)),
            bcrypt_rounds=max(4, min(16, int(env.get("ALERTWHISPERER_BCRYPT_ROUNDS", 12)))),
            ready_max_lag_seconds=float(env.get("ALERTWHISPERER_READY_MAX_LAG_SECONDS", 60)),
            ws_recheck_seconds=max(0.1, float(env.get("ALERTWHISPERER_WS_RECHECK_SECONDS", 60))),
            email_from=env.get("ALERTWHISPERER_EMAIL_FROM") or None,
            ses_region=env.get("ALERTWHISPERER_SES_REGION") or None,
            public_url=env.get("ALERTWHISPERER_PUBLIC_URL") or None,
            bedrock_model=env.get("ALERTWHISPERER_BEDROCK_MODEL", "anthropic.claude-3-5-haiku-20241022-v1:0"),
            bedrock_region=env.get("ALERTWHISPERER_BEDROCK_REGION") or None,
            gemini_api_key=env.get("ALERTWHISPERER_GEMINI_API_KEY") or None,
            gemini_model=env.get("ALERTWHISPERER_GEMINI_MODEL") or "gemini-2.0-flash",
            gemini_base_url=env.get("ALERTWHISPERER_GEMINI_BASE_URL") or None,
            llm_timeout_seconds=max(1.0, float(env.get("ALERTWHISPERER_LLM_TIMEOUT_SECONDS", 20))),
            llm_min_priority=float(env.get("ALERTWHISPERER_LLM_MIN_PRIORITY", 60)),
            sla_check_seconds=max(0.1, float(env.get("ALERTWHISPERER_SLA_CHECK_SECONDS", 15))),
            metrics_token=env.get("ALERTWHISPERER_METRICS_TOKEN") or None,
            worker_metrics_port=_port(env.get("ALERTWHISPERER_WORKER_METRICS_PORT", "0")),
            worker_metrics_host=env.get("ALERTWHISPERER_WORKER_METRICS_HOST") or "0.0.0.0",
            cors_origins=_origins(env.get("ALERTWHISPERER_CORS_ORIGINS", "")),
            retention_batch=max(1, min(50_000, int(env.get("ALERTWHISPERER_RETENTION_BATCH", 1000)))),
            retention_pause_seconds=max(0.0, float(env.get("ALERTWHISPERER_RETENTION_PAUSE_SECONDS", 0.05))),
            demo_step_seconds=max(0.0, float(env.get("ALERTWHISPERER_DEMO_STEP_SECONDS", 3))),
            demo_ingest_url=(env.get("ALERTWHISPERER_DEMO_INGEST_URL") or "").rstrip("/") or None,
        )


WORKER_MODES = {
    "process": "process",
    "1": "inline",
    "true": "inline",
    "yes": "inline",
    "inline": "inline",
    "0": "off",
    "false": "off",
    "no": "off",
    "off": "off",
}


def _port(value: str) -> int:
    if not value.strip().isdigit() or int(value) > 65535:
        raise SettingsError("ALERTWHISPERER_WORKER_METRICS_PORT must be a port number (0: none)")
    return int(value)


def _origins(value: str) -> tuple[str, ...]:
    """`scheme://host[:port]` origins, comma-separated (a trailing slash is dropped: browsers send none)."""
    origins = tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
    for origin in origins:
        if "://" not in origin:
            raise SettingsError(
                f"ALERTWHISPERER_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port])"
            )
    return origins


def _workers_mode(value: str) -> str:
    mode = WORKER_MODES.get(value.strip().lower())
    if mode is None:
        raise SettingsError(
            "ALERTWHISPERER_WORKERS must be process, 1 (in the server's own process) or 0 (none)"
        )
    return mode


def _secret(env: dict[str, str], name: str, path: Path) -> str:
    """A secret from the environment, or (development only) one generated and kept in `path`."""
    value = env.get(name)
    if value is None:
        if path.exists():
            value = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            value = secrets.token_urlsafe(48)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
    if len(value) < MIN_SECRET_LENGTH:
        raise SettingsError(f"{name} must be at least {MIN_SECRET_LENGTH} characters long")
    return value


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL`, or the embedded cluster under `ALERTWHISPERER_HOME` (started if need be)."""
    from db.embedded import embedded_database_url

    return settings.database_url or embedded_database_url(settings.home)

"""The gateway's settings: the only place the environment is read."""

from __future__ import annotations

from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var") / "gateway.sqlite3"
DEVELOPMENT_ISSUER = "http://127.0.0.1:8000"
PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "example", "dev-only")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(RuntimeError):
    """The settings cannot run the gateway; the message names what is wrong."""


class Settings(BaseSettings):
    """Every setting, read once from `GATEWAY_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    database_url: str = Field(default=f"sqlite+aiosqlite:///{DEFAULT_SQLITE_PATH}")
    issuer_url: str = DEVELOPMENT_ISSUER
    audience: str = "referral-gateway"
    access_token_ttl_seconds: int = Field(default=600, gt=0, le=3600)
    refresh_token_ttl_seconds: int = Field(default=8 * 3600, gt=0)
    authorization_code_ttl_seconds: int = Field(default=60, gt=0, le=60)
    session_secret: str = "dev-only-session-secret-change-me"  # noqa: S105  (refused outside development)
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    # Slow clients (gateway/serving.py, gateway/middleware.py): how long a connection may take to send a request's
    # head and then its body, how long an idle connection stays open, the largest head, and the open connections
    # beyond which requests get 503 at once.
    request_head_timeout_seconds: float = Field(default=10.0, gt=0)
    request_body_timeout_seconds: float = Field(default=30.0, gt=0)
    keep_alive_timeout_seconds: int = Field(default=5, gt=0)
    max_request_head_bytes: int = Field(default=32 * 1024, ge=1024)
    max_connections: int = Field(default=1000, gt=0)
    # The sign-in throttle (gateway/auth/service.py): failures per account from one address, per account from every
    # address together, and per address over every account, each counted for login_lockout_seconds.
    login_max_failures: int = Field(default=5, gt=0)
    login_account_max_failures: int = Field(default=20, gt=0)
    login_address_max_failures: int = Field(default=20, gt=0)
    login_lockout_seconds: int = Field(default=300, gt=0)
    # Proxies whose X-Forwarded-For is believed (gateway/client_address.py): addresses or networks, comma-separated.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    # The public self-referral door (gateway/throttles/service.py): what one IPv4 address or IPv6 /64 may send per
    # 10 minutes, and what everyone together may send per hour before a proof of work of this many bits is asked.
    self_referral_network_limit: int = Field(default=5, gt=0)
    self_referral_overall_limit: int = Field(default=300, gt=0)
    self_referral_challenge_bits: int = Field(default=18, ge=1, le=32)
    # The direct path for plain fields (gateway/graphql/execution.py); off runs graphql-core's own executor.
    fast_execution: bool = True
    # Trusted documents (gateway/graphql/trusted.py): when on, /graphql runs only documents registered with
    # `gateway documents register` (production should turn it on); revocations reach each server within the refresh.
    trusted_documents_only: bool = False
    trusted_documents_refresh_seconds: float = Field(default=1.0, ge=0, le=300)
    # Compiled reads on PostgreSQL (gateway/graphql/compiled/): the inbox answered by one statement that checks the
    # token, audits and builds the JSON; off, every request takes the resolver path. SQLite always takes that path.
    compiled_reads: bool = True
    # Connections each process holds for compiled reads. A compiled read keeps its connection ~2 ms, so a few keep a
    # process busy; more only make PostgreSQL time-slice and contend on the same pages: on 2 cores, 2 processes x 3
    # gave 757 req/s at p99 45 ms where x 10 gave 710-734 at p99 71-73 (README, "Pool size"). Raise it with cores.
    compiled_pool_size: int = Field(default=3, gt=0, le=100)
    # Notifications (gateway/notifications/dispatcher.py): e-mail goes out over SMTP when smtp_host is set (off when
    # empty); STARTTLS is asked for unless turned off. The dispatcher runs inside `gateway serve` unless
    # dispatch_in_serve is off (then run `gateway dispatch`); it keeps at most dispatch_concurrency deliveries in
    # flight, looks for new work every dispatch_poll_seconds when idle, and holds a claimed delivery for
    # dispatch_lease_seconds, after which another dispatcher may take it over (so it must outlast an attempt).
    smtp_host: str = ""
    smtp_port: int = Field(default=587, gt=0, lt=65536)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    smtp_from: str = Field(default="notifications@gateway.invalid", max_length=254)
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    dispatch_in_serve: bool = True
    dispatch_concurrency: int = Field(default=64, gt=0, le=1000)
    dispatch_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    dispatch_lease_seconds: int = Field(default=60, ge=1, le=3600)
    # How often each dispatcher sweeps for tasks overdue to accept or for first contact (escalated once each).
    dispatch_sweep_seconds: float = Field(default=60.0, gt=0, le=3600)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    # The audit sealer (gateway/audit/sealer.py) runs inside `gateway serve` on PostgreSQL unless seal_audit_in_serve
    # is off (then run `gateway audit seal` often); when it finds less than a full batch it pauses this long.
    seal_audit_in_serve: bool = True
    seal_audit_interval_seconds: float = Field(default=0.2, gt=0, le=60)

    # Webhook destinations an operator vouches for (gateway/notifications/destinations.py): networks, comma-separated,
    # exempt from the refusal of private, loopback, link-local and metadata addresses (an internal receiver, say).
    webhook_allowed_networks: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    @field_validator("trusted_proxies", "webhook_allowed_networks", mode="before")
    @classmethod
    def _split_trusted_proxies(cls, value: Any) -> Any:
        # Strict: a network written with host bits set (10.0.0.1/8) is a typo to refuse, not to widen silently.
        if isinstance(value, str):
            return tuple(ip_network(item.strip()) for item in value.split(",") if item.strip())
        return value

    @model_validator(mode="after")
    def _account_limit_covers_one_address(self) -> Settings:
        if self.login_account_max_failures < self.login_max_failures:
            raise ValueError("GATEWAY_LOGIN_ACCOUNT_MAX_FAILURES must be at least GATEWAY_LOGIN_MAX_FAILURES")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Settings:
        # A lease that ran out mid-attempt would let a second dispatcher send the same delivery at the same time.
        longest = max(self.webhook_timeout_seconds, self.smtp_timeout_seconds if self.smtp_host else 0.0)
        if self.dispatch_lease_seconds <= longest:
            raise ValueError("GATEWAY_DISPATCH_LEASE_SECONDS must exceed the webhook and SMTP timeouts")
        return self

    @property
    def is_development(self) -> bool:
        return self.env is Environment.DEVELOPMENT

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.is_development:
            return self
        problems = []
        if "sqlite" in self.database_url and str(DEFAULT_SQLITE_PATH) in self.database_url:
            problems.append("GATEWAY_DATABASE_URL is the development default; set the production database")
        if self.issuer_url == DEVELOPMENT_ISSUER or not self.issuer_url.startswith("https://"):
            problems.append("GATEWAY_ISSUER_URL must be the public https:// URL of this gateway")
        if len(self.session_secret) < 32 or any(m in self.session_secret.lower() for m in PLACEHOLDER_MARKERS):
            problems.append("GATEWAY_SESSION_SECRET is a placeholder or shorter than 32 characters")
        if problems:
            raise ConfigurationError("refusing to start in production: " + "; ".join(problems))
        return self


def load_settings() -> Settings:
    """Read the settings from the environment, raising ConfigurationError with the reason."""
    try:
        return Settings()
    except ConfigurationError:
        raise
    except ValueError as error:  # pydantic's ValidationError, with the setting's name in it
        raise ConfigurationError(f"invalid configuration: {error}") from error

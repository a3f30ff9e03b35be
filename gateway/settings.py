"""The gateway's settings: the only place the environment is read."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    login_max_failures: int = Field(default=5, gt=0)
    login_lockout_seconds: int = Field(default=300, gt=0)
    # The direct path for plain fields (gateway/graphql/execution.py); off runs graphql-core's own executor.
    fast_execution: bool = True

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

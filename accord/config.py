"""Configuration: `ACCORD_*` environment variables, validated by pydantic.

Temporal's connection is configured the Temporal way (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API
key, profiles) through `temporalio.envconfig`; see `accord.temporal`.

When neither a database URL nor a Temporal address is configured, commands use the dev stack that
`accord dev` runs, found through the `dev.json` file it writes into the data directory.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from events.errors import ConfigurationError

DEFAULT_WORKER_CACHE = 1000
"""Workflow runs a worker keeps in memory (Temporal's default). A run that is evicted is replayed from
its history when it next has work, so size it to the open processes a worker carries."""


LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _log_level(level: object) -> str:
    name = str(level).lower()
    if name not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (in any case)")
    return name


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset: the dev stack's embedded PostgreSQL"
    )
    migration_database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL of the role that owns accord's schema: migrations and `accord db rebuild` use it, "
        "while the worker and the API connect as a role with only the application's rights (ACCORD_DATABASE_URL); "
        "unset: ACCORD_DATABASE_URL does both",
    )
    data_dir: Path = Field(default=Path.home() / ".accord", description="where `accord dev` keeps its data")
    task_queue: str = Field(default="accord", min_length=1)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8765, ge=0, le=65535)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    worker_cache: int = Field(
        default=DEFAULT_WORKER_CACHE, ge=0,
        description="workflow runs a worker keeps in memory (Temporal's max_cached_workflows)",
    )
    workflow_sandbox: bool = Field(
        default=True,
        description="run workflows in Temporal's sandbox; off: about 1.5x the stance throughput per worker, "
        "with determinism checked only where histories are replayed (the tests, `accord audit check`)",
    )
    command_patience: float = Field(
        default=120, gt=0, le=3600,
        description="seconds a command waits for Temporal's answer while Temporal restarts or the store is down; "
        "then it ends with 'outcome unknown'",
    )
    admin_token: str | None = Field(
        default=None, description="bearer token that may found alliances over the HTTP API"
    )
    log_level: Annotated[str, BeforeValidator(_log_level)] = "info"
    log_name: str = Field(
        default="accord.localhost", pattern=r"^[^\s+]+$",
        description="this deployment's name, a schema-less URL such as accord.example.org: its alliances' checkpoints "
        "have the origin <name>/<alliance>, and a log key it generates is named so",
    )
    log_key: SecretStr | None = Field(
        default=None,
        description="the log's Ed25519 signing key, PRIVATE+KEY+<name>+<id>+<key> (`accord log keygen` makes one); "
        "unset: the file ACCORD_LOG_KEY_FILE names, or the dev stack's <data dir>/log.key",
    )
    log_key_file: Path | None = Field(default=None, description="a file holding the log's signing key")
    log_public_keys: str = Field(
        default="",
        description="the log's public keys, comma-separated, for checking checkpoints where no signing key is needed: the "
        "current one in processes that sign nothing (the HTTP API), and earlier ones after a rotation",
    )
    checkpoint_events: int = Field(default=1000, ge=1, description="sign a checkpoint once an alliance's log has grown by this many events")
    checkpoint_seconds: float = Field(
        default=60, gt=0, le=86400, description="... or once it has grown at all and this many seconds have passed since the last one"
    )
    public_url: str | None = Field(
        default=None, description="the address members reach the pages at, for the links in emails (default: http://API_HOST:API_PORT)"
    )
    smtp_host: str | None = Field(default=None, description="the mail server that sends sign-in links and notifications")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="accord <accord@localhost>", description="the sender of accord's emails")
    smtp_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (upgrade after connecting), tls (from the start), or none (a local relay)"
    )
    sign_in_minutes: int = Field(default=20, ge=1, le=1440, description="how long an emailed sign-in link works")
    session_days: int = Field(default=14, ge=1, le=365, description="how long a browser stays signed in")

    @property
    def base_url(self) -> str:
        """Where members reach the pages (no trailing slash)."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def dev_file(self) -> Path:
        return self.data_dir / "dev.json"

    @property
    def dev_log_key(self) -> Path:
        """Where `accord dev` keeps the log key it generated."""
        return self.data_dir / "log.key"


class DevStack(BaseModel):
    """What a running `accord dev` tells other commands on the same machine."""

    pid: int
    database_url: str
    """As the application's own role (accord_app's rights only)."""
    migration_database_url: str | None = None
    """As the schema's owner, for migrations."""
    temporal_address: str
    namespace: str = "default"
    api_url: str
    ui_url: str | None = None

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def running_dev_stack(settings: Settings) -> DevStack | None:
    try:
        stack = DevStack.model_validate(json.loads(settings.dev_file.read_text()))
    except (OSError, ValueError):  # none, unreadable (another user's, 0600), or not a stack's
        return None
    return stack if stack.alive() else None


def settings_error(error: ValidationError) -> str:
    """What is wrong with the ACCORD_* environment, variable by variable."""
    problems = [
        f"ACCORD_{'_'.join(str(part) for part in e['loc']).upper()}={e['input']!r}: {e['msg']}" for e in error.errors()
    ]
    return "invalid setting: " + "; ".join(problems)


class NotConfigured(ConfigurationError):
    """Raised when there is nothing to connect to; the message says what to set or start."""


def database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    stack = running_dev_stack(settings)
    if stack:
        return stack.database_url
    raise NotConfigured(
        "no database configured: set ACCORD_DATABASE_URL (e.g. postgresql://user@host:5432/accord) "
        f"or start the dev stack with `accord dev` (data directory {settings.data_dir})"
    )


def migration_url(settings: Settings) -> str:
    """The URL migrations run with: the schema owner's, where one is configured or the dev stack has one."""
    if settings.migration_database_url:
        return settings.migration_database_url
    if not settings.database_url:
        stack = running_dev_stack(settings)
        if stack and stack.migration_database_url:
            return stack.migration_database_url
    return database_url(settings)

"""Settings: a TOML file read with tomllib, then environment overrides, validated.

Every error names the file, the key and the reason, and nothing is changed when the
config is bad. Secrets never live here: they go to the keyring.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tenantops.engine.errors import ConfigError
from tenantops.engine.vocab import SEVERITIES as SEVERITIES  # the vocabulary lives in vocab.py
from tenantops.engine.vocab import SYNC_STRATEGIES

DEFAULT_RESERVED_SLUGS = (
    "admin", "api", "www", "landlord", "mysql", "information_schema",
    "performance_schema", "sys", "test", "root", "mail", "tenantops",
)
ENVIRONMENTS = ("development", "staging", "production")
UNREGISTERED = ("none", "viewer")
_HOST_RE = re.compile(r"[A-Za-z0-9.:%_-]{1,255}")
THEMES = ("tenantops-dark", "tenantops-light", "tenantops-contrast", "tenantops-16")


def default_home() -> Path:
    return Path(os.environ.get("TENANTOPS_HOME") or Path.home() / ".local/share/tenantops")


def default_config_path() -> Path:
    return Path(os.environ.get("TENANTOPS_CONFIG") or Path.home() / ".config/tenantops/config.toml")


@dataclass
class DriftIgnore:
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)


@dataclass
class Smtp:
    host: str = ""
    port: int = 25
    sender: str = "tenantops@localhost"
    username: str = ""
    starttls: bool = False


@dataclass
class Maintenance:
    # weekly windows in UTC, e.g. "Sat 02:00-04:00 UTC" (custom apply --in-window)
    windows: list[str] = field(default_factory=list)


@dataclass
class Jobs:
    # minutes a queued job no worker has started keeps other requests for its tenant out;
    # after that the next worker still runs it, but a new request for the tenant expires it
    queued_hold: int = 10
    # minutes: a destructive job first started (or resumed after its worker died) this long
    # after it was requested waits for `jobs retry ID --confirm SLUG` instead of running
    resume_confirm_after: int = 15


# minutes; a week bounds both (beyond that nobody remembers what was asked)
JOBS_MINUTES_RANGE = (1, 7 * 24 * 60)


@dataclass
class Settings:
    environment: str = "development"
    theme: str = "tenantops-dark"
    catalog_dir: str = ""
    backup_dir: str = ""
    backup_retention: int = 10
    snapshot_retention: int = 20
    concurrency_per_server: int = 2
    cleanup_on_failure: bool = True
    lease_seconds: int = 30
    drift_check_interval_hours: int = 24
    # `sync` without --strategy: aggressive applies every pending revision (with restore on
    # failure); conservative holds destructive ones for a dba; manual only writes the plan
    sync_strategy: str = "aggressive"
    reserved_slugs: list[str] = field(default_factory=lambda: list(DEFAULT_RESERVED_SLUGS))
    drift_ignore: DriftIgnore = field(default_factory=DriftIgnore)
    smtp: Smtp = field(default_factory=Smtp)
    maintenance: Maintenance = field(default_factory=Maintenance)
    jobs: Jobs = field(default_factory=Jobs)
    setup_url: str = "https://{slug}.example.org/setup?token={token}"
    # identity and access: the account that owns state and keyring (operators run
    # `sudo -u <service_account> tenantops ...`), and what an unregistered account may do
    service_account: str = ""
    unregistered: str = "none"
    # seconds: every MariaDB/MySQL connection (servers and landlord)
    connect_timeout: int = 5
    read_timeout: int = 30
    write_timeout: int = 30
    # host part of tenant database users ('%' = any host); set it to the application
    # servers' address or network (e.g. "10.0.3.%", or "127.0.0.1" when they share the host)
    tenant_user_host: str = "%"
    # where the settings came from, for error messages and `doctor`
    source: str = ""

    @property
    def production(self) -> bool:
        return self.environment == "production"


@dataclass(frozen=True)
class Timeouts:
    """Seconds for every MariaDB/MySQL connection (servers and the landlord)."""
    connect: int = 5
    read: int = 30
    write: int = 30

    def pymysql_args(self, *, probe: bool = False) -> dict[str, int]:
        """PyMySQL connect_args. ``probe``: the handshake and the first query must answer
        within the connect timeout too (a frozen server accepts TCP connections, then
        says nothing)."""
        read = self.connect if probe else self.read
        return {"connect_timeout": self.connect, "read_timeout": read,
                "write_timeout": self.connect if probe else self.write}


_timeouts = Timeouts()
_tenant_user_host = "%"


def timeouts() -> Timeouts:
    """The timeouts of the settings this process opened (one config per process)."""
    return _timeouts


def tenant_user_host() -> str:
    """The host part of tenant database users, from the settings this process opened."""
    return _tenant_user_host


def use_connection_settings(settings: "Settings") -> None:
    """Make the opened settings' connection policy (timeouts, tenant user host) the
    process's: adapters are built from landlord rows, without the settings at hand."""
    global _timeouts, _tenant_user_host
    _timeouts = Timeouts(settings.connect_timeout, settings.read_timeout, settings.write_timeout)
    _tenant_user_host = settings.tenant_user_host


# env var -> (key, type); env wins over the file so a runbook can override one setting.
ENV_OVERRIDES = {
    "TENANTOPS_ENVIRONMENT": "environment",
    "TENANTOPS_THEME": "theme",
    "TENANTOPS_CATALOG_DIR": "catalog_dir",
    "TENANTOPS_BACKUP_DIR": "backup_dir",
    "TENANTOPS_CONCURRENCY_PER_SERVER": "concurrency_per_server",
    "TENANTOPS_LEASE_SECONDS": "lease_seconds",
}

_SECRET_KEYS = {"password", "passwd", "secret", "token", "api_key"}


def _check(value: Any, expected: type, where: str) -> Any:
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if expected is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return list(value)
    raise AssertionError(expected)


def _fill(target: Any, data: dict, path: Path, prefix: str) -> None:
    known = {f.name: f for f in fields(target) if f.name != "source"}
    for key, value in data.items():
        where = f"{path}: {prefix}{key}"
        if key.lower() in _SECRET_KEYS:
            raise ConfigError(f"{where}: secrets do not belong in the config; use --password-stdin (keyring)")
        if key not in known:
            raise ConfigError(f"{where}: unknown setting")
        current = getattr(target, key)
        if isinstance(current, (DriftIgnore, Smtp, Maintenance, Jobs)):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: expected a table")
            _fill(current, value, path, f"{prefix}{key}.")
            continue
        expected = type(current) if not isinstance(current, list) else list
        setattr(target, key, _check(value, expected, where))


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file (missing file = defaults), apply env overrides, validate."""
    path = path or default_config_path()
    settings = Settings(source=str(path))
    if path.exists():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
        # a [tenantops] table is accepted too, so the file can be shared
        _fill(settings, data.get("tenantops", data) if "tenantops" in data else data, path, "")
    for env, key in ENV_OVERRIDES.items():
        if env in os.environ:
            raw = os.environ[env]
            current = getattr(settings, key)
            if isinstance(current, int):
                try:
                    value: Any = int(raw)
                except ValueError:
                    raise ConfigError(f"environment {env}: expected an integer, got {raw!r}") from None
            else:
                value = raw
            setattr(settings, key, value)
    if settings.environment not in ENVIRONMENTS:
        raise ConfigError(f"{path}: environment: must be one of {', '.join(ENVIRONMENTS)}, got {settings.environment!r}")
    if settings.theme not in THEMES:
        raise ConfigError(f"{path}: theme: must be one of {', '.join(THEMES)}, got {settings.theme!r}")
    if settings.concurrency_per_server < 1:
        raise ConfigError(f"{path}: concurrency_per_server: must be at least 1")
    if settings.lease_seconds < 1:
        # a zero lease expires as it is taken: a second worker would run the same job again
        raise ConfigError(f"{path}: lease_seconds: must be at least 1, got {settings.lease_seconds}")
    if settings.sync_strategy not in SYNC_STRATEGIES:
        raise ConfigError(f"{path}: sync_strategy: must be one of {', '.join(SYNC_STRATEGIES)}, "
                          f"got {settings.sync_strategy!r}")
    if settings.unregistered not in UNREGISTERED:
        raise ConfigError(f"{path}: unregistered: must be one of {', '.join(UNREGISTERED)}, got {settings.unregistered!r}")
    for key in ("connect_timeout", "read_timeout", "write_timeout"):
        if getattr(settings, key) < 1:
            raise ConfigError(f"{path}: {key}: must be at least 1 second, got {getattr(settings, key)}")
    if not _HOST_RE.fullmatch(settings.tenant_user_host):
        raise ConfigError(f"{path}: tenant_user_host: expected a host name, address or pattern like 10.0.%, "
                          f"got {settings.tenant_user_host!r}")
    low, high = JOBS_MINUTES_RANGE
    for key in ("queued_hold", "resume_confirm_after"):
        value = getattr(settings.jobs, key)
        if not low <= value <= high:
            raise ConfigError(f"{path}: jobs.{key}: must be between {low} and {high} minutes, got {value}")
    if settings.backup_retention < 1:
        # zero would delete the backup a change has just taken, before the change runs
        raise ConfigError(f"{path}: backup_retention: must be at least 1, got {settings.backup_retention}")
    return settings


def save_setting(path: Path, key: str, value: str) -> None:
    """Persist one top-level string setting (the console's theme choice) in the file.

    tomllib only reads, so the line is rewritten textually; other lines are kept as is.
    """
    lines = path.read_text().splitlines() if path.exists() else []
    rendered = f"{key} = {value!r}".replace("'", '"')
    for i, line in enumerate(lines):
        if line.split("=", 1)[0].strip() == key and not line.lstrip().startswith("["):
            lines[i] = rendered
            break
    else:
        # top-level keys must precede the first table
        first_table = next((i for i, l in enumerate(lines) if l.lstrip().startswith("[")), len(lines))
        lines.insert(first_table, rendered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")

"""The engine's entry point: settings + landlord + the acting operator.

Every mutating engine call goes through :meth:`Context.authorize` (role check) and
:meth:`Context.audit` (one append-only row), whatever face called it.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import identity, private
from tenantops.engine.config import Settings, default_config_path, default_home, load_settings, use_connection_settings
from tenantops.engine.errors import PermissionDenied, TenantopsError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord import outbox, store
from tenantops.engine.vocab import ROLES, AuditOutcome, Role

_REDACT = ("password", "secret", "token", "passwd")


def role_rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def current_login(settings: Settings | None = None) -> str:
    """The acting operator: the account of the real uid (SUDO_USER only under the
    rules of :mod:`tenantops.engine.identity`; USER/LOGNAME never count)."""
    return identity.process_operator(settings.service_account if settings else "")


def redact(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(s in k.lower() for s in _REDACT) else _storable(v)) for k, v in params.items()}


def _storable(value: Any) -> Any:
    """Input from argv may hold lone surrogates (undecodable bytes): keep them, escaped,
    so the audit row can still be written."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    return value


@dataclass
class Context:
    home: Path
    settings: Settings
    engine: sa.Engine
    landlord_url: str | None
    operator: str
    _role: str | None = field(default=None, repr=False)

    @classmethod
    def open(cls, *, home: Path | None = None, config: Path | None = None,
             landlord_url: str | None = None, operator: str | None = None,
             upgrade: bool = True, require_operator: bool = True) -> "Context":
        """Open settings and landlord as the acting operator.

        ``require_operator``: refuse an account that is not a registered operator (unless
        the config says ``unregistered = "viewer"``); only worker processes, which act
        for each job's requester, open without it. ``operator`` is for the engine itself
        (workers) and tests; the faces never pass it.
        """
        private.make_private()  # before anything is written: files 0600, folders 0700
        home = Path(home or default_home())
        settings = load_settings(Path(config) if config else default_config_path())
        use_connection_settings(settings)  # before the landlord or any server is reached
        landlord_url = landlord_url or os.environ.get("TENANTOPS_LANDLORD_URL") or None
        engine = store.open_engine(landlord_url, home)
        ctx = cls(home=home, settings=settings, engine=engine, landlord_url=landlord_url,
                  operator=operator or current_login(settings))
        try:
            if upgrade:
                ctx.init()
            if require_operator:
                ctx.require_access()
        except BaseException:
            engine.dispose()
            raise
        return ctx

    # -- store ---------------------------------------------------------------
    def init(self, *, tidy: bool = False) -> bool:
        """Create/upgrade the store; the first operator becomes owner; `local` exists.

        When the store was upgraded (or ``tidy``: `tenantops init`), leftovers of older
        versions that need no server are fixed too: clear setup links in the outbox move
        to the keyring (landlord/outbox.py)."""
        upgraded = store.upgrade(self.engine)
        changed = upgraded
        with self.session() as s:
            if upgraded or tidy:
                changed = outbox.move_clear_links(s) > 0 or changed
            if s.scalar(sa.select(sa.func.count()).select_from(m.Operator)) == 0:
                s.add(m.Operator(user=self.operator, role="owner", added_by=self.operator))
                s.add(m.AuditEntry(operator=self.operator, action="operators.bootstrap",
                                   target=self.operator, params={"role": "owner"}, outcome="ok"))
                changed = True
            if s.scalar(sa.select(m.Server).where(m.Server.name == "local")) is None:
                local_dir = self.home / "tenants"
                local_dir.mkdir(parents=True, exist_ok=True)
                s.add(m.Server(name="local", dialect="sqlite", url=f"sqlite:///{local_dir}",
                               capacity=10_000, version=_sqlite_version()))
                changed = True
        self._role = None
        return changed

    @property
    def landlord_label(self) -> str:
        if not self.landlord_url:
            return f"sqlite:{self.home / 'landlord.db'}"
        return store.public_url(sa.make_url(self.landlord_url))

    @property
    def cache_dir(self) -> Path:
        """Caches keyed by content (compiled plans, expected schemas): one can serve several
        homes, so TENANTOPS_CACHE_DIR may share it; by default it lives in the home."""
        shared = os.environ.get("TENANTOPS_CACHE_DIR")
        return Path(shared) if shared else self.home / "cache"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as s:
            with s.begin():
                yield s

    def close(self) -> None:
        self.engine.dispose()

    # -- roles and audit -----------------------------------------------------
    @property
    def role(self) -> str | None:
        if self._role is None:
            with self.session() as s:
                op = s.scalar(sa.select(m.Operator).where(m.Operator.user == self.operator))
                self._role = op.role if op else ("viewer" if self.settings.unregistered == "viewer" else "")
        return self._role or None

    def owners(self) -> list[str]:
        with self.session() as s:
            return list(s.scalars(sa.select(m.Operator.user).where(m.Operator.role == "owner")
                                  .order_by(m.Operator.user)))

    def require_access(self) -> None:
        """An account that is not a registered operator gets nothing, not even reads
        (unless ``unregistered = "viewer"``): one line naming whom to ask; audited."""
        if self.role is not None:
            return
        owners = ", ".join(self.owners()) or "the owner"
        error = (f"{self.operator} is not a registered operator; ask an owner ({owners}) to run "
                 f"`tenantops operators add {self.operator} --role viewer`")
        self.audit("access", self.operator, {}, "denied", "not a registered operator")
        raise PermissionDenied(error)

    def can(self, role: Role) -> bool:
        return role_rank(self.role) >= role_rank(role)

    def authorize(self, action: str, role: Role, target: str | None = None,
                  params: dict[str, Any] | None = None) -> None:
        if self.can(role):
            return
        have = self.role or "no role (not a registered operator)"
        self.audit(action, target, params or {}, "denied", f"needs {role}, operator has {have}")
        raise PermissionDenied(f"{action} needs the {role} role; {self.operator} has {have}")

    def audit(self, action: str, target: str | None, params: dict[str, Any], outcome: AuditOutcome,
              error: str | None = None, *, job: int | None = None) -> None:
        """One audit row; ``job``: the job the operation queued, whose final outcome the
        row takes when it finishes (jobs.queue.finish)."""
        # a Core insert: every mutating command writes one row, and a session's flush of a
        # new object costs several times the insert in a process that writes once
        with self.engine.begin() as conn:
            conn.execute(sa.insert(cast(sa.Table, m.AuditEntry.__table__)).values(
                operator=self.operator, action=action, target=_storable(target), params=redact(params),
                outcome=outcome, error=_storable(error), job_id=job))


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


P = ParamSpec("P")
R = TypeVar("R")


def mutating(action: str, role: Role, target: str | None = None
             ) -> Callable[[Callable[Concatenate[Context, P], R]], Callable[Concatenate[Context, P], R]]:
    """Decorate an engine function ``fn(ctx, ...)``: role check first, audit row after.

    ``target`` names the keyword (or first positional after ctx) that identifies what is
    acted on; every other argument is recorded as a parameter (secrets redacted).
    """
    def wrap(fn: Callable[Concatenate[Context, P], R]) -> Callable[Concatenate[Context, P], R]:
        @functools.wraps(fn)
        def inner(ctx: Context, *args: P.args, **kwargs: P.kwargs) -> R:
            params = {k: v for k, v in kwargs.items() if _jsonable(v)}
            tgt = kwargs.get(target) if target else (args[0] if args else None)
            if args:
                params.update({f"arg{i}": a for i, a in enumerate(args) if _jsonable(a)})
            tgt = None if tgt is None else str(tgt)
            ctx.authorize(action, role, tgt, params)
            try:
                result = fn(ctx, *args, **kwargs)
            except TenantopsError as exc:
                ctx.audit(action, tgt, params, "failed", str(exc))
                raise
            except Exception as exc:
                ctx.audit(action, tgt, params, "failed", f"{type(exc).__name__}: {exc}")
                raise
            ctx.audit(action, tgt, params, "ok", job=_job_of(result))
            return result
        return inner
    return wrap


def _job_of(result: Any) -> int | None:
    """The job a queued operation started (a ``Queued``, or a document with ``job``)."""
    job = result.get("job") if isinstance(result, dict) else getattr(result, "job", None)
    return job if isinstance(job, int) and not isinstance(job, bool) else None


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))

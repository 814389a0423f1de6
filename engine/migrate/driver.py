"""The Alembic driver: apply, roll back, inspect and preview a tenant's units.

**Thread safety.** Alembic is process-global and NOT thread-safe: ``alembic.op`` and
``alembic.context`` are module-level proxies bound to whichever migration is running.
Two threads migrating at once send DDL into each other's databases (STACK-NOTES measured
it). Callers must run this module in one thread per process; parallelism means several
worker processes, never threads.

There is no ``alembic.ini`` and no ``env.py``: an ``alembic.config.Config`` is built in
memory (script location ``alembic_env/``, one version location per unit) and migrations
run through ``ScriptDirectory`` + ``EnvironmentContext`` on the caller's connection.

**Connections and transactions.** Pass a connection with no transaction begun: every
revision then commits on its own (``transaction_per_migration``), so a failure keeps the
revisions before it. A connection already inside a transaction is treated as the
caller's: nothing is committed here (on MariaDB DDL commits implicitly anyway).

**SQL capture.** ``RevisionResult.statements`` (executed) and ``PlannedRevision.sql``
(rendered offline) both hold only the revision's own statements; the ``alembic_version``
bookkeeping is kept apart (``PlannedRevision.version_sql``) so that the two compare.
"""
from __future__ import annotations

import functools
import os
import time
from collections.abc import Collection, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError

from tenantops.engine.alembic_lock import serialised
from tenantops.engine.catalog import Unit
from tenantops.engine.errors import ConflictError, TenantopsError, ValidationError
from tenantops.engine.migrate.results import (  # noqa: F401 - re-exported: callers import them from here
    Direction, MigrationFailed, Outcome, PlannedRevision, RevisionResult, normalize_sql, revision_checksum)

# script.py.mako lives here (for authoring revisions); no env.py is needed. An install
# without the folder still works: any existing directory satisfies ScriptDirectory.
_SCRIPT_LOCATION = next(p for p in (Path(__file__).parent / "alembic_env", Path(__file__).parent) if p.is_dir())

OnRevision = Callable[[RevisionResult], None]


class _CallbackFailed(Exception):
    """Carries an exception raised by the caller's on_revision out of Alembic untouched."""


# ---------------------------------------------------------------------------------------
# script directory


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for path in sorted(directory.glob("*.py")):
        stat = path.stat()
        entries.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


@functools.lru_cache(maxsize=32)
def _cached_script(key: tuple[tuple[str, tuple[tuple[str, int, int], ...]], ...]) -> tuple[Config, ScriptDirectory]:
    cfg = Config()
    # Config values go through ConfigParser interpolation: a literal % must be doubled
    cfg.set_main_option("script_location", str(_SCRIPT_LOCATION).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", os.pathsep.join(d for d, _ in key).replace("%", "%%"))
    script = ScriptDirectory.from_config(cfg)
    try:
        script.revision_map.heads  # load every revision now, so errors surface here
    except (CommandError, RevisionError) as exc:
        raise ValidationError(f"the revision files do not form a valid Alembic history: {exc}") from None
    return cfg, script


def _script_for(units: Sequence[Unit]) -> tuple[Config, ScriptDirectory]:
    """Config + ScriptDirectory for a unit set, cached until a revision file changes."""
    owners = _owners(units)
    for unit in units:
        for info in unit.revision_files.values():
            for needed in (*info.depends_on, *([info.down_revision] if info.down_revision else [])):
                if needed not in owners:
                    # Alembic would fail with a bare KeyError while building its revision map
                    raise ValidationError(
                        f"revision {info.revision} of unit {unit.slug} needs revision {needed}, "
                        "which none of the given units contain",
                        hint="pass the units it depends on (basic, required modules)",
                    )
    dirs = sorted({str(u.versions_dir) for u in units if u.revisions})
    return _cached_script(tuple((d, _fingerprint(Path(d))) for d in dirs))


def _owners(units: Sequence[Unit]) -> dict[str, Unit]:
    return {rev: unit for unit in units for rev in unit.revisions}


def _ancestors(script: ScriptDirectory, revisions: Sequence[str]) -> set[str]:
    """The revisions plus everything they need (down revisions and depends_on)."""
    found: set[str] = set()
    # one walk per revision: Alembic refuses targets that overlap (one an ancestor of another)
    for revision in revisions:
        if revision not in found:
            found.update(r.revision for r in script.revision_map.iterate_revisions(revision, "base"))
    return found


@contextmanager
def _caller_transaction(connection: sa.Connection) -> Iterator[bool]:
    """Leave the connection's transaction state as the caller had it.

    Yields True when the caller owns a transaction. Otherwise reads done here (which
    autobegin a transaction in SQLAlchemy 2) are ended, so Alembic's per-revision
    transactions start clean and nothing stays open (SQLite would keep its lock).
    """
    external = connection.in_transaction()
    try:
        yield external
    except BaseException:
        if not external and connection.in_transaction():
            connection.rollback()
        raise
    else:
        if not external and connection.in_transaction():
            connection.commit()


def _current_heads(connection: sa.Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def _applied_set(connection: sa.Connection, script: ScriptDirectory, units: Sequence[Unit]) -> set[str]:
    heads = _current_heads(connection)
    known = {rev for unit in units for rev in unit.revisions}
    unknown = [h for h in heads if h not in known]
    if unknown:
        raise ValidationError(
            f"the database is at revision(s) {', '.join(unknown)}, which none of the given units contain",
            hint="pass every unit installed in this tenant",
        )
    return _ancestors(script, heads)


def _ordered(units: Sequence[Unit], revisions: set[str]) -> list[str]:
    return [rev for unit in units for rev in unit.revisions if rev in revisions]


def _error_text(exc: BaseException) -> str:
    # DBAPIError's str() carries the whole statement and a link; the driver message is enough
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _is_bookkeeping(statement: str) -> bool:
    return "alembic_version" in statement.lower()


def _run(
    connection: sa.Connection,
    cfg: Config,
    script: ScriptDirectory,
    plan: Callable[[tuple[str, ...]], list[Any]],
    on_step: Callable[..., None],
) -> None:
    """Run the steps ``plan(current_heads)`` returns, one transaction per revision."""
    with EnvironmentContext(cfg, script, fn=lambda heads, ctx: plan(tuple(heads))) as env:
        env.configure(connection=connection, transaction_per_migration=True, on_version_apply=on_step)
        with env.begin_transaction():
            env.run_migrations()


class _Runner:
    """Times each step, captures its statements and reports a RevisionResult."""

    def __init__(self, connection: sa.Connection, owners: dict[str, Unit], direction: Direction,
                 on_revision: OnRevision | None) -> None:
        self.connection = connection
        self.owners = owners
        self.direction = direction
        self.on_revision = on_revision
        self.results: list[RevisionResult] = []
        self.planned: list[str] = []
        self.done = 0
        self.statements: list[str] = []
        self.started = time.perf_counter()
        self.unit_hint = "?"

    def __enter__(self) -> "_Runner":
        sa.event.listen(self.connection, "before_cursor_execute", self._capture)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.connection, "before_cursor_execute", self._capture)

    def _capture(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                 executemany: bool) -> None:
        self.statements.append(statement)

    def start(self, steps: list[Any]) -> list[Any]:
        # steps are Alembic RevisionSteps; the revision a step adds or removes is its up_revision
        self.planned = [step.revision.revision for step in steps]
        self.done = 0
        self.statements.clear()
        self.started = time.perf_counter()
        return steps

    def _result(self, revision: str, outcome: Outcome, error: str | None) -> RevisionResult:
        unit = self.owners[revision]
        path = unit.revision_path(revision)
        return RevisionResult(
            unit=unit.slug, kind=unit.kind, revision=revision, checksum=revision_checksum(path),
            duration_s=time.perf_counter() - self.started, outcome=outcome, direction=self.direction,
            error=error, statements=tuple(s.strip() for s in self.statements if not _is_bookkeeping(s)),
            path=path,
        )

    def step_done(self, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        result = self._result(step.up_revision_id, "ok", None)
        self.done += 1
        self.results.append(result)
        if self.on_revision is not None:
            try:
                self.on_revision(result)
            except Exception as exc:
                raise _CallbackFailed() from exc
        self.statements.clear()
        self.started = time.perf_counter()

    def expect(self, unit: str) -> None:
        """The unit the next run is for, named in errors raised before its first step."""
        self.unit_hint = unit
        self.planned = []
        self.done = 0

    def failed(self, exc: BaseException) -> MigrationFailed:
        revision = self.planned[self.done] if self.done < len(self.planned) else None
        error = _error_text(exc)
        if revision is None:  # before any revision ran, e.g. creating alembic_version
            return MigrationFailed(self.unit_hint, "(none)", error, direction=self.direction)
        result = self._result(revision, "failed", error)
        self.results.append(result)
        if self.on_revision is not None:
            self.on_revision(result)
        return MigrationFailed(self.owners[revision].slug, revision, error, direction=self.direction)


def _settle(connection: sa.Connection, external: bool) -> None:
    """End a transaction our own reads autobegan, so Alembic owns the next ones."""
    if not external and connection.in_transaction():
        connection.commit()


# Alembic annotates ``current_rev`` of these as ``str``, but its own commands pass the heads
# tuple, which RevisionMap.iterate_revisions accepts: the ignores cover that stub gap only.
def _upgrade_plan(script: ScriptDirectory, destination: str) -> Callable[[tuple[str, ...]], list[Any]]:
    return lambda heads: script._upgrade_revs(destination, heads)  # type: ignore[arg-type]


def _downgrade_plan(script: ScriptDirectory, destination: str) -> Callable[[tuple[str, ...]], list[Any]]:
    return lambda heads: script._downgrade_revs(destination, heads)  # type: ignore[arg-type]


def _migrate(
    connection: sa.Connection,
    cfg: Config,
    script: ScriptDirectory,
    runner: _Runner,
    external: bool,
    unit: str,
    plan: Callable[[tuple[str, ...]], list[Any]],
) -> None:
    _settle(connection, external)
    runner.expect(unit)
    try:
        _run(connection, cfg, script, lambda heads: runner.start(plan(heads)), runner.step_done)
    except _CallbackFailed as exc:
        # the callback runs inside the revision's transaction: its error aborts the run,
        # but it is the caller's error, not a failed migration
        cause = exc.__cause__
        assert cause is not None  # _CallbackFailed is only ever raised from the callback's error
        raise cause from None
    except CommandError as exc:
        raise ValidationError(f"alembic refused: {exc}") from None
    except Exception as exc:
        raise runner.failed(exc) from exc


# ---------------------------------------------------------------------------------------
# public API


@serialised
def apply_units(
    connection: sa.Connection,
    units: Sequence[Unit],
    *,
    on_revision: OnRevision | None = None,
    only: Collection[str] | None = None,
) -> list[RevisionResult]:
    """Upgrade each unit to its head, in the order given (basic, template, modules, custom).

    Every revision runs in its own step and ``on_revision`` hears about each one as it
    finishes. The first failing revision is reported as "failed" and raises
    ``MigrationFailed``; the revisions applied before it stay applied. ``only``: upgrade
    just these units (the others are still needed to resolve the revision map).
    """
    units = list(units)
    cfg, script = _script_for(units)
    with _caller_transaction(connection) as external, \
            _Runner(connection, _owners(units), "upgrade", on_revision) as runner:
        applied = _applied_set(connection, script, units)
        for unit in units:
            if all(rev in applied for rev in unit.revisions) or (only is not None and unit.slug not in only):
                continue
            target = f"{unit.slug}@head"
            _migrate(connection, cfg, script, runner, external, unit.slug,
                     _upgrade_plan(script, target))
            applied.update(r.revision for r in runner.results)
        return runner.results


def ancestors(units: Sequence[Unit], revision: str) -> set[str]:
    """Every revision ``revision`` needs (down revisions and depends_on), itself included."""
    _, script = _script_for(list(units))
    return _ancestors(script, [revision])


@serialised
def upgrade_to(
    connection: sa.Connection,
    units: Sequence[Unit],
    targets: Sequence[str],
    *,
    on_revision: OnRevision | None = None,
) -> list[RevisionResult]:
    """Upgrade to each of ``targets`` (revision ids, one per unit at most) and no further:
    a unit's later revisions stay pending (sync's conservative strategy holds them)."""
    units = list(units)
    owners = _owners(units)
    unknown = [t for t in targets if t not in owners]
    if unknown:
        raise ValidationError(f"unknown revision(s) {', '.join(unknown)}", hint="not part of the given units")
    cfg, script = _script_for(units)
    with _caller_transaction(connection) as external, \
            _Runner(connection, owners, "upgrade", on_revision) as runner:
        applied = _applied_set(connection, script, units)
        for target in targets:
            if target in applied:
                continue
            _migrate(connection, cfg, script, runner, external, owners[target].slug,
                     _upgrade_plan(script, target))
            applied.update(r.revision for r in runner.results)
        return runner.results


@serialised
def applied_revisions(connection: sa.Connection, units: Sequence[Unit]) -> list[str]:
    """Every applied revision, in application order.

    ``alembic_version`` holds only the minimal set of heads; the rest is implied through
    down revisions and ``depends_on``, so the revision map is walked from those heads.
    """
    units = list(units)
    _, script = _script_for(units)
    with _caller_transaction(connection):
        return _ordered(units, _applied_set(connection, script, units))


@serialised
def installed_units(connection: sa.Connection, units: Sequence[Unit]) -> list[str]:
    """Slugs of the units with at least one applied revision, in the order given."""
    applied = set(applied_revisions(connection, units))
    return [u.slug for u in units if any(rev in applied for rev in u.revisions)]


def _dependents(script: ScriptDirectory, units: Sequence[Unit], applied: set[str], revisions: set[str]) -> list[str]:
    """Applied revisions outside ``revisions`` that need one of ``revisions``."""
    others = [rev for rev in _ordered(units, applied) if rev not in revisions]
    return [rev for rev in others if _ancestors(script, [rev]) & revisions]


@serialised
def downgrade_unit(
    connection: sa.Connection,
    units: Sequence[Unit],
    slug: str,
    *,
    on_revision: OnRevision | None = None,
) -> list[RevisionResult]:
    """Remove one unit (``<slug>@base``), newest revision first.

    Refused with ``ConflictError`` while another installed unit depends on it: Alembic
    would silently take the dependent unit down too.
    """
    units = list(units)
    by_slug = {u.slug: u for u in units}
    if slug not in by_slug:
        raise ValidationError(f"unknown unit '{slug}'", hint=f"units given: {', '.join(by_slug)}")
    unit = by_slug[slug]
    cfg, script = _script_for(units)
    owners = _owners(units)
    with _caller_transaction(connection) as external, \
            _Runner(connection, owners, "downgrade", on_revision) as runner:
        applied = _applied_set(connection, script, units)
        mine = set(unit.revisions) & applied
        if not mine:
            return []
        blocking = sorted({owners[rev].slug for rev in _dependents(script, units, applied, mine)},
                          key=list(by_slug).index)
        if blocking:
            raise ConflictError(
                f"cannot remove unit '{slug}': installed unit{'s' if len(blocking) > 1 else ''} "
                f"{', '.join(blocking)} depend{'' if len(blocking) > 1 else 's'} on it",
                hint="remove the dependent units first",
            )
        _migrate(connection, cfg, script, runner, external, slug,
                 _downgrade_plan(script, f"{slug}@base"))
        return runner.results


@serialised
def downgrade_revisions(
    connection: sa.Connection,
    units: Sequence[Unit],
    revision_ids: Sequence[str],
    *,
    on_revision: OnRevision | None = None,
) -> list[RevisionResult]:
    """Roll back the given revisions, newest first (e.g. the batch a failed job applied).

    Revisions that are not applied are skipped. Refused with ``ConflictError`` when an
    applied revision outside the list depends on one of them.
    """
    units = list(units)
    owners = _owners(units)
    unknown = [rev for rev in revision_ids if rev not in owners]
    if unknown:
        raise ValidationError(f"unknown revision{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                              hint="not part of the given units")
    cfg, script = _script_for(units)
    with _caller_transaction(connection) as external, \
            _Runner(connection, owners, "downgrade", on_revision) as runner:
        applied = _applied_set(connection, script, units)
        targets = set(revision_ids) & applied
        blocking = _dependents(script, units, applied, targets)
        if blocking:
            raise ConflictError(
                f"cannot roll back {', '.join(_ordered(units, targets))}: applied revision"
                f"{'s' if len(blocking) > 1 else ''} {', '.join(blocking)} depend on them",
                hint="include them in the rollback",
            )
        for rev in reversed(_ordered(units, targets)):
            unit = owners[rev]
            index = unit.revisions.index(rev)
            destination = unit.revisions[index - 1] if index else f"{unit.slug}@base"
            _migrate(connection, cfg, script, runner, external, unit.slug,
                     _downgrade_plan(script, destination))
        return runner.results


@serialised
def pending(connection: sa.Connection | None, units: Sequence[Unit]) -> list[PlannedRevision]:
    """Revisions not yet applied, unit by unit in execution order (no SQL rendered)."""
    units = list(units)
    applied = set(applied_revisions(connection, units)) if connection is not None else set()
    return [_planned(unit, rev) for unit in units for rev in unit.revisions if rev not in applied]


def _planned(unit: Unit, revision: str, sql: Sequence[str] = (), version_sql: Sequence[str] = ()) -> PlannedRevision:
    info = unit.revision_files[revision]
    return PlannedRevision(
        unit=unit.slug, kind=unit.kind, revision=revision, path=info.path,
        checksum=revision_checksum(info.path), message=info.message,
        sql=tuple(sql), version_sql=tuple(version_sql),
    )


@serialised
def applied_from_heads(units: Sequence[Unit], heads: Sequence[str]) -> list[str]:
    """Applied revisions implied by a version table's heads, in unit order (the table
    stores only the minimal set of heads; read in bulk by fleet scans)."""
    units = list(units)
    _, script = _script_for(units)
    known = {r for u in units for r in u.revisions}
    done = _ancestors(script, [h for h in heads if h in known])
    return [r for u in units for r in u.revisions if r in done]

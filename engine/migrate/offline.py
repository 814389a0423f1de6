"""Offline rendering: the exact SQL a unit set's upgrade or a rollback would run, via
Alembic's offline (``--sql``) mode, for previews, compiled plans and dry runs."""
from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from alembic.runtime.environment import EnvironmentContext

from tenantops.engine.alembic_lock import serialised
from tenantops.engine.catalog import Unit
from tenantops.engine.errors import ValidationError
from tenantops.engine.migrate.driver import (
    PlannedRevision,
    _ancestors,
    _is_bookkeeping,
    _ordered,
    _owners,
    _planned,
    _script_for,
)

_OFFLINE_DIALECTS = {"sqlite": "sqlite", "mysql": "mysql", "mariadb": "mariadb"}


class _StatementBuffer(io.StringIO):
    """Alembic's offline output buffer (a text stream to it): it writes one statement (or
    comment) per call, which is kept as a chunk of its own."""

    def __init__(self, dialect: str = "sqlite") -> None:
        super().__init__()
        self.chunks: list[str] = []
        # MySQL-family statements are compiled for a format-paramstyle driver, with every %
        # doubled; the statements kept are what the server runs (replay doubles them again
        # for exec_driver_sql), so a '100%' literal stays '100%' and not '100%%'
        self.halve_percents = dialect in ("mysql", "mariadb")

    def write(self, text: str) -> int:
        self.chunks.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def take(self) -> tuple[list[str], list[str]]:
        sql: list[str] = []
        version_sql: list[str] = []
        for chunk in self.chunks:
            statement = chunk.strip()
            if not statement or statement.startswith("--"):
                continue
            statement = statement.removesuffix(";").rstrip()
            if self.halve_percents:
                statement = statement.replace("%%", "%")
            (version_sql if _is_bookkeeping(statement) else sql).append(statement)
        self.chunks.clear()
        return sql, version_sql


def _offline_dialect(dialect_name: str) -> str:
    dialect = _OFFLINE_DIALECTS.get(dialect_name.lower())
    if dialect is None:
        raise ValidationError(f"unknown SQL dialect '{dialect_name}'", hint=f"one of {', '.join(_OFFLINE_DIALECTS)}")
    return dialect


@serialised
def render_sql(
    units: Sequence[Unit],
    dialect_name: str,
    applied: Sequence[str] | None = None,
) -> list[PlannedRevision]:
    """The exact SQL each pending revision runs on ``dialect_name``, via Alembic's offline mode.

    ``applied`` lists the revisions already in the database (none: a new tenant). The
    statements are those ``apply_units`` executes (compare with ``normalize_sql``); the
    version-table statements are in ``version_sql``.
    """
    dialect = _offline_dialect(dialect_name)
    units = list(units)
    owners = _owners(units)
    cfg, script = _script_for(units)
    unknown = [rev for rev in applied or () if rev not in owners]
    if unknown:
        raise ValidationError(f"unknown applied revision(s) {', '.join(unknown)}", hint="not part of the given units")
    done = _ancestors(script, list(applied or ()))
    # offline mode starts from explicit heads: the applied revisions nothing else needs
    heads = sorted(done - set().union(*(_ancestors(script, [r]) - {r} for r in done)))
    planned: list[PlannedRevision] = []
    for unit in units:
        if all(rev in done for rev in unit.revisions):
            continue
        buffer = _StatementBuffer(dialect)

        def on_step(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            sql, version_sql = buffer.take()
            revision = step.up_revision_id
            planned.append(_planned(owners[revision], revision, sql, version_sql))
            state["heads"] = sorted(heads)
            done.add(revision)

        state = {"heads": heads}
        target = f"{unit.slug}@head"
        with EnvironmentContext(cfg, script, fn=lambda rev, ctx, target=target: script._upgrade_revs(target, rev),
                                as_sql=True, starting_rev=list(heads) or None, destination_rev=target) as env:
            env.configure(dialect_name=dialect, output_buffer=buffer, transaction_per_migration=True,
                          on_version_apply=on_step)
            with env.begin_transaction():
                env.run_migrations()
        heads = state["heads"]
    return planned



@serialised
def render_downgrade_sql(
    units: Sequence[Unit],
    dialect_name: str,
    applied: Sequence[str],
    revision_ids: Sequence[str],
) -> list[PlannedRevision]:
    """The exact SQL that rolling back ``revision_ids`` (newest first) would run, via
    Alembic's offline mode, starting from the ``applied`` revisions; for dry runs of
    rollback and module removal."""
    dialect = _offline_dialect(dialect_name)
    units = list(units)
    owners = _owners(units)
    cfg, script = _script_for(units)
    done = _ancestors(script, [r for r in applied if r in owners])
    heads = sorted(done - set().union(*(_ancestors(script, [r]) - {r} for r in done)))
    planned: list[PlannedRevision] = []
    for rev in reversed(_ordered(units, set(revision_ids) & done)):
        unit = owners[rev]
        index = unit.revisions.index(rev)
        destination = unit.revisions[index - 1] if index else f"{unit.slug}@base"
        buffer = _StatementBuffer(dialect)
        state = {"heads": heads}

        def on_step(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
            state["heads"] = sorted(heads)

        with EnvironmentContext(cfg, script, fn=lambda r, ctx, d=destination: script._downgrade_revs(d, r),
                                as_sql=True, starting_rev=list(heads) or None,
                                destination_rev=destination) as env:
            env.configure(dialect_name=dialect, output_buffer=buffer, transaction_per_migration=True,
                          on_version_apply=on_step)
            with env.begin_transaction():
                env.run_migrations()
        sql, version_sql = buffer.take()
        planned.append(_planned(unit, rev, sql, version_sql))
        heads = state["heads"]
    return planned

"""Review of a custom migration before anyone approves it: what it really does, found by
running it, not by reading its Python.

The tenant's current schema is built in a shadow database from its own applied
revisions; the migration's upgrade runs there (its offline SQL, exactly what apply would
run, raw statements included), the schema is captured before and after and diffed with
the project's schema diff. Its downgrade then runs and must give back the schema it
started from (the round trip). Analyzers turn the changes into findings with stable codes,
with counts read from the live tenant (read-only, time-limited), in the spirit of Atlas's
``migrate lint``.

Finding codes (stable; a script may match them):

=======  ========  ===============================================================
TO101    error     drops a table (rows in the live tenant)
TO102    error     drops a column (non-null values in the live tenant)
TO103    error     narrows a column's type (values that would not fit)
TO104    error     makes a column NOT NULL / adds one without default on a table with rows
TO105    error     adds a UNIQUE index over existing duplicates
TO106    warning   renames a table or a column (drop + create of the same shape)
TO107    warning   drops a foreign key
TO108    warning   converts a table's engine or collation (rows rewritten)
TO201    error     the downgrade does not restore the schema (round trip)
TO301    warning   its SQL cannot be shown beforehand (offline rendering failed); it was run for real
TO302    error     the upgrade fails on the tenant's schema
=======  ========  ===============================================================
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine import catalog as catalog_mod
from tenantops.engine.context import Context
from tenantops.engine.errors import ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.migrate import driver, offline, plans
from tenantops.engine.migrate.driver import MigrationFailed
from tenantops.engine.migrate.shadow import Shadow, schema_name
from tenantops.engine.migrate.units import custom_dir, units_for
from tenantops.engine.schema.capture import capture
from tenantops.engine.schema.diff import Difference, diff_schemas
from tenantops.engine.schema.names import validate_identifier
from tenantops.engine.servers.adapters import Adapter, adapter_for
from tenantops.engine.tenants.guarded import applied, dialect

MANAGED_HEADER = "# --- managed by tenantops: revision identifiers (do not edit below) ---"
# a count that takes longer than this is reported as unknown rather than waited for
COUNT_SECONDS = 5

_LENGTH = re.compile(r"^(var)?(char|binary)\((\d+)\)")


def managed_file(content: str, slug: str, revision: str, previous: str | None) -> str:
    """The custom revision file as tenantops writes it: the author's code plus revision
    identifiers tenantops manages (its own branch, chained after the previous one)."""
    label = "custom_" + slug.replace("-", "_")
    header = "\n".join([
        "", MANAGED_HEADER,
        f"revision = {revision!r}",
        f"down_revision = {previous!r}",
        f"branch_labels = {(label,)!r}" if previous is None else "branch_labels = None",
        "depends_on = None", ""])
    return content.rstrip("\n") + "\n" + header


@contextmanager
def _with_candidate(ctx: Context, slug: str, content: str, revision: str) -> Iterator[catalog_mod.Unit]:
    """The tenant's custom unit as it would be with this migration appended, in a scratch
    folder (the tenant's real folder is not touched)."""
    scratch = Path(tempfile.mkdtemp(prefix="tenantops-review-"))
    try:
        folder = scratch / "versions"
        folder.mkdir()
        source = custom_dir(ctx, slug)
        for path in sorted(source.glob("*.py")) if source.is_dir() else []:
            shutil.copy2(path, folder / path.name)
        previous = catalog_mod.custom_unit(slug, folder).head or None if any(folder.glob("*.py")) else None
        (folder / f"{revision}.py").write_text(managed_file(content, slug, revision, previous))
        yield catalog_mod.custom_unit(slug, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def review(ctx: Context, tenant: m.Tenant, server: m.Server, *, content: str, revision: str) -> dict[str, Any]:
    """The review document: changes, round trip, findings and the SQL, for one candidate
    custom migration of ``tenant``. Never changes the tenant."""
    slug = tenant.slug
    assert tenant.database is not None
    adapter = adapter_for(server)
    try:
        units, _ = units_for(ctx, tenant)
        done = applied(adapter, tenant.database, units)
        family = dialect(server)
        with _with_candidate(ctx, slug, content, revision) as candidate:
            with_new = [u for u in units if u.kind != "custom"] + [candidate]
            findings: list[dict[str, str]] = []
            sql: list[str] = []
            downgrade_sql: list[str] = []
            try:
                sql = [s for p in offline.render_sql(with_new, family, done) if p.revision == revision for s in p.sql]
                downgrade_sql = [s for p in offline.render_downgrade_sql(with_new, family, [*done, revision],
                                                                         [revision]) for s in p.sql]
            except Exception as exc:  # noqa: BLE001 - whatever the author's Python raised offline
                first = str(exc).splitlines()[0] if str(exc) else ""
                findings.append(_finding("TO301", "warning", f"its SQL cannot be shown beforehand "
                                                             f"({type(exc).__name__}: {first[:160]}); "
                                                             "the review ran it for real in the shadow"))
            before, after, back, error = _run_in_shadow(adapter, units, done, with_new, candidate.slug, revision)
        if error is not None:
            findings.append(_finding("TO302", "error", f"the upgrade fails on the tenant's schema: {error}"))
            return {"changes": [], "round_trip": "not run: the upgrade failed in the shadow",
                    "findings": findings, "sql": sql, "downgrade_sql": downgrade_sql}
        changes = diff_schemas(before, after)
        round_trip = _round_trip(before, back)
        findings += _analyze(adapter, tenant.database, before, after, changes)
        if round_trip != "ok":
            findings.append(_finding("TO201", "error", f"the downgrade does not restore the schema: {round_trip}"))
        findings.sort(key=lambda f: (f["severity"] != "error", f["code"]))
        return {"changes": [_change_json(d) for d in _destructive_first(changes)],
                "round_trip": round_trip, "findings": findings, "sql": sql, "downgrade_sql": downgrade_sql}
    finally:
        adapter.dispose()


def destructive(review_doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The findings that make a migration unsafe to approve without saying so."""
    return [f for f in (review_doc or {}).get("findings", []) if f["severity"] == "error"]


def _finding(code: str, severity: str, message: str) -> dict[str, str]:
    return {"code": code, "severity": severity, "message": message}


def _run_in_shadow(adapter: Adapter, current: list[catalog_mod.Unit], done: list[str],
                   units: list[catalog_mod.Unit], custom: str, revision: str) -> tuple[dict, dict, dict, str | None]:
    """The tenant's applied revisions replayed, then the candidate's upgrade and downgrade
    through the Alembic driver, exactly as `custom apply` and `rollback` run them."""
    family = "sqlite" if adapter.dialect == "sqlite" else "mysql"
    with Shadow(adapter, f"review{revision}") as engine, engine.connect() as conn:
        try:
            plans.replay(conn, [p for p in plans.compiled(current, family) if p.revision in set(done)])
        except ValidationError:
            # an applied custom revision that cannot be rendered offline (SQLite batch
            # mode): bring the shadow up through the driver instead
            driver.apply_units(conn, current)
            conn.commit()
        name = schema_name(conn)
        before = capture(conn, name)
        try:
            driver.apply_units(conn, units, only={custom})
            conn.commit()
        except MigrationFailed as exc:
            return before, before, before, exc.error
        after = capture(conn, name)
        try:
            driver.downgrade_revisions(conn, units, [revision])
            conn.commit()
        except MigrationFailed as exc:
            return before, after, {"error": exc.error}, None
        back = capture(conn, name)
    return before, after, back, None


def _round_trip(before: dict, back: dict) -> str:
    if "error" in back and "tables" not in back:
        return f"the downgrade fails: {back['error']}"
    left = diff_schemas(before, back)
    if not left:
        return "ok"
    shown = "; ".join(f"{d.object} {d.table + '.' if d.table and d.table != d.name else ''}{d.name} "
                      f"{'missing' if d.change == 'removed' else 'left over' if d.change == 'added' else 'differs'}"
                      for d in left[:5])
    return shown + (f" (+{len(left) - 5} more)" if len(left) > 5 else "")


def _destructive_first(changes: list[Difference]) -> list[Difference]:
    return sorted(changes, key=lambda d: (d.change != "removed", d.change != "modified"))


def is_destructive(d: Difference) -> bool:
    """A change of diff_schemas(before, after) that can lose data: a table or column
    dropped, or a column's type or nullability changed."""
    return (d.change == "removed" and d.object in ("table", "column")
            or (d.change == "modified" and d.object == "column" and d.attribute in ("type", "nullable")))


def _change_json(d: Difference) -> dict[str, Any]:
    # diff_schemas(before, after): "removed" = the migration drops it, "added" = creates it
    return {"object": d.object, "change": d.change, "table": d.table, "name": d.name, "attribute": d.attribute,
            "before": d.expected, "after": d.actual, "destructive": is_destructive(d)}


# -- analyzers --------------------------------------------------------------------------------


def _analyze(adapter: Adapter, database: str, before: dict, after: dict,
             changes: list[Difference]) -> list[dict[str, str]]:
    findings: list[dict[str, str]] = []
    counter = _Counter(adapter, database)
    tables_before = before.get("tables", {})
    tables_after = after.get("tables", {})
    dropped_tables = [d.name for d in changes if d.object == "table" and d.change == "removed"]
    created_tables = [d.name for d in changes if d.object == "table" and d.change == "added"]
    try:
        for name in dropped_tables:
            renamed = next((c for c in created_tables
                            if tables_after[c]["columns"].keys() == tables_before[name]["columns"].keys()), None)
            if renamed:
                findings.append(_finding("TO106", "warning", f"renames table {name} to {renamed} "
                                                            "(code that uses the old name breaks)"))
            rows = counter.rows(name)
            findings.append(_finding("TO101", "error", f"drops table {name} ({_n(rows, 'row')} in the tenant)"))
        for d in changes:
            if d.table in dropped_tables or d.table in created_tables:
                continue
            if d.object == "column" and d.change == "removed":
                assert d.table is not None
                values = counter.non_null(d.table, d.name)
                findings.append(_finding("TO102", "error", f"drops column {d.table}.{d.name} "
                                                           f"({_n(values, 'non-null value')} in the tenant)"))
            elif d.object == "column" and d.change == "modified" and d.attribute == "type":
                assert d.table is not None
                limit = _narrowed(str(d.expected), str(d.actual))
                if limit is not None:
                    over = counter.longer_than(d.table, d.name, limit)
                    findings.append(_finding("TO103", "error" if over else "warning",
                                             f"narrows {d.table}.{d.name} from {d.expected} to {d.actual} "
                                             f"({_n(over, 'value')} longer than {limit})"))
            elif d.object == "column" and d.change == "modified" and d.attribute == "nullable" and d.actual is False:
                assert d.table is not None
                nulls = counter.nulls(d.table, d.name)
                findings.append(_finding("TO104", "error" if nulls else "warning",
                                         f"makes {d.table}.{d.name} NOT NULL ({_n(nulls, 'NULL value')} in the tenant)"))
            elif d.object == "column" and d.change == "added":
                assert d.table is not None
                col = tables_after[d.table]["columns"][d.name]
                if not col["nullable"] and col["default"] is None and not col.get("autoincrement"):
                    rows = counter.rows(d.table)
                    if rows != 0:
                        findings.append(_finding("TO104", "error", f"adds NOT NULL column {d.table}.{d.name} without "
                                                                   f"a default to a table with {_n(rows, 'row')}"))
            elif d.object == "index" and d.change == "added":
                assert d.table is not None
                index = tables_after[d.table]["indexes"].get(d.name) or {}
                if index.get("unique"):
                    dupes = counter.duplicates(d.table, index.get("columns") or [])
                    if dupes != 0:
                        findings.append(_finding("TO105", "error", f"adds UNIQUE index {d.name} on {d.table} "
                                                                   f"over {_n(dupes, 'duplicated value')}"))
            elif d.object == "foreign_key" and d.change == "removed":
                findings.append(_finding("TO107", "warning", f"drops foreign key {d.name} of {d.table}"))
            elif d.object == "option" and d.change == "modified" and d.name in ("engine", "collation", "charset"):
                assert d.table is not None
                findings.append(_finding("TO108", "warning", f"converts {d.table}'s {d.name} from {d.expected} to "
                                                             f"{d.actual}: {_n(counter.rows(d.table), 'row')} rewritten"))
        _column_renames(changes, tables_before, tables_after, findings)
    finally:
        counter.close()
    return findings


def _column_renames(changes: list[Difference], before: dict, after: dict, findings: list[dict[str, str]]) -> None:
    removed = [(d.table, d.name) for d in changes if d.object == "column" and d.change == "removed"]
    added = [(d.table, d.name) for d in changes if d.object == "column" and d.change == "added"]
    for table, old in removed:
        for t2, new in added:
            if t2 == table and before[table]["columns"][old]["type"] == after[table]["columns"][new]["type"]:
                findings.append(_finding("TO106", "warning", f"renames column {table}.{old} to {new} "
                                                             "(its data is dropped, not moved)"))


def _narrowed(old: str, new: str) -> int | None:
    a, b = _LENGTH.match(old), _LENGTH.match(new)
    if a and b and int(b.group(3)) < int(a.group(3)):
        return int(b.group(3))
    return None


def _n(count: int | None, noun: str) -> str:
    if count is None:
        return f"unknown number of {noun}s (count timed out)"
    return f"{count} {noun}{'' if count == 1 else 's'}"


class _Counter:
    """Read-only counts on the live tenant, each bounded in time."""

    def __init__(self, adapter: Adapter, database: str) -> None:
        self.engine = adapter.engine(database)
        self.conn = self.engine.connect()
        self.mysql = self.conn.dialect.name in ("mysql", "mariadb")
        if self.mysql:
            # MariaDB's statement limit; a read over it fails instead of stalling the review
            self.conn.exec_driver_sql(f"SET SESSION max_statement_time = {COUNT_SECONDS}")

    def _q(self, name: str) -> str:
        # names come from the shadow's capture of the author's migration: strict rules, quoted
        return self.conn.dialect.identifier_preparer.quote(validate_identifier(name))

    def _count(self, build: Callable[[], str]) -> int | None:
        try:
            value = self.conn.execute(sa.text(build())).scalar()
        except (sa.exc.DBAPIError, ValidationError):
            self.conn.rollback()
            return None
        return int(value or 0)

    def rows(self, table: str) -> int | None:
        return self._count(lambda: f"SELECT COUNT(*) FROM {self._q(table)}")

    def non_null(self, table: str, column: str) -> int | None:
        return self._count(lambda: f"SELECT COUNT({self._q(column)}) FROM {self._q(table)}")

    def nulls(self, table: str, column: str) -> int | None:
        return self._count(lambda: f"SELECT COUNT(*) FROM {self._q(table)} WHERE {self._q(column)} IS NULL")

    def longer_than(self, table: str, column: str, limit: int) -> int | None:
        length = "CHAR_LENGTH" if self.mysql else "LENGTH"
        return self._count(lambda: f"SELECT COUNT(*) FROM {self._q(table)} WHERE {length}({self._q(column)}) > {int(limit)}")

    def duplicates(self, table: str, columns: list[str]) -> int | None:
        if not columns:
            return 0
        try:
            cols = ", ".join(self._q(c) for c in columns)
            not_null = " AND ".join(f"{self._q(c)} IS NOT NULL" for c in columns)
        except ValidationError:
            return None
        return self._count(lambda: f"SELECT COALESCE(SUM(n), 0) FROM (SELECT COUNT(*) AS n FROM {self._q(table)} "
                                   f"WHERE {not_null} GROUP BY {cols} HAVING COUNT(*) > 1) dup")

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

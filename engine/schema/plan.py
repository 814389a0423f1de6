"""Repair plans: which operation repairs which difference, in which order.

Order keeps dependencies intact: extra foreign keys and indexes go first, then extras are
quarantined, missing tables are created (referenced tables first), columns added (in
their expected position) and altered, then indexes, then foreign keys. The planner
simulates the schema as the operations change it, so later operations are rendered
against the state earlier ones leave behind.

``safe`` means the operation can't lose or rewrite stored data and removes nothing that
has no expected counterpart: creating missing objects, restoring a default, widening a
type or nullability, re-creating a changed index/foreign key. Everything else (dropping
extras, narrowing, collation/engine changes, auto-increment) is unsafe.

Views, triggers, routines, events and CHECK constraints: a missing one is re-created from
the expected definition (safe); an unexpected one is moved aside (its live definition is
saved in quarantine, then it is dropped; unsafe) and a changed one is replaced the same
way (``CREATE OR REPLACE`` where the server has it), never silently dropped.

Left to people (in ``plan.skipped`` with the reason): primary-key changes, the order of
existing columns, expression indexes, subpartitions, CHECK constraints
and generated-column details on SQLite (part of CREATE TABLE there), and narrowing on a
table without a primary key to keep values by.
"""
from __future__ import annotations

import copy
import functools
import re
import graphlib
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa

from tenantops.engine.errors import TenantopsError, ValidationError

from tenantops.engine.schema import sqldefs
from tenantops.engine.schema import sqlobjects as so
from tenantops.engine.schema import steps
from tenantops.engine.schema.coltypes import repair_narrows
from tenantops.engine.schema.ddl import AddColumnAt, AlterTableOptions, ModifyColumn
from tenantops.engine.schema.diff import Difference, engine_loses
from tenantops.engine.schema.fitting import fit_text
from tenantops.engine.schema.names import quarantine_name, validate_identifier, validate_suffix
from tenantops.engine.schema.quarantine import QuarantineRecord
from tenantops.engine.vocab import REPAIR_STRATEGIES, DiffChange, DiffObject, RepairStrategy

# the names this module has always used (the vocabulary itself lives in vocab.py)
Strategy = RepairStrategy
STRATEGIES = REPAIR_STRATEGIES


@dataclass
class Operation:
    object: DiffObject
    change: DiffChange
    table: str | None
    name: str
    description: str
    safe: bool
    attribute: str | None = None
    destructive: bool = False  # moves data into quarantine or rewrites stored values
    sql: list[str] = field(default_factory=list)
    run: Callable[["steps.Runtime"], None] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict:
        return {
            "sql": list(self.sql), "safe": self.safe, "object": self.object, "change": self.change,
            "table": self.table, "name": self.name, "attribute": self.attribute,
            "description": self.description, "destructive": self.destructive,
        }


@dataclass
class Skipped:
    difference: Difference
    reason: str

    def to_json(self) -> dict:
        return {**self.difference.to_json(), "reason": self.reason}


@dataclass
class RepairPlan:
    dialect: str
    strategy: RepairStrategy
    operations: list[Operation] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def sql(self) -> list[str]:
        return [statement for op in self.operations for statement in op.sql]

    def to_json(self) -> dict:
        return {
            "dialect": self.dialect, "strategy": self.strategy,
            "operations": [op.to_json() for op in self.operations],
            "skipped": [s.to_json() for s in self.skipped],
        }


def plan_repair(
    expected: dict,
    actual: dict,
    differences: list[Difference],
    dialect: str,
    *,
    strategy: Strategy = "conservative",
    quarantine_suffix: str = "preview",
) -> RepairPlan:
    """Operations that bring ``actual`` back to ``expected`` for the given differences.

    ``dialect``: "sqlite", "mysql" or "mariadb". ``conservative`` plans only safe
    operations (the rest land in ``skipped``); ``aggressive`` plans everything;
    ``manual`` plans everything for review and can't be executed. ``quarantine_suffix``
    only names quarantine tables in the preview; :func:`execute_plan` uses its own.
    """
    if dialect not in steps.FAMILY:
        raise ValidationError(f"repair does not support the {dialect!r} dialect")
    if strategy not in STRATEGIES:
        raise ValidationError(f"unknown repair strategy {strategy!r}", hint="conservative, aggressive or manual")
    validate_suffix(quarantine_suffix)
    planner = _Planner(expected, actual, dialect, strategy, quarantine_suffix)
    planner.build(differences)
    return RepairPlan(dialect, strategy, planner.operations, planner.skipped)


# What a planning step makes: the operation and its effect on the simulated schema, or
# None when an earlier operation already covered the difference.
Made = tuple[Operation, Callable[[], None]] | None


class _Planner:
    def __init__(self, expected: dict, actual: dict, dialect: str, strategy: RepairStrategy, suffix: str) -> None:
        self.expected = expected
        self.state = copy.deepcopy(actual)  # what the database looks like after the ops so far
        self.dialect = dialect
        self.family = steps.FAMILY[dialect]
        self.strategy = strategy
        self.runtime, self.recorder = steps.offline_runtime(dialect, suffix)
        self.operations: list[Operation] = []
        self.skipped: list[Skipped] = []

    # -- driver --

    def build(self, differences: list[Difference]) -> None:
        phases: dict[int, list[Difference]] = {}
        for diff in differences:
            if diff.accepted:
                self.skipped.append(Skipped(diff, "accepted drift"))
                continue
            phases.setdefault(_phase(diff), []).append(diff)
        for phase in sorted(phases):
            diffs = phases[phase]
            if phase == 4:
                self._create_tables(diffs)
                continue
            if phase == 6:
                diffs.sort(key=self._column_order)
            for diff in diffs:
                self._handle(diff, functools.partial(self._dispatch, diff))

    def _handle(self, diff: Difference, make: Callable[[], Made]) -> None:
        try:
            made = make()
        except steps.Manual as reason:
            self.skipped.append(Skipped(diff, str(reason)))
            return
        except TenantopsError as error:
            self.skipped.append(Skipped(diff, str(error)))
            return
        except KeyError as missing:
            # The difference names something the given schemas do not have (a stale report).
            self.skipped.append(Skipped(diff, f"{missing} is not in the schemas this plan was made from"))
            return
        if made is None:
            return  # already covered by an earlier operation
        op, effect = made
        self._offer(diff, op, effect)

    def _offer(self, diff: Difference, op: Operation, effect: Callable[[], None]) -> None:
        if self.strategy == "conservative" and not op.safe:
            self.skipped.append(Skipped(diff, "not safe: needs the aggressive strategy"))
            return
        assert op.run is not None, "every planned operation has its run function"
        start = len(self.recorder.statements)
        try:
            op.run(self.runtime)
        except steps.AlreadyDone:
            del self.recorder.statements[start:]
            return
        except TenantopsError as error:
            del self.recorder.statements[start:]
            self.skipped.append(Skipped(diff, str(error)))
            return
        op.sql = self.recorder.statements[start:]
        self.operations.append(op)
        effect()

    def _dispatch(self, d: Difference) -> Made:
        if d.object in _SQL_OBJECTS:
            return self._sql_object(d)
        if d.object == "partition":
            return self._partitioning(d, validate_identifier(d.table, "table"))
        if d.object == "index" and d.name == "PRIMARY":
            raise steps.Manual("primary key changes are repaired by hand")
        table = validate_identifier(d.table, "table")
        validate_identifier(d.name, d.object.replace("_", " "))
        handler: Callable[[Difference, str], Made] | None = {
            ("foreign_key", "added"): self._drop_foreign_key,
            ("foreign_key", "removed"): self._create_foreign_key,
            ("foreign_key", "modified"): self._recreate_foreign_key,
            ("index", "added"): self._drop_index,
            ("index", "removed"): self._create_index,
            ("index", "modified"): self._recreate_index,
            ("column", "added"): self._quarantine_column,
            ("column", "removed"): self._add_column,
            ("column", "modified"): self._alter_column,
            ("table", "added"): self._quarantine_table,
            ("option", "modified"): self._table_options,
            ("check", "added"): self._check,
            ("check", "removed"): self._check,
            ("check", "modified"): self._check,
        }.get((d.object, d.change))
        if handler is None:
            raise steps.Manual(f"no automatic repair for {d.object} {d.change}")
        return handler(d, table)

    def _column_order(self, d: Difference) -> tuple:
        # Missing columns first, in expected position order, so AFTER always finds its anchor.
        if d.change == "removed":
            column = self.expected["tables"].get(d.table, {}).get("columns", {}).get(d.name)
            return (0, d.table, column["position"] if column else 0, d.name)
        return (1, d.table, 0, d.name + (d.attribute or ""))

    def _snapshot(self, table: str) -> dict:
        return copy.deepcopy(self.state["tables"][table])

    def _expected_table(self, table: str) -> dict:
        return self.expected["tables"][table]

    # -- foreign keys --

    def _drop_foreign_key(self, d: Difference, table: str) -> Made:
        name = d.name
        planned = self._snapshot(table)

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None or name not in current["foreign_keys"]:
                raise steps.AlreadyDone
            steps.drop_foreign_key(rt, table, name, planned)

        op = Operation("foreign_key", "added", table, name, f"drop foreign key {name} on {table} (not expected)", safe=False, run=run)
        return op, lambda: self.state["tables"][table]["foreign_keys"].pop(name, None)

    def _create_foreign_key(self, d: Difference, table: str) -> Made:
        name = d.name
        fk = self._expected_table(table)["foreign_keys"][name]
        return self._fk_op(d, table, name, fk, recreate=False)

    def _recreate_foreign_key(self, d: Difference, table: str) -> Made:
        name = d.name
        if self.state["tables"][table]["foreign_keys"].get(name) == self._expected_table(table)["foreign_keys"][name]:
            return None
        fk = self._expected_table(table)["foreign_keys"][name]
        return self._fk_op(d, table, name, fk, recreate=True)

    def _fk_op(self, d: Difference, table: str, name: str, fk: dict, *, recreate: bool) -> Made:
        so.fk_args(fk, self.family)  # validate now, not halfway through a run
        planned = self._snapshot(table)

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None:
                raise TenantopsError(f"table {table} does not exist")
            if current["foreign_keys"].get(name) == fk:
                raise steps.AlreadyDone
            exists = name in current["foreign_keys"]
            args = so.fk_args(fk, rt.family)
            if rt.family == "sqlite":
                with rt.batch(table, planned) as batch:
                    if exists:
                        batch.drop_constraint(name, type_="foreignkey")
                    batch.create_foreign_key(name, **args)
            else:
                if exists:
                    rt.ops.drop_constraint(name, table, type_="foreignkey")
                rt.ops.create_foreign_key(name, table, **args)

        verb = "re-create" if recreate else "create"
        op = Operation("foreign_key", d.change, table, name, f"{verb} foreign key {name} on {table}", safe=True,
                       attribute=d.attribute, run=run)
        return op, lambda: self.state["tables"][table]["foreign_keys"].__setitem__(name, copy.deepcopy(fk))

    # -- indexes --

    def _drop_index(self, d: Difference, table: str) -> Made:
        name = d.name
        planned = self._snapshot(table)

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None or name not in current["indexes"]:
                raise steps.AlreadyDone
            steps.drop_index(rt, table, name, planned)

        op = Operation("index", "added", table, name, f"drop index {name} on {table} (not expected)", safe=False, run=run)
        return op, lambda: self.state["tables"][table]["indexes"].pop(name, None)

    def _create_index(self, d: Difference, table: str) -> Made:
        return self._index_op(d, table, recreate=False)

    def _recreate_index(self, d: Difference, table: str) -> Made:
        if self.state["tables"][table]["indexes"].get(d.name) == self._expected_table(table)["indexes"][d.name]:
            return None
        return self._index_op(d, table, recreate=True)

    def _index_op(self, d: Difference, table: str, *, recreate: bool) -> Made:
        name = d.name
        idef = self._expected_table(table)["indexes"][name]
        for entry in idef["columns"]:
            try:
                so.parse_index_column(entry)
            except ValidationError as error:
                raise steps.Manual(str(error)) from None
        planned = self._snapshot(table)

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None:
                raise TenantopsError(f"table {table} does not exist")
            if current["indexes"].get(name) == idef:
                raise steps.AlreadyDone
            if name in current["indexes"]:
                steps.drop_index(rt, table, name, planned)
            steps.create_index(rt, table, name, idef)

        verb = "re-create" if recreate else "create"
        op = Operation("index", d.change, table, name, f"{verb} index {name} on {table}", safe=True,
                       attribute=d.attribute, run=run)
        return op, lambda: self.state["tables"][table]["indexes"].__setitem__(name, copy.deepcopy(idef))

    # -- extra tables and columns: quarantine --

    def _quarantine_table(self, d: Difference, table: str) -> Made:
        def run(rt: steps.Runtime) -> None:
            if rt.table(table, {}) is None:
                raise steps.AlreadyDone
            target = quarantine_name(rt.suffix, table)
            rows = rt.count(table)
            rt.ops.rename_table(table, target)
            rt.records.append(QuarantineRecord("table", table, None, rows, target))

        op = Operation("table", "added", table, table, f"move table {table} (not expected) into quarantine",
                       safe=False, destructive=True, run=run)
        return op, lambda: self.state["tables"].pop(table, None)

    def _quarantine_column(self, d: Difference, table: str) -> Made:
        name = d.name
        planned = self._snapshot(table)
        key = planned["primary_key"]
        if not key:
            raise steps.Manual(f"{table} has no primary key to keep the values of {name} by")
        if name in key:
            raise steps.Manual(f"{name} is part of the primary key of {table}")

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None or name not in current["columns"]:
                raise steps.AlreadyDone
            target = quarantine_name(rt.suffix, table, name)
            rows = steps.copy_aside(rt, table, current, name, target, where=None)
            if rt.family == "sqlite":
                with rt.batch(table, planned) as batch:
                    batch.drop_column(name)
            else:
                rt.ops.drop_column(table, name)
            rt.records.append(QuarantineRecord("column", table, name, rows, target, key=list(current["primary_key"])))

        op = Operation("column", "added", table, name, f"move column {table}.{name} (not expected) into quarantine",
                       safe=False, destructive=True, run=run)

        def effect() -> None:
            tdef = self.state["tables"][table]
            tdef["columns"].pop(name, None)
            steps.renumber(tdef, so.ordered_columns(tdef))
            for iname in [i for i, idef in tdef["indexes"].items() if any(steps.index_column_name(c) == name for c in idef["columns"])]:
                del tdef["indexes"][iname]

        return op, effect

    # -- missing tables --

    def _create_tables(self, diffs: list[Difference]) -> None:
        missing: dict[str, Difference] = {}
        for d in diffs:
            if d.table is None:  # a malformed report: a missing table always names itself
                self.skipped.append(Skipped(d, "the difference names no table"))
            else:
                missing[d.table] = d
        graph = {
            t: {fk["ref_table"] for fk in self._expected_table(t)["foreign_keys"].values()} & (set(missing) - {t})
            for t in missing
        }
        try:
            order = list(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError:
            order = sorted(missing)  # a cycle: the foreign keys that can't be inline are deferred
        deferred: list[tuple[Difference, str, str, dict]] = []
        for table in order:
            diff = missing[table]
            self._handle(diff, functools.partial(self._create_table, diff, table, deferred))
        for diff, table, name, fk in deferred:
            fk_diff = Difference("foreign_key", "removed", table, name, expected=fk, unit=diff.unit)
            self._handle(fk_diff, functools.partial(self._fk_op, fk_diff, table, name, fk, recreate=False))

    def _create_table(self, d: Difference, table: str, deferred: list[tuple[Difference, str, str, dict]]) -> Made:
        validate_identifier(table, "table")
        tdef = copy.deepcopy(self._expected_table(table))
        inline: dict[str, dict] = {}
        for name, fk in sorted(tdef["foreign_keys"].items()):
            # MariaDB refuses a foreign key to a table that does not exist yet; SQLite
            # (foreign keys unchecked during DDL) takes all of them inline.
            ref = fk["ref_table"]
            if self.family == "sqlite" or ref == table or ref in self.state["tables"] or "." in ref:
                inline[name] = fk
            else:
                deferred.append((d, table, name, fk))
        manual_indexes = []
        for name, idef in tdef["indexes"].items():
            try:
                for entry in idef["columns"]:
                    so.parse_index_column(entry)
            except ValidationError:
                manual_indexes.append(name)
        for name in manual_indexes:
            self.skipped.append(Skipped(Difference("index", "removed", table, name, expected=tdef["indexes"][name], unit=d.unit),
                                        "expression indexes are re-created by hand"))
        family = self.family

        def run(rt: steps.Runtime) -> None:
            if rt.live and rt.table(table, None) is not None:
                raise steps.AlreadyDone
            items: list[Any] = [so.column(c, tdef["columns"][c], family) for c in so.ordered_columns(tdef)]
            if tdef["primary_key"]:
                items.append(sa.PrimaryKeyConstraint(*[validate_identifier(c, "column") for c in tdef["primary_key"]]))
            items += [so.foreign_key_constraint(n, fk, family) for n, fk in inline.items()]
            if family == "mysql":
                items += [sa.CheckConstraint(sa.text(so.check_expression(c["sql"], "check clause")),
                                             name=validate_identifier(n, "check"))
                          for n, c in sorted(tdef.get("checks", {}).items())]
            rt.ops.create_table(table, *items, **steps.table_kwargs(tdef, family))
            steps.invisible_columns(rt, table, tdef)
            if family == "mysql" and tdef.get("partition_sql"):
                clause = so.check_expression(tdef["partition_sql"], "partitioning")
                rt.ops.execute(sqldefs.verbatim(f"ALTER TABLE {table} {clause}"))
            for name, idef in sorted(tdef["indexes"].items()):
                if name not in manual_indexes:
                    steps.create_index(rt, table, name, idef)

        op = Operation("table", "removed", table, table, f"create table {table}", safe=True, run=run)

        def effect() -> None:
            created = copy.deepcopy(tdef)
            created["foreign_keys"] = copy.deepcopy(inline)
            for name in manual_indexes:
                created["indexes"].pop(name)
            self.state["tables"][table] = created

        return op, effect

    # -- columns --

    def _add_column(self, d: Difference, table: str) -> Made:
        name = d.name
        expected_table = self._expected_table(table)
        cdef = expected_table["columns"][name]
        planned = self._snapshot(table)
        family = self.family

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None:
                raise TenantopsError(f"table {table} does not exist")
            if name in current["columns"]:
                raise steps.AlreadyDone
            after = steps.anchor(expected_table, name, current)
            order = so.ordered_columns(current)
            appended = bool(order) and after == order[-1]
            column = so.column(name, cdef, family)
            if family == "mysql":
                if appended:
                    rt.ops.add_column(table, column)
                else:
                    rt.ops.execute(AddColumnAt(table, column, validate_identifier(after, "column") if after else None))
                steps.invisible_columns(rt, table, {"columns": {name: cdef}})
                return
            needs_copy = not appended or (not cdef["nullable"] and cdef["default"] is None)
            with rt.batch(table, current, recreate="always" if needs_copy else "auto") as batch:
                if appended:
                    batch.add_column(column)
                elif after is not None:
                    batch.add_column(column, insert_after=after)
                else:
                    batch.add_column(column, insert_before=order[0])

        op = Operation("column", "removed", table, name, f"add column {table}.{name}", safe=True, run=run)

        def effect() -> None:
            tdef = self.state["tables"][table]
            after = steps.anchor(expected_table, name, tdef)
            order = so.ordered_columns(tdef)
            order.insert(order.index(after) + 1 if after else 0, name)
            tdef["columns"][name] = copy.deepcopy(cdef)
            steps.renumber(tdef, order)

        return op, effect

    def _alter_column(self, d: Difference, table: str) -> Made:
        name, attribute = d.name, d.attribute
        if attribute == "position":
            raise steps.Manual("the order of existing columns is repaired by hand")
        if attribute == "autoincrement" and self.family == "sqlite":
            raise steps.Manual("SQLite auto-increment (the rowid alias) changes are repaired by hand")
        state_col = self.state["tables"][table]["columns"].get(name)
        if state_col is None:
            raise steps.Manual(f"column {table}.{name} is missing")
        if attribute in _MODIFY_ATTRIBUTES:
            return self._modify_column(d, table)
        if attribute not in ("type", "nullable", "default", "collation", "autoincrement"):
            raise steps.Manual(f"no automatic repair for column {attribute}")
        target = self._expected_table(table)["columns"][name][attribute]
        if state_col[attribute] == target:
            return None  # an earlier operation (table options) already brought it back
        narrowing = (attribute == "type" and repair_narrows(state_col["type"], target)) or (
            attribute == "nullable" and not target
        )
        safe = attribute in ("type", "nullable", "default") and not narrowing
        planned = self._snapshot(table)
        if narrowing and not planned["primary_key"]:
            raise steps.Manual(f"{table} has no primary key to keep the old values of {name} by")
        default = self._expected_table(table)["columns"][name]["default"]

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            col = current["columns"].get(name) if current else None
            if current is None or col is None:
                raise TenantopsError(f"column {table}.{name} does not exist")
            if col[attribute] == target:
                raise steps.AlreadyDone
            if attribute == "nullable" and not target:
                steps.make_not_null(rt, table, current, name, default)
            elif attribute == "type" and repair_narrows(col["type"], target):
                target_name = quarantine_name(rt.suffix, table, f"{name}__type")
                rows = steps.copy_aside(rt, table, current, name, target_name, where="not_null")
                rt.records.append(QuarantineRecord("values", table, name, rows, target_name,
                                                   key=list(current["primary_key"]), attribute="type", previous=col["type"]))
                if rt.live and rt.fit_text:
                    fit_text(rt.live_connection(), table, name, target)
            steps.alter_column(rt, table, current, name, attribute, target)

        desc = f"change {table}.{name} {attribute} from {state_col[attribute]!r} to {target!r}"
        op = Operation("column", "modified", table, name, desc, safe=safe, attribute=attribute,
                       destructive=narrowing or d.destructive_to_repair, run=run)

        return op, lambda: self.state["tables"][table]["columns"][name].__setitem__(attribute, target)

    # -- table options --

    def _table_options(self, d: Difference, table: str) -> Made:
        if self.family == "sqlite":
            raise steps.Manual("SQLite has no table options")
        option = d.name
        expected_options = self._expected_table(table)["options"]
        expected_columns = self._expected_table(table)["columns"]
        planned = self._snapshot(table)
        if planned["options"].get(option) == expected_options.get(option):
            return None
        if option == "engine":
            def run_engine(rt: steps.Runtime) -> None:
                rt.ops.execute(AlterTableOptions(table, engine=expected_options["engine"]))

            # The same rule as the report's destructive_to_repair: the table is rebuilt
            # with every row unless the target engine keeps none (MEMORY, BLACKHOLE).
            loses = engine_loses(planned["options"].get("engine"), expected_options.get("engine"))
            op = Operation("option", "modified", table, option, f"change engine of {table} to {expected_options['engine']}",
                           safe=not loses, attribute=option, destructive=loses, run=run_engine)
            return op, lambda: self.state["tables"][table]["options"].__setitem__("engine", expected_options["engine"])
        if option in ("row_format", "comment"):
            target = expected_options.get(option)

            def run_option(rt: steps.Runtime) -> None:
                if option == "row_format":
                    rt.ops.execute(AlterTableOptions(table, row_format=target or "default"))
                else:
                    rt.ops.execute(AlterTableOptions(table, comment=target or ""))

            shown = target if target is not None else "the server default" if option == "row_format" else "none"

            def effect_option() -> None:
                options = self.state["tables"][table]["options"]
                if target is None:
                    options.pop(option, None)
                else:
                    options[option] = target

            op = Operation("option", "modified", table, option, f"set {option} of {table} to {shown}", safe=True,
                           attribute=option, run=run_option)
            return op, effect_option

        def run(rt: steps.Runtime) -> None:
            rt.ops.execute(AlterTableOptions(table, charset=expected_options["charset"], collation=expected_options["collation"]))
            rt.invalidate()
            # CONVERT re-collates every text column: put back the ones expected to differ.
            current = rt.table(table, steps.converted(planned, expected_options))
            if current is None:
                return  # no table, no columns to put back
            for cname, cdef in sorted(expected_columns.items()):
                col = current["columns"].get(cname)
                if col is None or col["type"] != cdef["type"]:
                    continue
                if cdef["collation"] is not None and col["collation"] != cdef["collation"]:
                    steps.alter_column(rt, table, current, cname, "collation", cdef["collation"])
                elif cdef["type"] == "json":
                    steps.alter_column(rt, table, current, cname, "type", "json")  # re-declares its utf8mb4_bin

        # Converting keeps every value unless the charset narrows (the report's
        # destructive_to_repair): the conservative strategy runs exactly the former.
        op = Operation("option", "modified", table, option,
                       f"convert {table} to {expected_options['collation']}", safe=not d.destructive_to_repair,
                       attribute=option, destructive=d.destructive_to_repair, run=run)

        def effect() -> None:
            tdef = self.state["tables"][table]
            converted = steps.converted(tdef, expected_options)
            for cname, cdef in expected_columns.items():
                col = converted["columns"].get(cname)
                if col is not None and col["type"] == cdef["type"] and cdef["collation"] is not None:
                    col["collation"] = cdef["collation"]
            self.state["tables"][table] = converted

        return op, effect


    # -- partitioning --

    def _partitioning(self, d: Difference, table: str) -> Made:
        if self.family == "sqlite":
            raise steps.Manual("SQLite has no partitioning")
        expected_table = self._expected_table(table)
        wanted = expected_table["options"].get("partitioning")
        clause = expected_table.get("partition_sql")
        if wanted is not None:
            if not clause:
                raise steps.Manual("this partitioning (subpartitions, system versioning) is repaired by hand")
            so.check_expression(clause, "partitioning")

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, self._snapshot(table))
            if current is None:
                raise TenantopsError(f"table {table} does not exist")
            if current["options"].get("partitioning") == wanted:
                raise steps.AlreadyDone
            # one ALTER re-partitions (rows move, none is dropped; a row no partition takes
            # fails the statement and the job restores its backup)
            sql = f"ALTER TABLE {table} REMOVE PARTITIONING" if wanted is None else f"ALTER TABLE {table} {clause}"
            rt.ops.execute(sqldefs.verbatim(sql))
            rt.invalidate()

        what = "remove the partitioning of" if wanted is None else "re-partition"
        op = Operation("partition", "modified", table, d.name, f"{what} {table} as expected", safe=True,
                       attribute=d.attribute, run=run)

        def effect() -> None:
            tdef = self.state["tables"][table]
            if wanted is None:
                tdef["options"].pop("partitioning", None)
                tdef.pop("partition_sql", None)
            else:
                tdef["options"]["partitioning"] = wanted
                tdef["partition_sql"] = clause

        return op, effect

    # -- columns: attributes only a full MODIFY COLUMN sets --

    def _modify_column(self, d: Difference, table: str) -> Made:
        if self.family == "sqlite":
            raise steps.Manual(f"SQLite keeps column {d.attribute} in CREATE TABLE: repaired by hand")
        name, attribute = d.name, d.attribute
        assert attribute is not None
        expected_col = self._expected_table(table)["columns"][name]
        state_col = self.state["tables"][table]["columns"][name]
        keys = ("generated", "expression") if attribute in ("generated", "expression") else (attribute,)
        if all(state_col.get(k) == expected_col.get(k) for k in keys):
            return None
        planned = self._snapshot(table)

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            col = current["columns"].get(name) if current else None
            if col is None:
                raise TenantopsError(f"column {table}.{name} does not exist")
            if all(col.get(k) == expected_col.get(k) for k in keys):
                raise steps.AlreadyDone
            wanted = {**col, **{k: expected_col.get(k) for k in keys}}
            rt.ops.execute(ModifyColumn(
                table, so.column(name, {**wanted, "generated": None, "on_update": None}, rt.family),
                on_update=so.check_expression(wanted["on_update"], "ON UPDATE") if wanted.get("on_update") else None,
                generated=wanted.get("generated"),
                expression=so.check_expression(wanted.get("expression") or "", "generated column expression")
                if wanted.get("generated") else None,
                invisible=bool(wanted.get("invisible")), comment=wanted.get("comment")))
            rt.invalidate()

        # Making a plain column generated replaces its stored values; everything else here
        # is metadata or values derived from other columns.
        replaces = attribute == "generated" and not state_col.get("generated")
        op = Operation("column", "modified", table, name,
                       f"change {table}.{name} {attribute} from {state_col.get(attribute)!r} to {expected_col.get(attribute)!r}",
                       safe=not replaces, attribute=attribute, destructive=replaces, run=run)

        def effect() -> None:
            col = self.state["tables"][table]["columns"][name]
            for k in keys:
                if expected_col.get(k) is None:
                    col.pop(k, None)
                else:
                    col[k] = expected_col[k]

        return op, effect

    # -- CHECK constraints --

    def _check(self, d: Difference, table: str) -> Made:
        if self.family == "sqlite":
            raise steps.Manual("SQLite CHECK constraints are part of CREATE TABLE: repaired by hand")
        name = d.name
        expected = self._expected_table(table).get("checks", {}).get(name) if d.change != "added" else None
        planned = self._snapshot(table)
        if d.change == "modified" and (planned.get("checks", {}).get(name) or {}).get("clause") == (expected or {}).get("clause"):
            return None
        if expected is not None:
            so.check_expression(expected["sql"], "check clause")

        def run(rt: steps.Runtime) -> None:
            current = rt.table(table, planned)
            if current is None:
                raise TenantopsError(f"table {table} does not exist")
            now = current.get("checks", {}).get(name)
            if d.change == "removed" and now is not None and expected is not None and now["clause"] == expected["clause"]:
                raise steps.AlreadyDone
            if d.change == "added" and now is None:
                raise steps.AlreadyDone
            if now is not None:
                definition = f"ALTER TABLE `{table}` ADD CONSTRAINT `{name}` CHECK ({now['sql']})"
                rt.records.append(QuarantineRecord("check", table, name, None, quarantine_name(rt.suffix, table, name),
                                                   definition=definition))
                rt.ops.execute(sqldefs.verbatim(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
            if expected is not None:
                rt.ops.execute(sqldefs.verbatim(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({expected['sql']})"))
            rt.invalidate()

        verb = {"added": "move check {n} on {t} (not expected) into quarantine", "removed": "create check {n} on {t}",
                "modified": "replace check {n} on {t} (the changed one goes into quarantine)"}[d.change]
        op = Operation("check", d.change, table, name, verb.format(n=name, t=table), safe=d.change == "removed",
                       attribute=d.attribute, destructive=d.change != "removed", run=run)

        def effect() -> None:
            checks = self.state["tables"][table].setdefault("checks", {})
            if expected is None:
                checks.pop(name, None)
            else:
                checks[name] = copy.deepcopy(expected)

        return op, effect

    # -- views, triggers, routines, events --

    def _sql_object(self, d: Difference) -> Made:
        plural = _SQL_OBJECTS[d.object]
        name = validate_identifier(d.name, d.object)
        expected = self.expected.get(plural, {}).get(name) if d.change != "added" else None
        present = self.state.get(plural, {}).get(name)
        if d.change == "modified" and present == expected:
            return None
        if expected is not None and not (isinstance(expected, dict) and expected.get("sql")):
            raise steps.Manual(f"the expected definition of {d.object} {name} is not known: re-run its migration")
        create_kind = _sql_kind(d.object, expected)
        drop_kind = _sql_kind(d.object, present)
        table = d.table if d.object != "view" else None
        if d.object in ("routine", "event") and self.family == "sqlite":
            raise steps.Manual(f"SQLite has no {d.object}s")

        def run(rt: steps.Runtime) -> None:
            replace = False
            if d.change in ("added", "modified"):
                if rt.live:
                    conn = rt.live_connection()
                    if sqldefs.exists(conn, drop_kind, name):
                        definition = sqldefs.live_definition(conn, drop_kind, name)
                        rt.records.append(QuarantineRecord(drop_kind, table or "", name, None,  # type: ignore[arg-type]
                                                           quarantine_name(rt.suffix, name), definition=definition))
                    elif d.change == "added":
                        raise steps.AlreadyDone
                # MariaDB replaces any of them in one statement, MySQL only views;
                # elsewhere the old one is dropped first (its definition is in quarantine)
                replace = (d.change == "modified" and rt.family == "mysql" and create_kind == drop_kind
                           and (create_kind == "view" or bool(getattr(rt.dialect, "is_mariadb", False))))
                if not replace:
                    rt.ops.execute(sqldefs.drop_statement(drop_kind, name))
            if expected is not None:
                if rt.live and d.change == "removed" and sqldefs.exists(rt.live_connection(), create_kind, name):
                    raise steps.AlreadyDone
                sql = expected["sql"]
                if replace:
                    sql = re.sub(r"^\s*CREATE\s+", "CREATE OR REPLACE ", sql, count=1, flags=re.IGNORECASE)
                rt.ops.execute(sqldefs.verbatim(sql))

        what = f"{d.object} {name}" + (f" on {table}" if table else "")
        description = {"added": f"move {what} (not expected) into quarantine", "removed": f"create {what}",
                       "modified": f"replace {what} with the expected definition (the changed one goes into quarantine)"}
        op = Operation(d.object, d.change, d.table, name, description[d.change], safe=d.change == "removed",
                       attribute=d.attribute, destructive=d.change != "removed", run=run)

        def effect() -> None:
            objects = self.state.setdefault(plural, {})
            if expected is None:
                objects.pop(name, None)
            else:
                objects[name] = copy.deepcopy(expected)

        return op, effect


_SQL_OBJECTS: dict[str, str] = {"view": "views", "trigger": "triggers", "routine": "routines", "event": "events"}
_MODIFY_ATTRIBUTES = ("on_update", "comment", "generated", "expression", "invisible")


def _sql_kind(obj: str, definition: Any) -> str:
    if obj == "routine":
        return sqldefs.routine_kind(definition or {})
    return obj


def _phase(d: Difference) -> int:
    if d.object in _SQL_OBJECTS:
        # extras go before any table changes under them; the expected ones come last, when
        # every table and column they use exists again
        return 0 if d.change == "added" else 10
    return {
        ("foreign_key", "added"): 1,
        ("index", "added"): 2,
        ("column", "added"): 3,
        ("table", "added"): 3,
        ("table", "removed"): 4,
        ("option", "modified"): 5,
        ("column", "removed"): 6,
        ("column", "modified"): 6,
        ("index", "removed"): 7,
        ("index", "modified"): 7,
        ("foreign_key", "removed"): 8,
        ("foreign_key", "modified"): 8,
        ("check", "added"): 1,
        ("check", "modified"): 9,
        ("check", "removed"): 9,
    }.get((d.object, d.change), 9)

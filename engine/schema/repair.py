"""Repair schema drift: plan (``plan.py``), run (here), restore quarantine (``quarantine.py``).

A plan is an ordered list of operations, one per difference it repairs. Each operation
is a small function over Alembic ``Operations`` (``steps.py``): run once against an
offline ``MigrationContext`` (``as_sql``) to fill its ``sql`` preview, and again against
a live one by :func:`execute_plan`. SQLite goes through batch mode (table re-creation)
where ALTER can't do the change; MariaDB/MySQL through plain ALTERs, plus two compiled
statements Alembic lacks (``ADD COLUMN ... AFTER`` and table options, ``ddl.py``).

Unsafe operations run only with the aggressive strategy and ``include_destructive``, and
even then data is never dropped outright: it is moved into quarantine first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from tenantops.engine.errors import StateError, ValidationError

from tenantops.engine.schema import steps
from tenantops.engine.schema.guards import ddl_guard
from tenantops.engine.schema.names import validate_suffix
from tenantops.engine.schema.plan import STRATEGIES, Operation, RepairPlan, Skipped, Strategy, plan_repair
from tenantops.engine.schema.quarantine import QuarantineRecord, count_rows, restore_quarantine

__all__ = [
    "STRATEGIES",
    "ExecutionResult",
    "Operation",
    "QuarantineRecord",
    "RepairPlan",
    "Skipped",
    "Strategy",
    "execute_plan",
    "plan_repair",
    "restore_quarantine",
]


@dataclass
class ExecutionResult:
    applied: list[Operation] = field(default_factory=list)
    skipped: list[tuple[Operation, str]] = field(default_factory=list)
    failed: tuple[Operation, str] | None = None
    quarantine: list[QuarantineRecord] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def to_json(self) -> dict:
        return {
            "applied": [op.to_json() for op in self.applied],
            "skipped": [{**op.to_json(), "reason": reason} for op, reason in self.skipped],
            "failed": None if self.failed is None else {**self.failed[0].to_json(), "error": self.failed[1]},
            "quarantine": [r.to_json() for r in self.quarantine],
        }


def execute_plan(
    connection: sa.Connection, plan: RepairPlan, *, include_destructive: bool, quarantine_suffix: str,
    fit_text: bool = False,
) -> ExecutionResult:
    """Run a plan's operations for real, in order, through a live Alembic context.

    Unsafe operations run only with ``include_destructive``. Each operation is committed
    on its own (MariaDB commits DDL anyway); the first failure stops the run and is
    reported in ``failed`` with the remaining operations skipped. Quarantine records of
    what was moved aside are in ``quarantine`` for the caller to persist. ``fit_text``:
    a narrowed text column keeps its too-long values cut to fit (the originals are in
    quarantine), as the pre-flight checks announced.
    """
    if plan.strategy == "manual":
        raise StateError("a manual repair plan is for review only and is never executed")
    family = steps.FAMILY.get(connection.dialect.name)
    if family != steps.FAMILY[plan.dialect]:
        raise ValidationError(f"plan is for {plan.dialect}, connection is {connection.dialect.name}")
    validate_suffix(quarantine_suffix)
    if connection.in_transaction():
        connection.commit()
    result = ExecutionResult()
    context = MigrationContext.configure(connection=connection)
    runtime = steps.Runtime(Operations(context), family, live=True, suffix=quarantine_suffix, connection=connection,
                            fit_text=fit_text)
    with ddl_guard(connection):
        for index, op in enumerate(plan.operations):
            if not op.safe and not include_destructive:
                result.skipped.append((op, "unsafe: include_destructive is off"))
                continue
            runtime.invalidate()
            runtime.records = []
            assert op.run is not None, "every planned operation has its run function"
            try:
                op.run(runtime)
                connection.commit()
            except steps.AlreadyDone:
                connection.rollback()
                result.skipped.append((op, "already as expected"))
                continue
            except steps.Skip as reason:
                connection.rollback()
                result.skipped.append((op, str(reason)))
                continue
            except Exception as error:  # noqa: BLE001 - reported, never a traceback
                connection.rollback()
                result.failed = (op, _message(error))
                result.quarantine.extend(_surviving(connection, runtime.records))
                result.skipped.extend((later, "not run: an earlier operation failed") for later in plan.operations[index + 1:])
                break
            result.applied.append(op)
            result.quarantine.extend(runtime.records)
    return result


def _surviving(connection: sa.Connection, records: list[QuarantineRecord]) -> list[QuarantineRecord]:
    """After a failure, keep the quarantine records whose table really holds the copy."""
    tables = set(sa.inspect(connection).get_table_names())
    kept = []
    for record in records:
        if record.quarantined_as in tables:
            record.rows = count_rows(connection, record.quarantined_as)
            kept.append(record)
    return kept


def _message(error: Exception) -> str:
    if isinstance(error, sa.exc.DBAPIError) and error.orig is not None:
        return str(error.orig)
    return str(error) or type(error).__name__

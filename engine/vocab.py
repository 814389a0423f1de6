"""The closed vocabularies of the engine and the CLI contract (shared/CLI.md), once.

Each vocabulary is a ``Literal`` type, so the type checker catches a misspelt role,
status or severity where it is written, plus a runtime tuple derived from it with
``get_args`` (argparse choices, validation, filter cycles), so the two cannot drift
apart. Order in the tuples is meaningful where noted.

This module imports nothing from the project: every layer of the engine and the console
may use it.
"""
from __future__ import annotations

from typing import Literal, get_args

# Operator roles, lowest to highest: each role may do everything the ones before it may.
Role = Literal["viewer", "admin", "dba", "owner"]
ROLES: tuple[Role, ...] = get_args(Role)

ApplicationStatus = Literal["pending", "approved", "rejected", "provisioning", "provisioned", "failed"]
APPLICATION_STATUSES: tuple[ApplicationStatus, ...] = get_args(ApplicationStatus)

TenantStatus = Literal["provisioning", "active", "failed", "suspended", "archived"]
TENANT_STATUSES: tuple[TenantStatus, ...] = get_args(TenantStatus)

# An outbox row: pending until SMTP accepts it (a failed attempt keeps it pending, with its error).
NotificationStatus = Literal["pending", "sent"]
NOTIFICATION_STATUSES: tuple[NotificationStatus, ...] = get_args(NotificationStatus)

# needs_confirmation: a destructive job started long after it was asked for
# ([jobs] resume_confirm_after) waits for `jobs retry ID --confirm SLUG`
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "needs_confirmation"]
JOB_STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)
# a job still to finish: it holds its tenant's lock and a worker may be on it
ACTIVE_JOB_STATUSES: tuple[JobStatus, ...] = ("queued", "running")

# Drift severities, lowest to highest.
Severity = Literal["none", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)

# Migration layers, in the order a tenant's units are applied.
Layer = Literal["basic", "template", "module", "custom"]
LAYERS: tuple[Layer, ...] = get_args(Layer)

# The ``object`` and ``change`` of a drift difference.
DiffObject = Literal["table", "column", "index", "foreign_key", "option", "check", "trigger", "view", "routine",
                     "event", "partition"]
DIFF_OBJECTS: tuple[DiffObject, ...] = get_args(DiffObject)
DiffChange = Literal["added", "removed", "modified"]
DIFF_CHANGES: tuple[DiffChange, ...] = get_args(DiffChange)

AuditOutcome = Literal["ok", "failed", "denied"]
AUDIT_OUTCOMES: tuple[AuditOutcome, ...] = get_args(AuditOutcome)

# Repair strategies; the first is the default.
RepairStrategy = Literal["conservative", "aggressive", "manual"]
REPAIR_STRATEGIES: tuple[RepairStrategy, ...] = get_args(RepairStrategy)

# Sync strategies: conservative applies only revisions that add (the others wait for a
# dba), aggressive applies everything, manual writes the SQL plan and applies nothing.
SyncStrategy = Literal["conservative", "aggressive", "manual"]
SYNC_STRATEGIES: tuple[SyncStrategy, ...] = get_args(SyncStrategy)

"""The documents the engine hands to its faces, typed after ../shared/CLI.md.

The CLI prints them as JSON and the console renders them; as ``TypedDict``s the type
checker catches a misspelt or missing key where a document is built or read. Fields the
contract names are required; additions the contract allows are listed too.
"""
from __future__ import annotations

from typing import Any, TypedDict

from tenantops.engine.vocab import (
    ApplicationStatus,
    AuditOutcome,
    JobStatus,
    Role,
    Severity,
    TenantStatus,
)


class ApplicationDoc(TypedDict):
    id: int
    slug: str
    organization: str
    contact: str | None
    email: str
    template: str
    modules: list[str]
    status: ApplicationStatus
    submitted_by: str
    submitted_at: str
    reviewed_by: str | None
    reviewed_at: str | None
    notes: str | None
    reason: str | None
    error: str | None


class TemplateRef(TypedDict):
    slug: str
    version: str | None


class LastDrift(TypedDict):
    severity: Severity
    checked_at: str


class AdminUser(TypedDict):
    email: str
    must_change_password: bool


class ModuleDetail(TypedDict):
    module: str
    version: str | None
    required: bool
    reason: str | None


class TenantDoc(TypedDict):
    slug: str
    organization: str | None
    status: TenantStatus
    server: str | None
    database: str | None
    template: TemplateRef
    modules: list[str]
    labels: dict[str, str]
    module_details: list[ModuleDetail]
    migrations: dict[str, int]
    schema_hash: str | None
    last_drift: LastDrift | None
    admin_user: AdminUser | None
    error: str | None
    created_at: str
    activated_at: str | None


class StepDoc(TypedDict):
    id: int
    name: str
    status: str
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    detail: str | None
    error: str | None


class _JobBase(TypedDict):
    id: int
    kind: str
    tenant: str | None
    status: JobStatus
    params: dict[str, Any]
    attempt: int
    claimed_by: str | None
    created_by: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    error: str | None
    result: Any
    not_before: str | None     # a scheduled job starts no earlier than this


class JobDoc(_JobBase, total=False):
    steps: list[StepDoc]      # with the timeline (jobs show, jobs list)
    waiting: str | None       # jobs show: why a queued job is not claimed (its server is full, ...)


class BackupDoc(TypedDict):
    id: int
    tenant: str
    reason: str
    created_at: str
    size_bytes: int
    checksum: str
    path: str
    created_by: str | None
    pinned: bool


class HistoryDoc(TypedDict):
    batch: int
    layer: str
    unit: str
    revision: str
    action: str
    checksum: str | None
    operator: str
    started_at: str
    duration_s: float | None
    outcome: str
    error: str | None


class AuditDoc(TypedDict):
    id: int
    at: str
    operator: str
    action: str
    target: str | None
    params: dict[str, Any]
    outcome: AuditOutcome
    error: str | None
    job: int | None           # the job a queued operation started; outcome is the job's


class OperatorDoc(TypedDict):
    user: str
    role: Role
    added_by: str | None
    added_at: str


class ServerLoad(TypedDict):
    threads_running: int | None
    limit: int | None
    throttled: bool
    checked_at: str | None


class ServerDoc(TypedDict):
    name: str
    dialect: str
    url: str
    version: str | None
    capacity: int
    tenants: int
    reachable: bool | None
    draining: bool
    checked_at: str | None
    load: ServerLoad


class QuarantineDoc(TypedDict):
    id: int
    tenant: str
    kind: str
    table: str
    column: str | None
    rows: int
    quarantined_as: str
    created_at: str
    repair_id: int | None
    restored_at: str | None

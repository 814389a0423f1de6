"""The landlord store: typed SQLAlchemy 2 models.

Its schema is managed by the Alembic environment next to this file; change a model,
then add a revision under ``migrations/versions``.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Microsecond precision on MariaDB/MySQL (plain DATETIME drops it), naive UTC everywhere.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    })


class Server(Base):
    __tablename__ = "servers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    dialect: Mapped[str] = mapped_column(sa.String(16))  # sqlite | mariadb | mysql
    url: Mapped[str] = mapped_column(sa.String(512))  # never with a password
    capacity: Mapped[int] = mapped_column(default=100)
    draining: Mapped[bool] = mapped_column(default=False)
    version: Mapped[str | None] = mapped_column(sa.String(64))
    reachable: Mapped[bool | None] = mapped_column()
    checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    # load-aware throttle: no new tenant job is claimed while Threads_running exceeds this
    max_threads_running: Mapped[int | None] = mapped_column()
    threads_running: Mapped[int | None] = mapped_column()  # last sampled value
    load_checked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Operator(Base):
    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(sa.String(128), unique=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    added_by: Mapped[str] = mapped_column(sa.String(128))
    added_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Application(Base):
    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    organization: Mapped[str] = mapped_column(sa.String(255))
    contact: Mapped[str] = mapped_column(sa.String(255), default="")
    email: Mapped[str] = mapped_column(sa.String(255))
    template: Mapped[str] = mapped_column(sa.String(64))
    modules: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", index=True)
    submitted_by: Mapped[str] = mapped_column(sa.String(128))
    submitted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(128))
    reviewed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)


class Tenant(Base):
    __tablename__ = "tenants"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    organization: Mapped[str] = mapped_column(sa.String(255))
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("applications.id"))
    server_id: Mapped[int | None] = mapped_column(sa.ForeignKey("servers.id"))
    database: Mapped[str | None] = mapped_column(sa.String(64))
    db_user: Mapped[str | None] = mapped_column(sa.String(80))
    status: Mapped[str] = mapped_column(sa.String(16), default="provisioning", index=True)
    template: Mapped[str] = mapped_column(sa.String(64))
    template_version: Mapped[str | None] = mapped_column(sa.String(32))
    schema_hash: Mapped[str | None] = mapped_column(sa.String(64))
    admin_email: Mapped[str | None] = mapped_column(sa.String(255))
    admin_must_change_password: Mapped[bool | None] = mapped_column()
    last_drift_severity: Mapped[str | None] = mapped_column(sa.String(16))
    last_drift_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # the last `compliance` verdict: ok | violation (None: never checked)
    compliance_status: Mapped[str | None] = mapped_column(sa.String(16))
    compliance_checked_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    archived_at: Mapped[datetime | None] = mapped_column(Timestamp)

    server: Mapped[Server | None] = relationship()
    modules: Mapped[list["TenantModule"]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", order_by="TenantModule.position")


class TenantLabel(Base):
    """``key=value`` on a tenant (region, tier ...): filters and rollout stages use them."""
    __tablename__ = "tenant_labels"
    __table_args__ = (sa.Index("ix_tenant_labels_key_value", "key", "value"),)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    value: Mapped[str] = mapped_column(sa.String(63))


class Rollout(Base):
    """A staged fleet operation (sync --all --stages): its stages and, in RolloutTenant,
    every tenant's outcome, so a crashed or paused rollout continues where it stopped."""
    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    strategy: Mapped[str | None] = mapped_column(sa.String(16))
    spec: Mapped[str] = mapped_column(sa.String(512))
    parallel: Mapped[int] = mapped_column()
    on_error: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), index=True)
    stages: Mapped[list[Any]] = mapped_column(sa.JSON)
    # what each tenant's job needs besides its slug (modules.add: the module)
    params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class RolloutTenant(Base):
    __tablename__ = "rollout_tenants"
    __table_args__ = (sa.UniqueConstraint("rollout_id", "tenant"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rollout_id: Mapped[int] = mapped_column(sa.ForeignKey("rollouts.id", ondelete="CASCADE"), index=True)
    stage: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column()
    tenant: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    job_id: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)


class TenantModule(Base):
    __tablename__ = "tenant_modules"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "module"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(sa.String(64))
    version: Mapped[str | None] = mapped_column(sa.String(32))
    position: Mapped[int] = mapped_column(default=0)
    required: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str | None] = mapped_column(sa.String(255))  # why it was auto-added
    installed_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    tenant: Mapped[Tenant] = relationship(back_populates="modules")


class Job(Base):
    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    tenant: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(32), default="queued", index=True)
    attempt: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error: Mapped[str | None] = mapped_column(sa.Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # a scheduled job: no worker starts it before this time
    not_before: Mapped[datetime | None] = mapped_column(Timestamp)
    events: Mapped[list["JobEvent"]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobEvent.id")


class JobEvent(Base):
    __tablename__ = "job_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))  # running | succeeded | failed | skipped
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    detail: Mapped[str | None] = mapped_column(LongText)
    error: Mapped[str | None] = mapped_column(sa.Text)
    job: Mapped[Job] = relationship(back_populates="events")


class TenantLock(Base):
    """One lease row per tenant: never one global lock."""
    __tablename__ = "tenant_locks"
    tenant: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(255))
    operation: Mapped[str] = mapped_column(sa.String(64))
    job_id: Mapped[int | None] = mapped_column()
    acquired_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    lease_until: Mapped[datetime] = mapped_column(Timestamp)


class MigrationHistory(Base):
    __tablename__ = "migration_history"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    batch: Mapped[int] = mapped_column()
    layer: Mapped[str] = mapped_column(sa.String(16))
    unit: Mapped[str] = mapped_column(sa.String(64))
    revision: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(16))  # apply | rollback
    checksum: Mapped[str | None] = mapped_column(sa.String(64))
    operator: Mapped[str] = mapped_column(sa.String(128))
    started_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    error: Mapped[str | None] = mapped_column(sa.Text)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(128))


class Snapshot(Base):
    __tablename__ = "snapshots"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    hash: Mapped[str] = mapped_column(sa.String(64))
    source: Mapped[str] = mapped_column(sa.String(16))  # provision | manual | after-repair | scheduled
    tables: Mapped[int] = mapped_column(default=0)
    columns: Mapped[int] = mapped_column(default=0)
    indexes: Mapped[int] = mapped_column(default=0)
    schema: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    rows: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_by: Mapped[str | None] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class DriftReport(Base):
    __tablename__ = "drift_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    checked_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    severity: Mapped[str] = mapped_column(sa.String(16))
    score: Mapped[int] = mapped_column(default=0)
    expected_hash: Mapped[str | None] = mapped_column(sa.String(64))
    actual_hash: Mapped[str | None] = mapped_column(sa.String(64))
    differences: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # incremental scans: the tenant's raw structural fingerprint (health/fingerprint.py:
    # quick q…, detailed d…, or x… for one that must be captured again)
    # and the hash of what its verdict depends on besides (expected schema, acceptances,
    # ignore rules); captured False: the verdict was kept from an earlier capture
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    basis: Mapped[str | None] = mapped_column(sa.String(64))
    captured: Mapped[bool | None] = mapped_column()


class DriftAcceptance(Base):
    __tablename__ = "drift_acceptances"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    object: Mapped[str] = mapped_column(sa.String(16))
    change: Mapped[str] = mapped_column(sa.String(16))
    table: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(64))
    attribute: Mapped[str | None] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.Text)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    accepted_by: Mapped[str] = mapped_column(sa.String(128))
    accepted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class CustomMigration(Base):
    __tablename__ = "custom_migrations"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    revision: Mapped[str] = mapped_column(sa.String(128))
    content: Mapped[str] = mapped_column(LongText)
    checksum: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default="submitted")
    submitted_by: Mapped[str] = mapped_column(sa.String(128))
    submitted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(sa.String(128))
    approved_at: Mapped[datetime | None] = mapped_column(Timestamp)
    applied_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # what running it in a shadow of the tenant's schema showed (tenants/review.py)
    review: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


class Backup(Base):
    __tablename__ = "backups"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(sa.String(255))
    path: Mapped[str] = mapped_column(sa.String(1024))
    size_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    checksum: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    # taken before a destructive change: retention never removes it (`backups unpin` does)
    pinned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class QuarantineItem(Base):
    __tablename__ = "quarantine_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # table | column | values
    table: Mapped[str] = mapped_column(sa.String(64))
    column: Mapped[str | None] = mapped_column(sa.String(64))
    rows: Mapped[int] = mapped_column(default=0)
    quarantined_as: Mapped[str] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    repair_id: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Notification(Base):
    """Outbox: written in the same transaction as the change, sent later."""
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tenants.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(sa.String(16), default="email")
    recipient: Mapped[str] = mapped_column(sa.String(255))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error: Mapped[str | None] = mapped_column(sa.Text)


class AuditEntry(Base):
    """Append-only: the engine never deletes these rows, and updates one only to record
    the final outcome of the job a queued operation started (``job_id``)."""
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    operator: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str | None] = mapped_column(sa.String(255))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # ok | failed | denied
    error: Mapped[str | None] = mapped_column(sa.Text)
    job_id: Mapped[int | None] = mapped_column(index=True)

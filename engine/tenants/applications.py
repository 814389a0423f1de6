"""Tenant applications: submit, review (approve/reject), and their state machine."""
from __future__ import annotations

import re
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine.vocab import APPLICATION_STATUSES
from tenantops.engine.documents import ApplicationDoc
from tenantops.engine.vocab import ApplicationStatus
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import ConflictError, NotFoundError, StateError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.names import check_slug_format, database_name, user_name
from tenantops.engine.timestamps import iso

STATUSES = APPLICATION_STATUSES
TRANSITIONS = {
    "pending": {"approved", "rejected"},
    "approved": {"provisioning"},
    "provisioning": {"provisioned", "failed"},
    "failed": {"provisioning"},  # retry
    "rejected": set(),
    "provisioned": set(),
}
# Deliberately simple: one @, no spaces, a dotted domain. Deliverability is SMTP's job.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def application_json(a: m.Application) -> ApplicationDoc:
    return {"id": a.id, "slug": a.slug, "organization": a.organization, "contact": a.contact, "email": a.email,
            "template": a.template, "modules": list(a.modules or []), "status": cast(ApplicationStatus, a.status),
            "submitted_by": a.submitted_by, "submitted_at": iso(a.submitted_at),
            "reviewed_by": a.reviewed_by, "reviewed_at": iso(a.reviewed_at),
            "notes": a.notes, "reason": a.reason, "error": a.error}


def slug_checks(ctx: Context, slug: str, *, exclude_application: int | None = None) -> dict[str, str | None]:
    """Each check's problem, or None when it passes: format, reserved, taken.

    ``exclude_application``: an application's own slug is not "taken" by itself."""
    checks: dict[str, str | None] = {"format": None, "reserved": None, "taken": None}
    try:
        check_slug_format(slug)
    except ValidationError as exc:
        checks["format"] = str(exc)
    lowered = (slug or "").lower()
    if lowered in {r.lower() for r in ctx.settings.reserved_slugs}:
        checks["reserved"] = f"slug {ascii(slug)} is reserved"
    try:
        lowered.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes from argv: can't be stored, so can't be taken
        return checks
    with ctx.session() as s:
        query = sa.select(m.Application.slug).where(sa.func.lower(m.Application.slug) == lowered)
        if exclude_application is not None:
            query = query.where(m.Application.id != exclude_application)
        app = s.scalar(query)
        tenant_query = sa.select(m.Tenant.slug).where(sa.func.lower(m.Tenant.slug) == lowered)
        if exclude_application is not None:
            tenant_query = tenant_query.where(sa.or_(m.Tenant.application_id.is_(None),
                                                     m.Tenant.application_id != exclude_application))
        tenant = s.scalar(tenant_query)
        clash = _name_clash(s, slug) if not (app or tenant or checks["format"]) else None
    if app or tenant:
        checks["taken"] = f"slug {ascii(slug)} is already taken by {'a tenant' if tenant else 'an application'} ({app or tenant})"
    elif clash:
        checks["taken"] = f"slug {ascii(slug)} is already taken: {clash}"
    return checks


def _name_clash(s: Session, slug: str) -> str | None:
    """Long slugs are shortened with a hash to fit the database (64) and user (32) name
    limits, so two different slugs can map to one database or user name (a shortened
    long slug vs. a short slug spelling out the same prefix and hash). Such a slug would
    share another tenant's database or user: refuse it like a taken slug."""
    db, user = database_name(slug), user_name(slug)
    prefix = slug[:20]  # user names keep 20 characters of the slug, database names 48
    others = set(s.scalars(sa.select(m.Application.slug).where(m.Application.slug.startswith(prefix))))
    others |= set(s.scalars(sa.select(m.Tenant.slug).where(m.Tenant.slug.startswith(prefix))))
    for other in sorted(others - {slug}):
        try:
            if database_name(other) == db:
                return f"its database name {db} is that of {other!r}"
            if user_name(other) == user:
                return f"its database user name {user} is that of {other!r}"
        except ValidationError:  # a legacy slug that no longer validates maps to no name
            continue
    return None


def check_slug(ctx: Context, slug: str) -> None:
    checks = slug_checks(ctx, slug)
    # "taken" first: 'ACME' next to an existing 'acme' is best explained as taken
    if checks["taken"]:
        raise ConflictError(checks["taken"])
    for problem in (checks["reserved"], checks["format"]):
        if problem:
            raise ValidationError(problem)


BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean_text(value: str, field: str, limit: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError(f"{field} is required")
    if len(value) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters")
    if any(ord(c) < 32 for c in value):
        raise ValidationError(f"{field} contains control characters")
    bidi = sorted({f"U+{ord(c):04X}" for c in value if c in BIDI_CONTROLS})
    if bidi:
        # they reorder what the screen shows (Trojan Source): a name must read as it is stored
        raise ValidationError(f"{field} contains bidirectional control characters ({', '.join(bidi)})")
    return value


@mutating("applications.submit", "admin", target="slug")
def submit(ctx: Context, *, organization: str, slug: str, email: str, template: str,
           modules: list[str] | None = None, contact: str = "") -> ApplicationDoc:
    from tenantops.engine.catalog import load_catalog, resolve

    organization = _clean_text(organization, "organization", 255)
    contact = _clean_text(contact, "contact", 255, required=False)
    check_slug(ctx, slug)
    if not EMAIL_RE.fullmatch(email or "") or len(email) > 254:
        raise ValidationError(f"email {ascii(email)} is not a valid address")
    modules = [mod.strip() for mod in (modules or []) if mod.strip()]
    catalog = load_catalog(_catalog_dir(ctx))
    resolve(catalog, template, modules)  # unknown template/module, conflicts, cycles: refused now
    with ctx.session() as s:
        app = m.Application(slug=slug, organization=organization, contact=contact, email=email,
                            template=template, modules=modules, submitted_by=ctx.operator)
        s.add(app)
        try:
            s.flush()
        except sa.exc.IntegrityError:
            raise ConflictError(f"slug {slug!r} is already taken by an application") from None
        return application_json(app)


def _catalog_dir(ctx: Context):
    from pathlib import Path

    return Path(ctx.settings.catalog_dir) if ctx.settings.catalog_dir else None


def _find(s: Session, key: str | int) -> m.Application:
    key_s = str(key)
    if key_s.isdigit():
        app = s.get(m.Application, int(key_s))
    else:
        app = s.scalar(sa.select(m.Application).where(sa.func.lower(m.Application.slug) == key_s.lower()))
    if app is None:
        raise NotFoundError(f"application {key_s!r} does not exist")
    return app


def get(ctx: Context, key: str | int) -> ApplicationDoc:
    with ctx.session() as s:
        return application_json(_find(s, key))


def list_applications(ctx: Context, status: str | None = None) -> list[ApplicationDoc]:
    if status and status not in STATUSES:
        raise ValidationError(f"status {status!r} is unknown; use one of {', '.join(STATUSES)}")
    query = sa.select(m.Application).order_by(m.Application.submitted_at.desc(), m.Application.id.desc())
    if status:
        query = query.where(m.Application.status == status)
    with ctx.session() as s:
        return [application_json(a) for a in s.scalars(query)]


def transition(app: m.Application, new: str) -> None:
    if new not in TRANSITIONS.get(app.status, set()):
        raise StateError(f"application {app.slug} cannot go from {app.status} to {new}")
    app.status = new


@mutating("applications.approve", "admin")
def approve(ctx: Context, key: str | int, notes: str | None = None) -> ApplicationDoc:
    with ctx.session() as s:
        app = _find(s, key)
        transition(app, "approved")
        app.reviewed_by, app.reviewed_at = ctx.operator, utcnow()
        app.notes = _clean_text(notes or "", "notes", 4000, required=False) or None
        return application_json(app)


@mutating("applications.reject", "admin")
def reject(ctx: Context, key: str | int, reason: str) -> ApplicationDoc:
    reason = _clean_text(reason, "reason", 4000)
    with ctx.session() as s:
        app = _find(s, key)
        transition(app, "rejected")
        app.reviewed_by, app.reviewed_at, app.reason = ctx.operator, utcnow(), reason
        return application_json(app)


def application_detail(ctx: Context, key: str | int) -> dict[str, Any]:
    """The application, its slug checks read sensibly, and its latest job.

    ``slug_checks`` reports an application's own slug as taken (by itself): only a
    tenant that did not come from this application is a real clash.
    """
    app = get(ctx, key)
    raw = slug_checks(ctx, app["slug"])
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(sa.func.lower(m.Tenant.slug) == app["slug"].lower()))
        tenant_app, tenant_status = (tenant.application_id, tenant.status) if tenant else (None, None)
    checks: list[tuple[str, bool, str]] = [
        ("format", raw["format"] is None, raw["format"] or "valid slug"),
        ("reserved", raw["reserved"] is None, raw["reserved"] or "not reserved"),
    ]
    if tenant is None:
        checks.append(("taken", True, "only this application"))
    elif tenant_app == app["id"]:
        checks.append(("taken", True, f"its own tenant ({tenant_status})"))
    else:
        checks.append(("taken", False, "another tenant uses it"))
    from tenantops.engine.jobs.queue import list_jobs

    latest = list_jobs(ctx, tenant=app["slug"], limit=1)
    return {"application": app, "checks": checks, "tenant_status": tenant_status,
            "job": latest[0] if latest else None}

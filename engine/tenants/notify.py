"""The notifications outbox: rows written with the change, sent by SMTP when configured.

The welcome message carries the one-time setup link. The link is never stored in the
landlord: the outbox row holds a placeholder and the link waits in the keyring until the
message is sent (then it is deleted); the tenant database holds only the token's hash.
"""
from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import secrets
from tenantops.engine.config import Settings
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, StateError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.timestamps import iso
from tenantops.engine.vocab import NOTIFICATION_STATUSES

from tenantops.engine.landlord.outbox import LINK_PLACEHOLDER, REDACTED, link_key

__all__ = ["LINK_PLACEHOLDER", "REDACTED", "link_key", "list_notifications", "notification_json", "queue_welcome", "resend",
           "send_pending", "setup_link"]


# The welcome links this process queued, by landlord and tenant slug (recipient, link),
# until it sends them: the CLI that just provisioned a tenant shows the link it made
# without reading the outbox and the keyring back. This process's memory only, like the
# token itself.
_QUEUED_HERE: dict[tuple[str, str], tuple[str, str]] = {}


def queue_welcome(s: Session, settings: Settings, *, tenant_id: int, slug: str, email: str, token: str) -> int:
    link = settings.setup_url.format(slug=slug, token=token)
    body = (f"Welcome to your new workspace '{slug}'.\n\n"
            f"Set your password here (the link works once): {LINK_PLACEHOLDER}\n")
    note = m.Notification(tenant_id=tenant_id, recipient=email, subject=f"Your workspace {slug} is ready", body=body)
    s.add(note)
    s.flush()
    secrets.set_secret(link_key(note.id), link)
    _QUEUED_HERE[(str(s.connection().engine.url), slug)] = (email, link)
    return note.id


def _pending_link(note: m.Notification) -> str | None:
    return secrets.get_secret(link_key(note.id), required=False) if LINK_PLACEHOLDER in note.body else None


def setup_link(ctx: Context, slug: str) -> str | None:
    """The pending setup link of a tenant, for the operator to see once."""
    pending = pending_setup(ctx, slug)
    return pending[1] if pending else None


def pending_setup(ctx: Context, slug: str) -> tuple[str, str] | None:
    """(recipient, link) of a tenant's pending welcome notification that carries a link."""
    here = _QUEUED_HERE.get((str(ctx.engine.url), slug))
    if here is not None:  # queued by this process and not sent by it
        return here
    with ctx.session() as s:
        note = s.scalar(sa.select(m.Notification).join(m.Tenant, m.Tenant.id == m.Notification.tenant_id)
                        .where(m.Tenant.slug == slug, m.Notification.status == "pending")
                        .order_by(m.Notification.id.desc()))
        link = _pending_link(note) if note is not None else None
        return (note.recipient, link) if note is not None and link else None


def _deliver(ctx: Context, note: m.Notification) -> bool:
    """Send one outbox row by SMTP; on success the setup link leaves the keyring and the
    row keeps a redacted body. A failure stays pending with its error."""
    smtp = ctx.settings.smtp
    import smtplib  # only to send: provisioning queues its mail without it

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = smtp.sender, note.recipient, note.subject
    link = _pending_link(note)
    if LINK_PLACEHOLDER in note.body and link is None:
        note.error = "the setup link is no longer in the keyring; the first admin needs a new setup token"
        return False
    msg.set_content(note.body.replace(LINK_PLACEHOLDER, link or ""))
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, secrets.get_secret(f"smtp:{smtp.host}") or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        note.error = f"{type(exc).__name__}: {exc}"
        return False
    note.status, note.sent_at, note.error = "sent", utcnow(), None
    note.body = note.body.replace(LINK_PLACEHOLDER, REDACTED)
    for key, (_recipient, queued) in list(_QUEUED_HERE.items()):
        if queued == link:
            del _QUEUED_HERE[key]
    if link is not None:
        secrets.delete_secret(link_key(note.id))
    return True


def send_pending(ctx: Context) -> int:
    if not ctx.settings.smtp.host:
        return 0
    with ctx.session() as s:
        pending = list(s.scalars(sa.select(m.Notification).where(m.Notification.status == "pending")))
        return sum(_deliver(ctx, note) for note in pending)


def notification_json(note: m.Notification, slug: str | None) -> dict[str, Any]:
    """An outbox row as `notifications list` shows it; the body is left out (it may
    carry a placeholder for a link, never the link itself)."""
    return {"id": note.id, "tenant": slug, "channel": note.channel, "recipient": note.recipient,
            "subject": note.subject, "status": note.status, "created_at": iso(note.created_at),
            "sent_at": iso(note.sent_at), "error": note.error,
            "holds_setup_link": LINK_PLACEHOLDER in note.body}


def list_notifications(ctx: Context, *, status: str | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
    if status is not None and status not in NOTIFICATION_STATUSES:
        raise ValidationError(f"unknown notification status {status!r}; one of {', '.join(NOTIFICATION_STATUSES)}")
    with ctx.session() as s:
        query = (sa.select(m.Notification, m.Tenant.slug).outerjoin(m.Tenant, m.Tenant.id == m.Notification.tenant_id)
                 .order_by(m.Notification.id.desc()))
        if status is not None:
            query = query.where(m.Notification.status == status)
        if tenant is not None:
            query = query.where(m.Tenant.slug == tenant)
        return [notification_json(note, slug) for note, slug in s.execute(query)]


@mutating("notifications.resend", "admin", target="notification_id")
def resend(ctx: Context, *, notification_id: int) -> dict[str, Any]:
    """Deliver an outbox row now. A pending one (never sent, or its last attempt failed)
    is sent as it is; a sent one is sent again as a new row whose setup link, if it had
    one, stays redacted (a used link must not work twice: issue a new setup token)."""
    if not ctx.settings.smtp.host:
        raise StateError("no SMTP server is configured ([smtp] host in the config); nothing can be sent")
    with ctx.session() as s:
        note = s.get(m.Notification, notification_id)
        if note is None:
            raise NotFoundError(f"notification {notification_id} does not exist (see `tenantops notifications list`)")
        if note.status == "sent":
            note = m.Notification(tenant_id=note.tenant_id, channel=note.channel, recipient=note.recipient,
                                  subject=note.subject, body=note.body)
            s.add(note)
            s.flush()
        ok = _deliver(ctx, note)
        slug = s.scalar(sa.select(m.Tenant.slug).where(m.Tenant.id == note.tenant_id)) if note.tenant_id else None
        doc = notification_json(note, slug)
    if not ok:
        # the row keeps the error for `notifications list`; the audit records the failure
        raise StateError(f"notification {doc['id']} to {doc['recipient']} was not sent: {doc['error']}")
    return doc

"""The notifications outbox: rows written with the change, sent by SMTP when configured.

The welcome message carries the one-time setup link. The link is never stored in the
landlord: the outbox row holds a placeholder and the link waits in the keyring until the
message is sent (then it is deleted); the tenant database holds only the token's hash.
"""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import secrets
from tenantops.engine.config import Settings
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow

from tenantops.engine.landlord.outbox import LINK_PLACEHOLDER, REDACTED, link_key

__all__ = ["LINK_PLACEHOLDER", "REDACTED", "link_key", "queue_welcome", "send_pending", "setup_link"]


def queue_welcome(s: Session, settings: Settings, *, tenant_id: int, slug: str, email: str, token: str) -> int:
    link = settings.setup_url.format(slug=slug, token=token)
    body = (f"Welcome to your new workspace '{slug}'.\n\n"
            f"Set your password here (the link works once): {LINK_PLACEHOLDER}\n")
    note = m.Notification(tenant_id=tenant_id, recipient=email, subject=f"Your workspace {slug} is ready", body=body)
    s.add(note)
    s.flush()
    secrets.set_secret(link_key(note.id), link)
    return note.id


def _pending_link(note: m.Notification) -> str | None:
    return secrets.get_secret(link_key(note.id), required=False) if LINK_PLACEHOLDER in note.body else None


def setup_link(ctx: Context, slug: str) -> str | None:
    """The pending setup link of a tenant, for the operator to see once."""
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            return None
        note = s.scalar(sa.select(m.Notification).where(m.Notification.tenant_id == tenant.id,
                                                        m.Notification.status == "pending")
                        .order_by(m.Notification.id.desc()))
        if note is None:
            return None
        return _pending_link(note)


def send_pending(ctx: Context) -> int:
    smtp = ctx.settings.smtp
    if not smtp.host:
        return 0
    sent = 0
    with ctx.session() as s:
        pending = list(s.scalars(sa.select(m.Notification).where(m.Notification.status == "pending")))
        for note in pending:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = smtp.sender, note.recipient, note.subject
            link = _pending_link(note)
            if LINK_PLACEHOLDER in note.body and link is None:
                note.error = "the setup link is no longer in the keyring; the first admin needs a new setup token"
                continue
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
                continue
            note.status, note.sent_at, note.error = "sent", utcnow(), None
            note.body = note.body.replace(LINK_PLACEHOLDER, REDACTED)
            if link is not None:
                secrets.delete_secret(link_key(note.id))
            sent += 1
    return sent

"""Setup links at rest in the notifications outbox: where they are kept, and moving the
clear ones that older versions wrote into the keyring.

Versions before the trust-boundaries work wrote the welcome message with the one-time
setup link in clear in the landlord. Now the row holds ``LINK_PLACEHOLDER`` and the link
waits in the keyring until sent (tenants/notify.py); ``move_clear_links`` converts old
rows and is safe to run any number of times.
"""
from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tenantops.engine import secrets
from tenantops.engine.errors import SecretsError
from tenantops.engine.landlord import models as m

REDACTED = "[setup link sent; token removed from the outbox]"
LINK_PLACEHOLDER = "[setup link: held in the keyring until sent]"
# the wording of the welcome message in every version: what follows it is the link
_MARKER = "(the link works once): "
_CLEAR_LINK = re.compile(re.escape(_MARKER) + r"(?!\[)(\S+)")


def link_key(notification_id: int) -> str:
    return f"setup-link:{notification_id}"


def clear_links(s: Session) -> list[m.Notification]:
    """Outbox rows that still hold a setup link in clear."""
    rows = s.scalars(sa.select(m.Notification).where(m.Notification.body.contains(_MARKER))
                     .order_by(m.Notification.id))
    return [note for note in rows if _CLEAR_LINK.search(note.body)]


def move_clear_links(s: Session) -> int:
    """Move every clear setup link out of the landlord: a pending message's link into the
    keyring (sent with it, then deleted), a sent one's dropped. Returns rows changed; a
    row whose link the keyring refuses stays as it is (``doctor``: clear_secret_at_rest)."""
    moved = 0
    for note in clear_links(s):
        match = _CLEAR_LINK.search(note.body)
        assert match is not None  # clear_links returns only rows with a clear link
        if note.status == "pending":
            try:
                secrets.set_secret(link_key(note.id), match.group(1))
            except SecretsError:
                continue
            replacement = LINK_PLACEHOLDER
        else:
            replacement = REDACTED
        note.body = note.body[:match.start(1)] + replacement + note.body[match.end(1):]
        moved += 1
    return moved

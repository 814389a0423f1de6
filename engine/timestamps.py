"""Times as every JSON document and the landlord show them.

The landlord stores naive UTC (``models.utcnow``); a document says so explicitly, as ISO
8601 with the ``Z`` offset, so a runbook in Kathmandu does not read it as local time.
Imports nothing from the project: any layer may use it.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import overload


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: None) -> None: ...
@overload
def iso(value: datetime | None) -> str | None: ...


def iso(value: datetime | None) -> str | None:
    """``2026-11-30T22:01:38.123456Z``: a stored naive-UTC (or aware) time with its offset."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat() + "Z"


def parse(text: str) -> datetime:
    """The inverse of :func:`iso` (and of plain naive ISO text): naive UTC, as stored."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value

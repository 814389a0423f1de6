"""Text for times, durations and statuses. Status always carries an icon and a word:
colour is a hint on top, never the only signal (colour-blind operators, 16-colour SSH)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from textual.markup import escape

# status -> (icon, word, tone); tone names a theme colour in TONE_VARS / rowlist--<tone>
STATUS: dict[str, tuple[str, str, str | None]] = {
    # applications
    "pending": ("◷", "pending", "warn"),
    "approved": ("✓", "approved", "accent"),
    "rejected": ("✗", "rejected", "muted"),
    "provisioning": ("▶", "provisioning", "accent"),
    "provisioned": ("●", "provisioned", "ok"),
    # jobs and steps
    "queued": ("◷", "queued", "muted"),
    "running": ("▶", "running", "accent"),
    "succeeded": ("✓", "done", "ok"),
    "failed": ("✗", "FAILED", "bad"),
    "cancelled": ("⊘", "cancelled", "muted"),
    "needs_confirmation": ("?", "NEEDS CONFIRM", "warn"),
    "skipped": ("↷", "skipped", "muted"),
    # tenants
    "active": ("●", "active", "ok"),
    "suspended": ("‖", "suspended", "warn"),
    # drift severities
    "none": ("✓", "none", "ok"),
    "low": ("·", "low", None),
    "medium": ("▲", "medium", "warn"),
    "high": ("▲", "high", "bad"),
    "critical": ("■", "critical", "bad"),
    "unchecked": ("?", "unchecked", "muted"),
}

TONE_VARS = {"ok": "$text-success", "warn": "$text-warning", "bad": "$text-error", "accent": "$text-accent",
             "muted": "$text-muted"}


def status(value: str | None) -> tuple[str, str | None]:
    """``(icon + word, tone)`` for a status."""
    icon, word, tone = STATUS.get(value or "", ("·", value or "—", None))
    return f"{icon} {word}", tone


def status_markup(value: str | None) -> str:
    text, tone = status(value)
    return tone_markup(text, tone)


def tone_markup(text: str, tone: str | None, bold: bool = False) -> str:
    style = " ".join(filter(None, ["b" if bold else "", TONE_VARS.get(tone or "", "")]))
    return f"[{style}]{escape(text)}[/]" if style else escape(text)


def parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    # documents say UTC explicitly (`...Z`); the console's clock is naive UTC
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def ago(value: Any, now: datetime) -> str:
    """Compact age that fits a 7-cell column: 45s, 12m, 5h, 3d, 7w, 2y (ago)."""
    when = parse_time(value)
    if when is None:
        return "—"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 86400 * 14:
        return f"{seconds // 86400}d ago"
    if seconds < 86400 * 365:
        return f"{seconds // (86400 * 7)}w ago"
    return f"{seconds // (86400 * 365)}y ago"


def clock(value: Any) -> str:
    """Wall time in UTC (the landlord stores naive UTC): operators across zones agree."""
    when = parse_time(value)
    return when.strftime("%H:%M:%S") if when else "—"


def stamp(value: Any) -> str:
    when = parse_time(value)
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else "—"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def elapsed(start: Any, now: datetime) -> str:
    """A running clock, mm:ss (h:mm:ss past an hour)."""
    when = parse_time(start)
    if when is None:
        return "—"
    total = max(0, int((now - when).total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def shorten(text: str, limit: int) -> str:
    """Keep both ends of a long path or URL: the start names the kind, the end the file."""
    if len(text) <= limit:
        return text
    keep = max(1, limit - 1)
    head = keep // 3
    return text[:head] + "…" + text[len(text) - (keep - head):]

"""When a scheduled job may start: an explicit time, or the next maintenance window from
config (`[maintenance] windows = ["Sat 02:00-04:00 UTC"]`, seed 002's maintenance window
for custom migrations). Windows are weekly and in UTC, so no time-zone database is needed."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from tenantops.engine.errors import ConfigError, UsageError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WINDOW = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d) UTC$")


def parse_at(text: str) -> datetime:
    """An ISO 8601 time with an explicit offset (``Z`` or ``+05:45``), as UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--at {text!r} is not an ISO 8601 time (e.g. 2026-12-05T02:00:00Z)") from None
    if when.tzinfo is None:
        raise UsageError(f"--at {text!r} has no UTC offset: add Z or +HH:MM so the time is unambiguous")
    return when.astimezone(timezone.utc)


def next_window(windows: list[str], now: datetime, *, source: str = "config") -> datetime:
    """The start of the next maintenance window (now, if one is open)."""
    if not windows:
        raise ConfigError(f"{source}: [maintenance] windows is empty; add e.g. windows = [\"Sat 02:00-04:00 UTC\"] "
                          "or give --at")
    now = now.astimezone(timezone.utc)
    best: datetime | None = None
    for text in windows:
        match = _WINDOW.match(text.strip())
        if match is None:
            raise ConfigError(f"{source}: maintenance.windows: {text!r} is not like \"Sat 02:00-04:00 UTC\"")
        day, h1, m1, h2, m2 = match.groups()
        start_of_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        for week in (-1, 0, 1):
            start = start_of_week + timedelta(days=DAYS.index(day) + 7 * week, hours=int(h1), minutes=int(m1))
            end = start_of_week + timedelta(days=DAYS.index(day) + 7 * week, hours=int(h2), minutes=int(m2))
            if end <= start:
                end += timedelta(days=1)  # a window across midnight
            if end <= now:
                continue
            candidate = max(start, now)
            if best is None or candidate < best:
                best = candidate
    assert best is not None  # every weekly window recurs within a week
    return best

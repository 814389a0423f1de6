"""What a migration run plans and reports: plain records, free of Alembic, so code that
only replays compiled plans or reads history (a CLI following one provisioning job) need
not import it (Alembic's import is about 0.1 s of CPU)."""
from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Literal, NamedTuple

from tenantops.engine.errors import TenantopsError

Outcome = Literal["ok", "failed"]
Direction = Literal["upgrade", "downgrade"]


class MigrationFailed(TenantopsError):
    """A revision failed to upgrade or downgrade; names the unit and the revision."""

    def __init__(self, unit: str, revision: str, error: str, *, direction: Direction = "upgrade") -> None:
        verb = "upgrade" if direction == "upgrade" else "downgrade"
        super().__init__(f"{verb} of revision {revision} (unit {unit}) failed: {error}")
        self.unit = unit
        self.revision = revision
        self.error = error
        self.direction = direction


# A NamedTuple, not a frozen dataclass: the CLI imports this for every job it runs, and a
# frozen dataclass costs ~0.5 ms of start-up to generate its methods (bench/README.md §1).
class RevisionResult(NamedTuple):
    """One revision applied or rolled back, as the landlord history records it."""

    unit: str
    kind: str
    revision: str
    checksum: str
    duration_s: float
    outcome: Outcome
    direction: Direction = "upgrade"
    error: str | None = None
    statements: tuple[str, ...] = ()
    path: Path | None = None
    # when it ended (naive UTC), where the caller records it later than that (plans.replay_ahead)
    ended_at: datetime | None = None


class PlannedRevision(NamedTuple):
    """A revision still to apply; ``sql`` is filled by ``render_sql`` only."""

    unit: str
    kind: str
    revision: str
    path: Path
    checksum: str
    message: str
    sql: tuple[str, ...] = ()
    version_sql: tuple[str, ...] = ()


_CHECKSUMS: dict[tuple[str, int, int], str] = {}


def revision_checksum(path: Path) -> str:
    """sha256 of a revision file, so history shows when a file changed after it ran.

    Cached by (path, mtime, size): fleet scans key thousands of tenants by their files."""
    stat = Path(path).stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _CHECKSUMS:
        _CHECKSUMS[key] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return _CHECKSUMS[key]


def normalize_sql(statement: str) -> str:
    """One statement with whitespace collapsed and no terminator, for comparisons only."""
    return " ".join(statement.split()).rstrip(";").rstrip()

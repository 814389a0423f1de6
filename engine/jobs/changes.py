"""The one shape every guarded change has.

``preview_x(ctx, ...) -> Preview`` says exactly what the change would do (units, SQL,
what it drops) and changes nothing; ``--dry-run`` and the console's plan screens call it.
``request_x(ctx, ..., confirm=None) -> Queued`` checks the role and the confirmation,
queues the job under the tenant's lock and returns at once; a worker process runs it.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from tenantops.engine.errors import ConflictError


# A NamedTuple, not a frozen dataclass: the CLI imports this for every job it runs, and a
# frozen dataclass costs ~0.5 ms of start-up to generate its methods (bench/README.md §1).
class Preview(NamedTuple):
    operation: str
    tenant: str
    document: dict[str, Any]          # the plan exactly as `--dry-run --json` prints it
    destructive: bool = False          # queuing it needs the tenant's slug repeated
    pending: bool = True               # False: nothing to do, request_x queues nothing

    def to_json(self) -> dict[str, Any]:
        return self.document


class Queued(NamedTuple):
    operation: str
    tenant: str
    job: int | None                    # None when the preview had nothing to do
    preview: Preview
    extra: dict[str, Any] = {}          # e.g. a manual repair's script path (never mutated)

    def to_json(self) -> dict[str, Any]:
        doc = {**self.preview.document, **self.extra}
        if self.job is not None:
            doc["job"] = self.job
        return doc


def require_confirmation(preview: Preview, confirm: str | None, why: str) -> None:
    """Destructive changes run only when the operator repeats the tenant's slug."""
    if preview.destructive and confirm != preview.tenant:
        raise ConflictError(f"{why}: repeat the tenant's slug with --confirm {preview.tenant}")

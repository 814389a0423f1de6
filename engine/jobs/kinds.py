"""What a job kind is: one record per kind of job, declared next to the operation that
runs it and gathered by ``tenantops.engine.kinds``."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from tenantops.engine.context import Context
from tenantops.engine.jobs.timeline import Timeline
from tenantops.engine.landlord import models as m
from tenantops.engine.vocab import Role

Runner = Callable[[Context, m.Job, Timeline], "dict[str, Any] | None"]
# Queue a failed job of this kind again; returns the new job's id. The default re-enqueues
# the same parameters under the tenant's lock.
Requeue = Callable[[Context, m.Job], int]


# A NamedTuple, not a frozen dataclass: the CLI imports this for every job it runs, and a
# frozen dataclass costs ~0.5 ms of start-up to generate its methods (bench/README.md §1).
class JobKind(NamedTuple):
    name: str
    role: Role           # the role its request needs; retrying it needs the same
    run: Runner          # executes a claimed job inside a worker process
    requeue: Requeue | None = None
    destructive: bool = False   # retrying it drops or rewrites data: the slug must be confirmed


Registry = Mapping[str, JobKind]

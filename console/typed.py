"""The console app as screens and widgets see it, typed.

``TenantopsApp`` (app.py) imports every screen, so screens and widgets cannot import it
back without a cycle. The state they read from the app is declared here instead, on a
base class ``TenantopsApp`` derives from, and :func:`console_app` hands it out typed:
``console_app(self).ctx`` is a :class:`Context`, not ``Any`` behind a ``type: ignore``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, cast

from textual.app import App

if TYPE_CHECKING:
    from tenantops.engine.context import Context


# The top-level sections (app.SECTIONS): each is a mode with its own root screen.
Section = Literal["dashboard", "review", "jobs", "tenants", "servers", "audit", "rollouts"]


# -- "open X filtered by Y": one typed request per section ---------------------------
# A screen never reaches into another section's screen: it asks the app to ``show`` one
# of these, and the app lands on that section's root screen (whatever is on top of it)
# and hands the request to the root's ``apply_filter``.

@dataclass(frozen=True)
class ReviewFilter:
    SECTION: ClassVar[Section] = "review"
    status: str | None = None


@dataclass(frozen=True)
class JobsFilter:
    SECTION: ClassVar[Section] = "jobs"
    status: str | None = None


@dataclass(frozen=True)
class TenantsFilter:
    SECTION: ClassVar[Section] = "tenants"
    status: str | None = None
    drift: str | None = None
    server: str | None = None


@dataclass(frozen=True)
class AuditFilter:
    SECTION: ClassVar[Section] = "audit"
    tenant: str | None = None
    operator: str | None = None
    action: str | None = None


SectionFilter = ReviewFilter | JobsFilter | TenantsFilter | AuditFilter


class ConsoleApp(App[Any]):
    """What every screen and widget may read from the running console (set in
    ``TenantopsApp.__init__``)."""

    ctx: Context
    # the clock that ages and timers use: tests freeze it
    clock: Callable[[], datetime]
    poll_seconds: float
    # False in tests with made-up servers: no connection attempts
    probe_servers: bool
    demo: bool
    # the command log (L): engine calls and SQL statements of this session
    command_log: Any

    def open_section(self, name: Section) -> Any:
        """Land on the root screen of a section (its state kept), closing whatever was
        pushed on top of it; returns that root screen (None: not now, see the app)."""
        raise NotImplementedError

    def report_error(self, error: BaseException, *, reopen: bool = False) -> None:
        """An unexpected exception: logged, shown on the error screen; never a dead app."""
        raise NotImplementedError

    def run_anywhere(self, action_id: str) -> None:
        """Run a registry action of any screen from the palette, opening its screen first."""
        raise NotImplementedError

    def show(self, where: SectionFilter) -> None:
        """Open a section filtered: works whichever screen is on top of it."""
        raise NotImplementedError


class HasApp(Protocol):
    """Anything attached to a running app: screens, widgets, the registry mixins."""

    @property
    def app(self) -> App[object]: ...


def console_app(node: HasApp) -> ConsoleApp:
    """The running console app of a screen or widget.

    Screens and widgets of this package only ever run inside ``TenantopsApp``.
    """
    return cast(ConsoleApp, node.app)

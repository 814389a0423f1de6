"""The console app as screens and widgets see it, typed.

``TenantopsApp`` (app.py) imports every screen, so screens and widgets cannot import it
back without a cycle. The state they read from the app is declared here instead, on a
base class ``TenantopsApp`` derives from, and :func:`console_app` hands it out typed:
``console_app(self).ctx`` is a :class:`Context`, not ``Any`` behind a ``type: ignore``.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from textual.app import App

if TYPE_CHECKING:
    from tenantops.engine.context import Context


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


class HasApp(Protocol):
    """Anything attached to a running app: screens, widgets, the registry mixins."""

    @property
    def app(self) -> App[object]: ...


def console_app(node: HasApp) -> ConsoleApp:
    """The running console app of a screen or widget.

    Screens and widgets of this package only ever run inside ``TenantopsApp``.
    """
    return cast(ConsoleApp, node.app)

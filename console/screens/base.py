"""What every console screen shares: header and key bar, registry dispatch, and the
worker plumbing that keeps the UI thread off the database.

Reads and engine calls run in thread workers; a worker only posts a message and the
handler, on the UI thread, owns widgets and state (harlequin's pattern). An engine
refusal becomes a notification; an unexpected error becomes one line, never a traceback.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from textual import events, on
from textual.app import App, ComposeResult
from textual.await_complete import AwaitComplete
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.worker import get_current_worker

from tenantops.console.actions import DIALOG, Dispatch, bindings_for
from tenantops.console.typed import ConsoleApp, console_app
from tenantops.console.widgets.header import HeaderBar
from tenantops.console.widgets.keybar import KeyBar
from tenantops.engine.errors import TenantopsError

if TYPE_CHECKING:
    from tenantops.engine.context import Context


class Delivered(Message):
    """A worker's result (or its error, as one line) for the screen that asked."""

    def __init__(self, key: str, value: Any = None, error: str | None = None) -> None:
        super().__init__()
        self.key, self.value, self.error = key, value, error


def one_line(exc: BaseException) -> str:
    if isinstance(exc, TenantopsError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""
    # SQLAlchemy appends the statement and its parameters, which may hold data
    return f"internal error: {type(exc).__name__}: {text.split('[SQL:')[0].strip()[:200]}"


class _DeliverHost(Protocol):
    """What ``Deliver`` needs of the class it is mixed into (a screen or the app)."""

    @property
    def app(self) -> App[object]: ...

    def post_message(self, message: Message) -> bool: ...


class Deliver:
    """Mixin: ``deliver(key, fn)`` runs in a worker thread and posts ``Delivered``."""

    def deliver(self: _DeliverHost, key: str, fn: Callable[[], Any]) -> None:
        worker = get_current_worker()
        log = getattr(self.app, "command_log", None)
        try:
            if log is not None:
                from tenantops.console.commandlog import call_name

                with log.call(call_name(fn, key)):
                    value = fn()
            else:
                value = fn()
        except Exception as exc:  # noqa: BLE001 - reported as one line, the UI never crashes
            if not worker.is_cancelled:
                self.post_message(Delivered(key, error=one_line(exc)))
            return
        # a newer read replaced this one (exclusive workers): its result would be stale
        if not worker.is_cancelled:
            self.post_message(Delivered(key, value))

    def on_delivered(self: _DeliverHost, message: Delivered) -> None:
        message.stop()
        try:
            if message.error is not None:
                handler = getattr(self, f"failed_{message.key}", None)
                if handler is not None:
                    handler(message.error)
                else:
                    self.app.notify(message.error, title="Refused" if "needs the" in message.error else "Failed",
                                    severity="error", timeout=8)
                return
            getattr(self, f"show_{message.key}")(message.value)
        except Exception as exc:  # noqa: BLE001 - the error screen, never a dead console
            console_app(self).report_error(exc)


@runtime_checkable
class Filterable(Protocol):
    """A section's root screen that can be opened filtered (``app.show``)."""

    def apply_filter(self, where: Any) -> None: ...


class BaseScreen(Deliver, Dispatch, Screen):
    """A full screen with the header and the registry-driven key bar."""

    SCREEN_NAME: ClassVar[str] = ""
    TITLE_TEXT: ClassVar[str] = ""
    # this screen in the header's breadcrumb, when shorter than its title
    CRUMB: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # bindings come from the registry, per screen name, never written by hand
        if "SCREEN_NAME" in cls.__dict__ and "BINDINGS" not in cls.__dict__:
            cls.BINDINGS = bindings_for(cls.SCREEN_NAME)
        super().__init_subclass__(**kwargs)

    @property
    def tapp(self) -> ConsoleApp:
        """The running console, typed (``self.app`` is a plain ``App``)."""
        return console_app(self)

    @property
    def ctx(self) -> Context:
        return self.tapp.ctx

    @property
    def crumb(self) -> str:
        """This screen's part of the breadcrumb (a tenant screen names its tenant)."""
        return self.CRUMB or self.TITLE_TEXT

    def breadcrumb(self) -> list[str]:
        """Where this screen is: the crumbs of its section's stack up to it."""
        crumbs: list[str] = []
        for screen in self.app.screen_stack:
            if isinstance(screen, BaseScreen):
                crumbs.append(screen.crumb)
            if screen is self:
                return crumbs
        return [self.crumb]

    def compose(self) -> ComposeResult:
        yield HeaderBar(self.TITLE_TEXT)
        yield from self.compose_body()
        yield KeyBar(self.SCREEN_NAME)

    def tick_ages(self) -> None:
        """Repaint relative ages ("17s ago") from the data already read; screens that
        show ages override it and it runs every second while the screen is on top."""

    @on(events.Mount)
    def _start_age_tick(self) -> None:
        if type(self).tick_ages is not BaseScreen.tick_ages:
            self.set_interval(1.0, self._tick_ages)

    # True while tick_ages runs: lists repaint without announcing a new highlight
    ticking = False

    def _tick_ages(self) -> None:
        import time

        # not in the middle of typing: an age a second late is fine, a key's repaint
        # waiting for one is not
        if time.monotonic() - getattr(self.app, "last_key_at", 0.0) < 0.5:
            return
        if self.is_current:
            self.ticking = True
            try:
                self.tick_ages()
            finally:
                self.ticking = False

    @on(events.ScreenResume)
    def _update_breadcrumb(self) -> None:
        for header in self.query(HeaderBar):
            header.set_crumbs(self.breadcrumb())

    def compose_body(self) -> ComposeResult:
        yield from ()

    def refresh_keys(self) -> None:
        for bar in self.query(KeyBar):
            bar.refresh()


def show_error(widget: Any, text: str | None) -> None:
    """An inline validation message under its field; the line disappears when empty."""
    widget.update(text or "")
    widget.set_class(bool(text), "-shown")


class BaseDialog(Deliver, Dispatch, ModalScreen):
    """A modal form; Escape cancels and changes nothing."""

    BINDINGS = bindings_for(DIALOG)
    _dismissed = False

    @property
    def tapp(self) -> ConsoleApp:
        """The running console, typed (``self.app`` is a plain ``App``)."""
        return console_app(self)

    @property
    def ctx(self) -> Context:
        return self.tapp.ctx

    def cmd_cancel(self) -> None:
        self.dismiss(None)

    def dismiss(self, result: Any = None) -> AwaitComplete:
        # Textual pops the top screen whoever asks: a dialog closed twice (Enter then Esc
        # before the first was handled) would close the screen under it too, and answer
        # its caller twice
        if not self.is_current or self._dismissed:
            return AwaitComplete.nothing()
        self._dismissed = True
        return super().dismiss(result)


def next_in(cycle: tuple[Any, ...] | list[Any], current: Any) -> Any:
    """The value after ``current`` in a filter cycle (wraps; an unknown value starts over)."""
    index = cycle.index(current) if current in cycle else 0
    return cycle[(index + 1) % len(cycle)]


class _FilterHost(Protocol):
    """What ``FilterableList`` needs of the screen it is mixed into."""

    text_filter: str
    list_selector: ClassVar[str]

    def refilter(self) -> None: ...

    def query_one(self, selector: Any) -> Any: ...


class FilterableList:
    """Filter-as-you-type shared by the list screens: ``/`` opens the filter bar, every
    keystroke sets ``text_filter`` and calls ``refilter``, Enter gives the list the focus."""

    text_filter: str = ""
    list_selector: ClassVar[str] = "RowList"

    def refilter(self) -> None:
        raise NotImplementedError

    def cmd_filter(self: _FilterHost) -> None:
        from tenantops.console.widgets.filterbar import FilterBar

        self.query_one(FilterBar).open()

    def on_filter_bar_filtered(self: _FilterHost, event: Any) -> None:
        self.text_filter = event.text.strip().lower()
        self.refilter()
        if event.done:
            self.query_one(self.list_selector).focus()


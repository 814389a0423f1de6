"""The full-screen console (Textual). Screens live one per file under screens/; every key
comes from actions.REGISTRY; every style from themes/*.tcss."""
from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.screen import ModalScreen, Screen

from tenantops.console import data
from tenantops.console.commandlog import close_log, open_log
from tenantops.console.actions import GLOBAL, BY_ID, Dispatch, RegistryCommands, bindings_for
from tenantops.console.screens.audit import AuditScreen
from tenantops.console.screens.base import BaseScreen, Deliver, Filterable, one_line
from tenantops.console.screens.dashboard import DashboardScreen
from tenantops.console.screens.jobs import JobsScreen
from tenantops.console.screens.review import ReviewScreen
from tenantops.console.screens.rollouts import RolloutsScreen
from tenantops.console.screens.servers import ServersScreen
from tenantops.console.screens.tenants import TenantsScreen
from tenantops.console.themes import DEFAULT_THEME, THEMES, stylesheets
from tenantops.console.typed import ConsoleApp, Section, SectionFilter
from tenantops.engine.landlord.models import utcnow

if TYPE_CHECKING:
    from tenantops.console.unreachable import LandlordUnreachableApp
    from tenantops.engine.context import Context

# Top-level sections are modes: each keeps its own screen stack, so jumping between
# them (1-7) never piles screens up; drill-downs (tenant, diff, repair, timeline, wizard,
# help) are pushed.
SECTIONS: dict[Section, type[BaseScreen]] = {"dashboard": DashboardScreen, "review": ReviewScreen, "jobs": JobsScreen, "tenants": TenantsScreen,
            "servers": ServersScreen, "audit": AuditScreen, "rollouts": RolloutsScreen}


class TenantopsApp(Deliver, Dispatch, ConsoleApp):
    CSS_PATH = stylesheets()
    TITLE = "tenantops"
    BINDINGS = bindings_for(GLOBAL)
    COMMANDS = {RegistryCommands}
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {str(name): screen for name, screen in SECTIONS.items()}
    DEFAULT_MODE = "dashboard"
    # at 100+ columns list panes get wider (themes/screens.tcss: Screen.-wide)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, ctx: Context, *, demo: bool = False, clock: Callable[[], datetime] | None = None,
                 poll_seconds: float = 5.0, probe_servers: bool = True) -> None:
        super().__init__()
        self.ctx = ctx
        # Read (and cache) the role now, before the event loop: the UI thread must not
        # wait on the landlord later, and role checks run on every key.
        self.ctx.role
        self.demo = demo
        # A clock that tests can freeze: ages, elapsed timers and the snapshot images
        # depend on it.
        self.clock: Callable[[], datetime] = clock or utcnow
        self.poll_seconds = poll_seconds
        # exceptions turned into the error screen (tests assert there were none)
        self.handled_errors: list[BaseException] = []
        self._error_times: list[float] = []
        # probing opens a connection to every database server: tests with made-up
        # servers switch it off
        self.probe_servers = probe_servers
        # every engine call and SQL statement of this session, for the command log (L)
        self.command_log = open_log()
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = ctx.settings.theme if ctx.settings.theme in THEMES else DEFAULT_THEME

    # -- unexpected errors: an error screen, never a dead app ---------------------
    # More than this many within ERROR_WINDOW seconds and the console gives up (a crash,
    # exit status 1): an error that repeats on every refresh would bury the operator.
    MAX_ERRORS = 5
    ERROR_WINDOW = 10.0

    @property
    def log_path(self) -> Path:
        return Path(self.ctx.home) / "logs" / "console.log"

    def report_error(self, error: BaseException, *, reopen: bool = False) -> None:
        """An unexpected exception: written to the log file with its traceback, shown as
        the error screen (message, log file, the way back). ``reopen``: the screen that
        raised is dead (Textual stops a widget's message loop after an exception in one
        of its handlers), so going back reopens its section afresh."""
        import time
        import traceback

        from tenantops.console.screens.error import ErrorScreen

        self.handled_errors.append(error)
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(f"--- {utcnow():%Y-%m-%d %H:%M:%S} UTC, {self.ctx.operator}, screen "
                          f"{type(self.screen).__name__ if self._screen_stack else '-'}\n")
                log.write("".join(traceback.format_exception(error)))
        except OSError:
            pass
        now = time.monotonic()
        self._error_times = [t for t in self._error_times if now - t < self.ERROR_WINDOW] + [now]
        recoverable = (self.is_running and bool(self._screen_stack) and not isinstance(self.screen, ErrorScreen)
                       and len(self._error_times) <= self.MAX_ERRORS and isinstance(error, Exception))
        if not recoverable:
            # a crash: Textual prints the traceback and the console exits with status 1
            super()._handle_exception(error if isinstance(error, Exception) else RuntimeError(str(error)))
            return
        mode = self.current_mode
        where = "the previous screen"
        if reopen and mode in SECTIONS:
            self._reopen_section(mode)
            where = f"{SECTIONS[mode].TITLE_TEXT}, opened afresh"
        self.push_screen(ErrorScreen(one_line(error), str(self.log_path), where))

    def _handle_exception(self, error: Exception) -> None:
        """Textual's hook for an exception no handler caught (a message handler, a timer):
        the error screen while the console can go on, a crash (exit status 1) when not."""
        self.report_error(error, reopen=True)

    def _reopen_section(self, mode: Section) -> None:
        """The section where the error happened, replaced by a fresh one: a widget whose
        handler raised handles no more messages, so its screens are closed."""
        self.switch_mode("audit" if mode == "dashboard" else "dashboard")
        self.remove_mode(mode)
        self.add_mode(mode, SECTIONS[mode])
        self.switch_mode(mode)

    def on_mount(self) -> None:
        if self.demo:
            self.notify("Filling the store with demo data…", title="Demo")
            self.fill_demo()

    # when the last key arrived: ages wait for a quiet moment to repaint (base.py)
    last_key_at = 0.0

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            import time

            self.last_key_at = time.monotonic()
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        """Type-ahead after ``/``: keys typed right behind it were already on their way
        to the list when the filter opened; they reach the app unhandled (the filter
        would have taken them) and belong to the filter."""
        from tenantops.console.widgets.filterbar import FilterBar

        if not self._screen_stack:
            # keys typed while the console closes: Textual's own key handling would look
            # up a screen that is gone (ScreenStackError), so it must not run either
            event.prevent_default()
            return
        focused = self.focused
        if isinstance(focused, FilterBar) and event.is_printable and event.character:
            event.prevent_default()
            event.stop()
            focused.insert_text_at_cursor(event.character)

    # -- the demo store ------------------------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="demo")
    def fill_demo(self) -> None:
        self.deliver("demo", lambda: data.fill_demo(self.ctx))

    def show_demo(self, filled: bool | None) -> None:
        if filled is None:
            self.notify("This build has no demo data (engine/demo.py is missing).", title="Demo",
                        severity="warning")
        elif filled:
            self.notify("Demo data is ready.", title="Demo")
        else:
            self.notify("The store already has data; demo data was not added.", title="Demo")
        screen = self.screen
        if hasattr(screen, "cmd_refresh"):
            screen.cmd_refresh()

    # -- registry ------------------------------------------------------------
    def cmd_help(self) -> None:
        from tenantops.console.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        scope = getattr(self.screen, "SCREEN_NAME", None)
        self.push_screen(HelpScreen(scope))

    def cmd_palette(self) -> None:
        self.action_command_palette()

    def action_command_palette(self) -> None:
        from textual.command import CommandPalette

        from tenantops.console.screens.palette import Palette

        if self.use_command_palette and not CommandPalette.is_open(self):
            # no fixed id: a palette left in another section's stack would clash with it
            self.push_screen(Palette())

    # -- navigation: sections, their root screens, filtered opens ---------------
    def open_section(self, name: Section) -> BaseScreen | None:
        """Land on the section's root screen, its state (filters, cursor) kept: screens
        pushed on top of it (a tenant, a diff, a dialog) are closed. None when a dialog
        or the palette was opened after the request and is still being built (the newer
        input wins: switching sections under it would break it)."""
        if self.current_mode != name:
            if isinstance(self.screen, ModalScreen) and not self.screen.is_mounted:
                return None
            # dialogs and the palette belong to the screen being left: closed, not kept
            # in a section's stack where they would wake up under another section
            while len(self.screen_stack) > 1 and isinstance(self.screen, ModalScreen):
                self.pop_screen()
            self.switch_mode(name)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        root = self.screen_stack[0]
        assert isinstance(root, BaseScreen)
        return root

    def show(self, where: SectionFilter) -> None:
        root = self.open_section(where.SECTION)
        if root is not None:
            assert isinstance(root, Filterable)
            root.apply_filter(where)

    def run_anywhere(self, action_id: str) -> None:
        """The palette runs an action of another screen: back to that screen when it is
        in this section's stack, the section's root for a section's action, the tenant
        (the one on the stack or highlighted in the list) for a tenant's screens;
        otherwise it says where the action lives."""
        from tenantops.console.actions import SCREEN_LABELS
        from tenantops.console.screens.tenant import TenantScreen

        action = BY_ID[action_id]
        scope = action.screens[0]
        for screen in reversed(self.screen_stack):
            if getattr(screen, "SCREEN_NAME", None) == scope:
                while self.screen is not screen and len(self.screen_stack) > 1:
                    self.pop_screen()
                screen.call_later(screen.action_run, action_id)
                return
        if scope in SECTIONS:
            root = self.open_section(scope)
            if root is not None:
                root.call_later(root.action_run, action_id)
            return
        opens = {"tenant": action_id, "diff": "tenant.diff", "repair": "tenant.repair",
                 "snapshots": "tenant.snapshots", "backups": "tenant.backups", "quarantine": "tenant.quarantine",
                 "accepted": "tenant.accepted", "custom": "tenant.custom"}
        slug = self._tenant_in_view()
        if scope in opens and slug:
            self.open_section("tenants")
            tenant = TenantScreen(slug)
            self.push_screen(tenant)
            tenant.call_later(tenant.action_run, opens[scope])
            return
        self.notify(f"{action.description} works on {SCREEN_LABELS.get(scope, scope)}: open one first"
                    + (" (4 Tenants, Enter on a tenant)" if scope in opens else ""), title="Commands", timeout=5)

    def _tenant_in_view(self) -> str | None:
        for screen in reversed(self.screen_stack):
            slug = getattr(screen, "slug", None)
            if isinstance(slug, str):
                return slug
        screen = self.screen
        if getattr(screen, "SCREEN_NAME", "") == "tenants":
            row = screen.query_one("#tenants-list").current_row  # type: ignore[attr-defined]
            return row.key if row is not None else None
        return None

    def cmd_dashboard(self) -> None:
        self.open_section("dashboard")

    def cmd_applications(self) -> None:
        self.open_section("review")

    def cmd_jobs(self) -> None:
        self.open_section("jobs")

    def cmd_tenants(self) -> None:
        self.open_section("tenants")

    def cmd_servers(self) -> None:
        self.open_section("servers")

    def cmd_audit(self) -> None:
        self.open_section("audit")

    def cmd_rollouts(self) -> None:
        self.open_section("rollouts")

    def cmd_theme(self) -> None:
        from tenantops.console.screens.theme_picker import ThemePicker

        self.push_screen(ThemePicker(self.theme), self._theme_chosen)

    def _theme_chosen(self, name: str | None) -> None:
        if name and name in THEMES:
            self.theme = name
            self.save_theme(name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="theme")
    def save_theme(self, name: str) -> None:
        from pathlib import Path

        from tenantops.engine.config import save_setting

        def save() -> str:
            save_setting(Path(self.ctx.settings.source), "theme", name)
            return name

        self.deliver("theme_saved", save)

    def show_theme_saved(self, name: str) -> None:
        self.ctx.settings.theme = name
        self.notify(f"Theme {name} saved to {self.ctx.settings.source}", title="Theme")

    def cmd_back(self) -> None:
        """q and Esc: close this screen or dialog; at a section's root go to the
        dashboard; on the dashboard say how to quit (ctrl+q)."""
        screen = self.screen
        if hasattr(screen, "cmd_cancel"):
            screen.cmd_cancel()
        elif len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode != "dashboard":
            self.switch_mode("dashboard")
        else:
            self.notify("ctrl+q quits; running jobs continue in their workers", title="Quit?", timeout=3)

    def cmd_command_log(self) -> None:
        from tenantops.console.screens.command_log import CommandLogScreen

        if not isinstance(self.screen, CommandLogScreen):
            self.push_screen(CommandLogScreen(self.command_log))

    def cmd_quit(self) -> None:
        close_log(self.command_log)
        self.exit()

    def action_run(self, action_id: str) -> Any:  # noqa: D102 - see Dispatch
        if action_id not in BY_ID:
            return None
        return Dispatch.action_run(self, action_id)


def handler_targets() -> dict[str, list[type]]:
    """Which classes implement each registry scope (the registry test checks handlers)."""
    from tenantops.console.screens.custom import CustomScreen
    from tenantops.console.screens.diff import DiffScreen
    from tenantops.console.screens.help import HelpScreen
    from tenantops.console.screens.plan import PlanScreen
    from tenantops.console.screens.recovery import AcceptedScreen, BackupsScreen, QuarantineScreen
    from tenantops.console.screens.repair import RepairScreen
    from tenantops.console.screens.snapshots import SnapshotsScreen
    from tenantops.console.screens.tenant import TenantScreen
    from tenantops.console.screens.timeline import TimelineScreen
    from tenantops.console.screens.wizard import WizardScreen
    from tenantops.console.widgets.diffview import DiffView
    from tenantops.console.widgets.picklist import PickList
    from tenantops.console.widgets.rowlist import RowList
    from tenantops.console.widgets.scrollpane import ScrollPane

    screens: list[type[BaseScreen]] = [*SECTIONS.values(), WizardScreen, PlanScreen, TimelineScreen, HelpScreen, TenantScreen, DiffScreen,
               RepairScreen, SnapshotsScreen, CustomScreen, BackupsScreen, QuarantineScreen, AcceptedScreen]
    from tenantops.console.screens.accept import AcceptDialog
    from tenantops.console.screens.approve import ApproveDialog
    from tenantops.console.screens.choose import ChoiceDialog
    from tenantops.console.screens.command_log import CommandLogScreen
    from tenantops.console.screens.confirm import ConfirmDialog
    from tenantops.console.screens.new_application import NewApplicationForm
    from tenantops.console.screens.reject import RejectDialog
    from tenantops.console.screens.theme_picker import ThemePicker

    targets: dict[str, list[type]] = {
        GLOBAL: [TenantopsApp], "list": [RowList, ScrollPane, DiffView, PickList],
        "dialog": [ApproveDialog, RejectDialog, ConfirmDialog, NewApplicationForm, ThemePicker, AcceptDialog,
                   ChoiceDialog, CommandLogScreen]}
    for screen in screens:
        targets.setdefault(screen.SCREEN_NAME, []).append(screen)
    return targets


def open_or_wait(args: argparse.Namespace, unreachable_app: type[LandlordUnreachableApp] | None = None) -> Context | None:
    """Open the landlord; when that fails, a screen says why and offers retry (the
    context once a retry succeeds, None when the operator quits)."""
    import os

    from tenantops.console.unreachable import LandlordUnreachableApp
    from tenantops.engine.config import ConfigError
    from tenantops.engine.context import Context
    from tenantops.engine.errors import PermissionDenied, TenantopsError

    def opener() -> Context:
        return Context.open(home=args.home, config=args.config, landlord_url=args.landlord)

    try:
        return opener()
    except (ConfigError, PermissionDenied):
        raise  # a bad config or an unregistered account is not fixed by retrying: one line
    except TenantopsError as exc:
        where = args.landlord or os.environ.get("TENANTOPS_LANDLORD_URL") or "the embedded SQLite store"
        return (unreachable_app or LandlordUnreachableApp)(str(exc), where, opener).run()


def run_console(args: argparse.Namespace) -> int:
    ctx = open_or_wait(args)
    if ctx is None:
        return 1
    app = TenantopsApp(ctx, demo=bool(getattr(args, "demo", False)))
    try:
        app.run()
    finally:
        ctx.close()
    # a crash (an error the console could not recover from) exits non-zero
    return app.return_code or 0


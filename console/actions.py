"""The one action registry: bindings, the key bar, the `?` help screen and the command
palette are all generated from ``REGISTRY``, so they cannot disagree.

Roles are checked twice: here (an action above the operator's role is shown disabled
with the role it needs, and refuses with a notification) and in the engine, which
refuses and audits whatever the UI does.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider

from tenantops.engine.vocab import ROLES as ROLES  # re-exported: the registry test checks roles against it
from tenantops.console.typed import HasApp, console_app
from tenantops.engine.vocab import Role

if TYPE_CHECKING:
    from tenantops.engine.context import Context

GLOBAL = "*"
LIST = "list"
# Modal dialogs see only their own bindings (Textual stops the chain at a modal screen)
DIALOG = "dialog"
# Prefix keys of tmux and GNU screen, and keys tmux users commonly bind for pane moves:
# an action on one of these would never reach the console over SSH in tmux.
FORBIDDEN_KEYS = frozenset({"ctrl+b", "ctrl+j", "ctrl+k", "ctrl+s", "ctrl+a"})

_KEY_DISPLAY = {
    "question_mark": "?", "slash": "/", "escape": "esc", "space": "space", "enter": "enter",
    "pagedown": "pgdn", "pageup": "pgup", "down": "↓", "up": "↑", "left": "←", "right": "→",
    "home": "home", "end": "end", "tab": "tab",
}


@dataclass(frozen=True)
class Action:
    """One thing an operator can do. ``screens`` names where it applies: a screen name,
    ``"*"`` (everywhere, handled by the app) or ``"list"`` (inside any list widget)."""

    id: str
    key: str
    description: str
    role: Role = "viewer"
    screens: tuple[str, ...] = (GLOBAL,)
    dangerous: bool = False
    footer: bool = True
    help: str = ""
    # the engine function a mutating action ends in ("module.function"): the engine checks
    # the same role again, and the read-only test calls it as a viewer to prove that
    engine: str = ""

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def handler(self) -> str:
        """The method each target of this action implements."""
        return "cmd_" + self.name.replace("-", "_")

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.key.split(",") if k.strip())

    @property
    def key_display(self) -> str:
        return key_display(self.keys[0])


def key_display(key: str) -> str:
    if key in _KEY_DISPLAY:
        return _KEY_DISPLAY[key]
    if key.startswith("ctrl+"):
        return "^" + key_display(key[5:])
    return key


def _a(id: str, key: str, description: str, *screens: str, role: Role = "viewer", dangerous: bool = False,
       footer: bool = True, help: str = "", engine: str = "") -> Action:
    return Action(id, key, description, role, tuple(screens) or (GLOBAL,), dangerous, footer, help, engine)


REGISTRY: tuple[Action, ...] = (
    # everywhere (the app handles these)
    _a("app.help", "question_mark", "Help", help="Every key of this screen and the role it needs"),
    _a("app.palette", "ctrl+p", "Commands", footer=False, help="Search every action by name"),
    _a("app.dashboard", "1", "Dashboard", footer=False, help="Counts of everything, each opens its list"),
    _a("app.applications", "2", "Applications", footer=False, help="Review queue: approve, reject, provision"),
    _a("app.jobs", "3", "Jobs", footer=False, help="Running, queued, failed and recent jobs"),
    _a("app.tenants", "4", "Tenants", footer=False, help="Provisioned tenants by status and drift"),
    _a("app.servers", "5", "Servers", footer=False, help="Database servers: reachability, version, capacity"),
    _a("app.audit", "6", "Audit", footer=False, help="Who did what to which tenant, with the outcome"),
    _a("app.rollouts", "7", "Rollouts", footer=False,
       help="Staged rollouts: progress per stage; pause, resume, cancel"),
    _a("app.theme", "T", "Theme", footer=False, help="Pick a colour theme (saved in the config file)"),
    _a("app.command-log", "L", "Command log", footer=False,
       help="Every engine call and SQL statement this console made, with timing"),
    _a("app.back", "q,escape", "Back", help="Close this screen or dialog; on a section, go to the dashboard"),
    _a("app.quit", "ctrl+q", "Quit", footer=False,
       help="Leave the console (from any screen or dialog); running jobs continue in their workers"),
    # inside any dialog
    _a("dialog.cancel", "escape", "Cancel", DIALOG, footer=False, help="Close the dialog; nothing changes"),
    # inside any list
    _a("list.down", "j,down", "Next row", LIST, footer=False),
    _a("list.up", "k,up", "Previous row", LIST, footer=False),
    _a("list.top", "g,home", "First row", LIST, footer=False),
    _a("list.bottom", "G,end", "Last row", LIST, footer=False),
    _a("list.page-down", "pagedown", "Page down", LIST, footer=False),
    _a("list.page-up", "pageup", "Page up", LIST, footer=False),
    _a("list.select", "enter", "Open", LIST, footer=False, help="Open the highlighted row"),
    # dashboard
    _a("dashboard.next-panel", "l,right", "Next panel", "dashboard", footer=False),
    _a("dashboard.previous-panel", "h,left", "Previous panel", "dashboard", footer=False),
    _a("dashboard.refresh", "r", "Refresh", "dashboard", help="Read the figures again now"),
    # application review
    _a("review.approve", "a", "Approve", "review", role="admin", help="Approve the application, with notes",
       engine="applications.approve"),
    _a("review.reject", "x", "Reject", "review", role="admin", dangerous=True,
       help="Reject with a reason the applicant will read; final", engine="applications.reject"),
    _a("review.provision", "p", "Provision", "review", role="admin", dangerous=True,
       help="Preview the plan, then create the tenant database in a worker", engine="provision.request_provision"),
    _a("review.new", "n", "New", "review", role="admin", help="Submit an application on someone's behalf",
       engine="applications.submit"),
    _a("review.status", "f", "Status", "review", help="Cycle the status filter"),
    _a("review.filter", "slash", "Filter", "review", help="Filter by slug, organisation or e-mail"),
    _a("review.sort", "o", "Sort", "review", footer=False, help="Newest or oldest first"),
    _a("review.timeline", "t", "Timeline", "review", help="The latest job of this application"),
    _a("review.refresh", "r", "Refresh", "review", footer=False),
    # template and module wizard
    _a("wizard.toggle", "space", "Toggle", "wizard", help="Choose the template, or add/remove a module"),
    _a("wizard.preview", "v", "Plan", "wizard", help="Preview units, revisions and SQL before anything runs"),
    # plan preview
    _a("plan.confirm", "c", "Confirm", "plan", role="admin", help="Go ahead with what this plan shows",
       engine="provision.request_provision"),
    _a("plan.dialect", "m", "Dialect", "plan", help="Show the SQL for SQLite or MySQL/MariaDB"),
    # job timeline
    _a("timeline.details", "d", "Details", "timeline", help="Show every step's detail, not only failures"),
    _a("timeline.follow", "f", "Follow", "timeline", help="Keep the running step in view"),
    _a("timeline.retry", "R", "Retry", "timeline", role="admin", dangerous=True,
       help="Queue a failed job again and start a worker", engine="kinds.retry"),
    _a("timeline.refresh", "r", "Refresh", "timeline", footer=False),
    # jobs
    _a("jobs.status", "f", "Status", "jobs", help="Cycle running / queued / failed / all"),
    _a("jobs.filter", "slash", "Filter", "jobs", help="Filter by tenant or kind"),
    _a("jobs.retry", "R", "Retry", "jobs", role="admin", dangerous=True,
       help="Queue a failed job again and start a worker", engine="kinds.retry"),
    _a("jobs.refresh", "r", "Refresh", "jobs", footer=False),
    # tenants
    _a("tenants.filter", "slash", "Filter", "tenants",
       help="Type to narrow: words match slug, organisation, template, module, status, server or severity; "
            "field:value narrows one field (server:db1 sev:high module:events)"),
    _a("tenants.sort", "o", "Sort", "tenants", help="Sort by the next column (slug, status, organisation, "
                                                    "template, server, drift, last check)"),
    _a("tenants.reverse", "O", "Reverse", "tenants", footer=False, help="Reverse the sort order"),
    _a("tenants.status", "f", "Status", "tenants", help="Cycle the status filter"),
    _a("tenants.drift", "d", "Drift", "tenants", help="Cycle the drift severity filter"),
    _a("tenants.refresh", "r", "Refresh", "tenants", footer=False),
    # one tenant
    _a("tenant.diff", "d", "Diff", "tenant", help="Expected and actual schema side by side (checks drift now)"),
    _a("tenant.check", "c", "Check", "tenant", help="Check drift now and store the report"),
    _a("tenant.repair", "R", "Repair", "tenant", role="dba",
       help="Plan a guarded repair of the drift, see the SQL, run it as a job", engine="repair.request_repair"),
    _a("tenant.snapshot", "s", "Snapshot", "tenant", role="admin", help="Capture the schema now",
       engine="snapshots.snapshot"),
    _a("tenant.add-module", "a", "Add module", "tenant", role="admin",
       help="Choose a module in the wizard; it is installed by a job", engine="modules.request_module_add"),
    _a("tenant.remove-module", "x", "Remove module", "tenant", role="admin", dangerous=True,
       help="Drop a module's tables (backup first); type the slug to confirm", engine="modules.request_module_remove"),
    _a("tenant.sync", "u", "Sync", "tenant", role="admin", dangerous=True,
       help="Apply pending revisions of the tenant's units", engine="sync.request_sync"),
    _a("tenant.rollback", "b", "Rollback", "tenant", role="dba", dangerous=True,
       help="Undo every batch after the one you choose; preview first, type the slug", engine="rollback.request_rollback"),
    _a("tenant.snapshots", "S", "Snapshots", "tenant", help="Snapshots of this tenant; pick two to compare"),
    _a("tenant.custom", "C", "Custom", "tenant", help="Custom migrations of this tenant and their reviews"),
    _a("tenant.timeline", "t", "Timeline", "tenant", help="The timeline of this tenant's latest job"),
    _a("tenant.audit", "A", "Audit", "tenant", footer=False, help="The audit log of this tenant"),
    _a("tenant.backups", "B", "Backups", "tenant", help="This tenant's backups; a dba restores one"),
    _a("tenant.quarantine", "Q", "Quarantine", "tenant", footer=False,
       help="Data repairs moved aside; a dba brings it back"),
    _a("tenant.accepted", "D", "Accepted drift", "tenant", footer=False,
       help="Differences accepted for this tenant; a dba withdraws one"),
    _a("tenant.suspend", "z", "Suspend/resume", "tenant", role="admin", dangerous=True, footer=False,
       help="Lock the tenant's application out (a reason is required) or let it back in",
       engine="lifecycle.request_suspend"),
    _a("tenant.move", "m", "Move", "tenant", role="dba", dangerous=True, footer=False,
       help="Copy the tenant to another server, verify it there, switch; the source is kept",
       engine="move.request_move"),
    _a("tenant.archive", "X", "Archive", "tenant", role="dba", dangerous=True, footer=False,
       help="Pinned final backup, then drop the database and its account; type the slug",
       engine="lifecycle.request_archive"),
    _a("tenant.refresh", "r", "Refresh", "tenant", footer=False),
    # side-by-side schema diff
    _a("diff.next", "n", "Next", "diff", help="Next difference"),
    _a("diff.previous", "N", "Previous", "diff", help="Previous difference"),
    _a("diff.kind", "o", "Kind", "diff", help="Show one kind of object: table, column, index, foreign key, …"),
    _a("diff.change", "c", "Change", "diff", help="Show one kind of change: added (+), removed (-), modified (~)"),
    _a("diff.only", "d", "Differing", "diff", help="Only tables that differ, or every table"),
    _a("diff.accept", "a", "Accept", "diff", role="dba",
       help="Accept this difference with a reason and an expiry date", engine="drift.accept_difference"),
    _a("diff.plan", "p", "Repair plan", "diff", help="Preview the repair of these differences"),
    _a("diff.refresh", "r", "Re-check", "diff", footer=False, help="Check drift again"),
    # guarded repair
    _a("repair.strategy", "s", "Strategy", "repair", help="conservative → aggressive → manual"),
    _a("repair.run", "c", "Run repair", "repair", role="dba", dangerous=True,
       help="Back up, repair in a worker, re-check; destructive plans need the slug typed",
       engine="repair.request_repair"),
    _a("repair.copy", "y", "Copy SQL", "repair", help="Copy the plan's SQL to the clipboard (OSC 52, works over SSH)"),
    _a("repair.diff", "d", "Diff", "repair", help="The differences this plan repairs, side by side"),
    _a("repair.refresh", "r", "Refresh", "repair", footer=False, help="Plan again from the live schema"),
    # custom migrations of one tenant, each with its review
    _a("custom.approve", "a", "Approve", "custom", role="dba", dangerous=True,
       help="Approve the highlighted migration (four eyes; unsafe ones need the slug typed)",
       engine="custom.approve_custom"),
    _a("custom.refresh", "r", "Refresh", "custom", footer=False),
    # snapshots of one tenant
    _a("snapshots.pick", "space", "Pick", "snapshots", help="Pick a snapshot to compare (two at most)"),
    _a("snapshots.diff", "d", "Diff", "snapshots", help="Compare the two picked snapshots side by side"),
    _a("snapshots.snapshot", "s", "Snapshot", "snapshots", role="admin", help="Capture the schema now",
       engine="snapshots.snapshot"),
    _a("snapshots.refresh", "r", "Refresh", "snapshots", footer=False),
    # a tenant's backups, quarantine and accepted drift
    _a("backups.restore", "R", "Restore", "backups", role="dba", dangerous=True,
       help="Replace the tenant's database with the highlighted backup (a job); type the slug",
       engine="backups.request_restore"),
    _a("backups.refresh", "r", "Refresh", "backups", footer=False),
    _a("quarantine.restore", "R", "Restore", "quarantine", role="dba", dangerous=True,
       help="Bring the highlighted quarantined data back into the tenant; type the slug", engine="repair.restore"),
    _a("quarantine.refresh", "r", "Refresh", "quarantine", footer=False),
    _a("accepted.withdraw", "w", "Withdraw", "accepted", role="dba", dangerous=True,
       help="End the highlighted acceptance: the difference counts again", engine="drift.withdraw_acceptance"),
    _a("accepted.refresh", "r", "Refresh", "accepted", footer=False),
    # audit log
    _a("audit.filter", "slash", "Filter", "audit",
       help="Type to narrow; operator:, action:, tenant:, outcome: narrow one field"),
    _a("audit.operator", "o", "Operator", "audit", help="Cycle through operators"),
    _a("audit.action", "a", "Action", "audit", help="Cycle through actions"),
    _a("audit.tenant", "t", "Tenant", "audit", help="Only the highlighted entry's tenant (again: every tenant)"),
    _a("audit.export-json", "e", "Export JSON", "audit", help="Write the shown entries to a JSON file"),
    _a("audit.export-csv", "E", "Export CSV", "audit", help="Write the shown entries to a CSV file"),
    _a("audit.refresh", "r", "Refresh", "audit", footer=False),
    # servers
    _a("servers.check", "c", "Check", "servers", help="Probe the highlighted server now"),
    _a("servers.check-all", "C", "Check all", "servers", help="Probe every server"),
    _a("servers.drain", "d", "Drain/undrain", "servers", role="dba", dangerous=True,
       help="Stop placing new tenants on the highlighted server, or take them again; asks first",
       engine="registry.set_draining"),
    _a("servers.refresh", "r", "Refresh", "servers", footer=False),
    # staged rollouts
    _a("rollouts.next-stage", "l,right", "Next stage", "rollouts", footer=False,
       help="Show the next stage's tenants"),
    _a("rollouts.previous-stage", "h,left", "Previous stage", "rollouts", footer=False,
       help="Show the previous stage's tenants"),
    _a("rollouts.pause", "p", "Pause", "rollouts", role="admin",
       help="Start no further tenant; those in flight finish. Resume goes on from there",
       engine="rollouts.pause"),
    _a("rollouts.resume", "u", "Resume", "rollouts", role="admin", dangerous=True,
       help="Go on with a paused or halted rollout's tenants not started yet, in a driver process that "
            "outlives the console", engine="rollouts.resume"),
    # not "cancel": cmd_cancel is what q/Esc call on a dialog
    _a("rollouts.cancel-rollout", "x", "Cancel", "rollouts", role="admin", dangerous=True,
       help="End the rollout: tenants not started yet are never started; it cannot be resumed",
       engine="rollouts.cancel"),
    _a("rollouts.status", "f", "Status", "rollouts", help="Cycle the status filter: running, paused, halted, "
                                                          "cancelled, completed, all"),
    _a("rollouts.tenant", "t", "Tenant", "rollouts", footer=False, help="Open the highlighted tenant of the stage"),
    _a("rollouts.refresh", "r", "Refresh", "rollouts", footer=False),
)

BY_ID: dict[str, Action] = {a.id: a for a in REGISTRY}

# how the palette names the screen an action belongs to
SCREEN_LABELS = {"dashboard": "Dashboard", "review": "Applications", "jobs": "Jobs", "tenants": "Tenants",
                 "servers": "Servers", "audit": "Audit log", "rollouts": "Rollouts", "tenant": "a tenant", "diff": "a tenant's diff",
                 "repair": "a tenant's repair", "snapshots": "a tenant's snapshots",
                 "backups": "a tenant's backups", "quarantine": "a tenant's quarantine",
                 "accepted": "a tenant's accepted drift", "custom": "a tenant's custom migrations", "timeline": "a job's timeline",
                 "wizard": "the wizard", "plan": "the plan preview", "help": "Help"}


def for_scope(scope: str) -> list[Action]:
    return [a for a in REGISTRY if scope in a.screens]


def visible_on(screen: str) -> list[Action]:
    """What an operator can do on ``screen``: its own actions, then the global ones."""
    return [*for_scope(screen), *for_scope(GLOBAL)]


def bindings_for(scope: str) -> list[BindingType]:
    """Textual bindings for one scope. Every binding goes through ``run`` so the role
    check cannot be skipped; the key bar renders instead of the Footer (show=False)."""
    out: list[BindingType] = []
    for action in for_scope(scope):
        if action.id == "app.palette":
            # named so Textual sees the palette bound and adds no binding of its own
            out.append(Binding(action.key, "command_palette", action.description, show=False, priority=True,
                               id=action.id))
            continue
        # quitting works from every screen and dialog, as Textual's own ctrl+q does
        out.append(Binding(action.key, f"run('{action.id}')", action.description, show=False, id=action.id,
                           priority=action.id == "app.quit"))
    return out


def refusal(action: Action, ctx: "Context") -> str:
    have = ctx.role or "no role"
    return f"{action.description} needs the {action.role} role; {ctx.operator} has {have}"


class Dispatch:
    """Mixin for the app, screens and list widgets: every registry binding lands here."""

    def action_run(self: HasApp, action_id: str) -> Any:
        action = BY_ID[action_id]
        app = console_app(self)
        if not app.screen.is_mounted:
            # a key typed before the screen on top was built (a section just opened, the
            # palette just pushed): ignored, its widgets do not exist yet
            return None
        if not app.ctx.can(action.role):
            app.notify(refusal(action, app.ctx), title="Not allowed", severity="error")
            return None
        try:
            return getattr(self, action.handler)()
        except Exception as exc:  # noqa: BLE001 - the error screen, never a dead console
            app.report_error(exc)
            return None


class RegistryCommands(Provider):
    """The command palette: the same actions as the keys, with the same role checks."""

    def _entries(self) -> Iterable[tuple[Action, str, Any]]:
        """Every action of every screen: this screen's and the global ones run here; any
        other screen's opens that screen first (``app.run_anywhere``)."""
        screen: Any = self.screen
        scope = getattr(screen, "SCREEN_NAME", None)
        app: Any = console_app(self)
        if scope:
            for action in for_scope(scope):
                yield action, action.description, partial(screen.action_run, action.id)
        for action in for_scope(GLOBAL):
            if action.id != "app.palette":
                yield action, action.description, partial(app.action_run, action.id)
        for action in REGISTRY:
            where = action.screens[0]
            if where in (GLOBAL, LIST, DIALOG, scope):
                continue
            yield action, f"{action.description} · {SCREEN_LABELS.get(where, where)}", \
                partial(app.run_anywhere, action.id)

    def _describe(self, action: Action) -> str:
        ctx = console_app(self).ctx
        parts = [f"key {action.key_display}"]
        if not ctx.can(action.role):
            parts.append(f"disabled: needs {action.role}")
        elif action.dangerous:
            parts.append("asks for confirmation")
        if action.help:
            parts.append(action.help)
        return " · ".join(parts)

    async def discover(self) -> Hits:
        for action, label, run in self._entries():
            if label == action.description:  # the list before typing: this screen and global
                yield DiscoveryHit(label, run, help=self._describe(action))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for action, label, run in self._entries():
            score = matcher.match(f"{label} {action.help}")
            if score > 0:
                yield Hit(score, matcher.highlight(label), run, text=label, help=self._describe(action))

"""Benchmark 3: the console with a big fleet and a big schema, timed inside the app.

* 10,000 tenants (bulk-inserted into a temporary landlord, no tenant databases):
  time from opening the tenants list to its first frame with rows, and the latency from
  a keypress (typing a filter, moving the cursor) to the repaint of the list;
* a 300-table schema with differences (two synthetic canonical schemas, differences by
  the engine's own differ): the time to lay out the side-by-side diff and to show its
  first frame, and the latency of ``n`` (next difference).

Latency is measured in the app's own process, not with Pilot's wall time: the start is
stamped when the app's event handler receives the key, the end when the list (or diff)
has rendered the last line of the repaint that follows. Peers measured in the same run:
a DataTable filled with every tenant (the widget one would reach for), and the whole
diff in one Static (no virtual rendering).

    python bench/bench_console.py [--tenants 10000] [--tables 300]
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import time
from typing import Any

from common import isolated_home, machine, median, p95, ratio_line

FILTER_KEYS = [*"pokhara", *["backspace"] * 7, *"sev:crit", *["backspace"] * 8, *"kath", "space", *"tpl:pol"]
MOVE_KEYS = ["j"] * 10 + ["pagedown"] * 5 + ["G", "g"] + ["k"] * 3


class Stamps:
    """Render timestamps of one widget and key timestamps of the app."""

    def __init__(self) -> None:
        self.key_at: float | None = None
        self.rendered: list[float] = []

    def render(self) -> None:
        self.rendered.append(time.perf_counter())

    def latency(self) -> float | None:
        if self.key_at is None:
            return None
        after = [t for t in self.rendered if t >= self.key_at]
        return (max(after) - self.key_at) if after else None


def instrument(widget_class: type, stamps: Stamps, widget_id: str) -> None:
    """Record the end of every line render of one widget (the repaint's last line is
    the end of the latency)."""
    original = widget_class.render_line

    def render_line(self: Any, y: int) -> Any:
        strip = original(self, y)
        if self.id == widget_id:
            stamps.render()
        return strip

    widget_class.render_line = render_line  # type: ignore[method-assign]


def keyed_app(base: type, stamps: Stamps) -> type:
    """The app, with the key stamped as its event handler receives it."""
    from textual import events

    class Keyed(base):  # type: ignore[misc, valid-type]
        async def on_event(self, event: events.Event) -> None:
            if isinstance(event, events.Key):
                stamps.key_at = time.perf_counter()
            await super().on_event(event)

    return Keyed


async def press_and_measure(pilot: Any, stamps: Stamps, keys: list[str]) -> list[float]:
    out = []
    for key in keys:
        stamps.rendered.clear()
        await pilot.press(key)
        await pilot.pause(0.05)  # let the repaint that follows the key happen
        value = stamps.latency()
        if value is not None:
            out.append(value)
    return out


# -- the tenants list -----------------------------------------------------------------------


async def tenants_list(ctx: Any, count: int) -> dict[str, Any]:
    from tenantops.console.app import TenantopsApp
    from tenantops.console.screens.tenants import TenantsScreen
    from tenantops.console.widgets.rowlist import RowList

    stamps = Stamps()
    instrument(RowList, stamps, "tenants-list")
    app = keyed_app(TenantopsApp, stamps)(ctx, probe_servers=False)
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        stamps.rendered.clear()
        started = time.perf_counter()
        app.switch_mode("tenants")
        while True:
            await asyncio.sleep(0.002)
            screen = app.screen
            if isinstance(screen, TenantsScreen) and screen.loaded and stamps.rendered and \
                    stamps.rendered[-1] > started and len(screen.query_one(RowList).rows) == count:
                await pilot.pause(0.05)
                break
        result["first_frame"] = max(stamps.rendered) - started
        await pilot.press("slash")
        result["filter"] = await press_and_measure(pilot, stamps, FILTER_KEYS)
        await pilot.press("enter")
        await pilot.press("slash", "escape")
        result["move"] = await press_and_measure(pilot, stamps, MOVE_KEYS)
    return result


async def datatable_peer(tenants: list[dict[str, Any]]) -> dict[str, Any]:
    """The widget one would reach for: a DataTable filled with every row, refilled per key."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Input

    stamps = Stamps()

    def row(t: dict[str, Any]) -> tuple[str, ...]:
        return (t["status"], t["slug"], f"{t['template']['slug']} {t['template']['version']}", t["server"] or "",
                (t["last_drift"] or {}).get("severity") or "unchecked")

    rows = [(row(t), " ".join(row(t) + (t["organization"],)).lower()) for t in tenants]

    class Peer(App):
        def compose(self) -> ComposeResult:
            yield Input(id="q")
            yield DataTable(id="tenants-list")

        def fill(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("status", "slug", "template", "server", "drift")
            table.add_rows(r for r, _ in rows)

        def on_input_changed(self, event: Input.Changed) -> None:
            q = event.value.lower()
            table = self.query_one(DataTable)
            table.clear()
            table.add_rows(r for r, hay in rows if all(w in hay for w in q.split()))

    instrument(DataTable, stamps, "tenants-list")
    app = keyed_app(Peer, stamps)()
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        stamps.rendered.clear()
        started = time.perf_counter()
        app.fill()
        while not stamps.rendered:
            await asyncio.sleep(0.002)
        await pilot.pause(0.05)
        result["first_frame"] = max(stamps.rendered) - started
        app.query_one(Input).focus()
        result["filter"] = await press_and_measure(pilot, stamps, FILTER_KEYS[:14])
    return result


# -- the side-by-side diff ------------------------------------------------------------------


def synthetic_schemas(tables: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two canonical schemas of ``tables`` tables; the actual one drifted here and there."""
    def column(position: int, kind: str, nullable: bool = True, default: Any = None) -> dict[str, Any]:
        return {"type": kind, "nullable": nullable, "default": default, "autoincrement": position == 1,
                "collation": None, "position": position}

    expected: dict[str, Any] = {"tables": {}, "views": {}, "triggers": {}}
    for t in range(tables):
        name = f"table_{t:03d}"
        cols = {"id": column(1, "int", False)}
        for c in range(2, 12):
            cols[f"field_{c:02d}"] = column(c, ("varchar(120)", "int", "datetime", "text", "decimal(10,2)")[c % 5],
                                            c % 3 != 0, "0" if c % 5 == 1 else None)
        expected["tables"][name] = {
            "columns": cols, "primary_key": ["id"],
            "indexes": {f"ix_{name}_field_02": {"columns": ["field_02"], "unique": False, "type": "btree"},
                        f"uq_{name}_field_03": {"columns": ["field_03"], "unique": True, "type": "btree"}},
            "foreign_keys": ({f"fk_{name}_field_04": {"columns": ["field_04"], "ref_table": f"table_{t - 1:03d}",
                                                      "ref_columns": ["id"], "on_update": "NO ACTION",
                                                      "on_delete": "CASCADE"}} if t else {}),
            "options": {"engine": "InnoDB", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}}
    actual = copy.deepcopy(expected)
    a = actual["tables"]
    for t in range(7, tables, 23):  # a changed type, a dropped column, a dropped index
        a[f"table_{t:03d}"]["columns"]["field_02"]["type"] = "varchar(60)"
        del a[f"table_{t + 1:03d}"]["columns"]["field_05"]
        a[f"table_{t + 2:03d}"]["indexes"].pop(f"ix_table_{t + 2:03d}_field_02")
    a["table_010"]["columns"]["nickname"] = column(12, "varchar(40)")
    a["table_011"]["options"]["collation"] = "utf8mb4_general_ci"
    a["scratch_notes"] = {"columns": {"id": column(1, "int", False), "note": column(2, "varchar(50)")},
                          "primary_key": ["id"], "indexes": {}, "foreign_keys": {},
                          "options": {"engine": "InnoDB", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}}
    del a[f"table_{tables - 1:03d}"]
    return expected, actual


async def diff_screen(expected: dict[str, Any], actual: dict[str, Any], differences: list[dict[str, Any]],
                      ctx: Any) -> dict[str, Any]:
    from tenantops.console import diffmodel
    from tenantops.console.app import TenantopsApp
    from tenantops.console.screens.diff import DiffScreen
    from tenantops.console.widgets.diffview import DiffView

    class SyntheticDiff(DiffScreen):
        def _read(self) -> dict[str, Any]:  # the engine's part is timed separately
            report = {"severity": "critical", "score": 99, "checked_at": "2025-01-01T00:00:00",
                      "differences": differences}
            model = diffmodel.build(expected, actual, differences)
            return {"model": model, "report": report, "meta": {"left": "expected", "right": "actual"}, "layers": {}}

    stamps = Stamps()
    instrument(DiffView, stamps, "diff-view")
    app = keyed_app(TenantopsApp, stamps)(ctx, probe_servers=False)
    result: dict[str, Any] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        stamps.rendered.clear()
        started = time.perf_counter()
        screen = SyntheticDiff("synthetic")
        app.push_screen(screen)
        while not (screen.loads and stamps.rendered and stamps.rendered[-1] > started):
            await asyncio.sleep(0.002)
        await pilot.pause(0.05)
        result["first_frame"] = max(stamps.rendered) - started
        result["lines"] = len(screen.model.lines)
        result["next"] = await press_and_measure(pilot, stamps, ["n"] * 20 + ["N"] * 5 + ["pagedown"] * 5)
    return result


async def diff_peer(model: Any) -> float:
    """The same diff as one Static of markup lines (no virtual rendering)."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.containers import VerticalScroll
    from textual.widgets import Static

    from tenantops.console.diffmodel import MARK

    lines = []
    for line in model.lines:
        left = "".join(p for p, _ in line.left or [])
        right = "".join(p for p, _ in line.right or [])
        mark = MARK.get(line.change or "", " ")
        lines.append(f"{mark} {left[:52]:<52} │ {mark} {right[:52]:<52}")
    stamps = Stamps()

    class Peer(App):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield Static(id="diff-view")

    instrument(Static, stamps, "diff-view")
    app = Peer()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        stamps.rendered.clear()
        started = time.perf_counter()
        app.query_one(Static).update(Text("\n".join(lines)))
        while not stamps.rendered:
            await asyncio.sleep(0.002)
        await pilot.pause(0.05)
        return max(stamps.rendered) - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--tables", type=int, default=300)
    args = parser.parse_args()

    with isolated_home():
        from test_console_support import seed_fleet

        from tenantops.console import diffmodel
        from tenantops.engine.tenants import records as tenants
        from tenantops.engine.context import Context
        from tenantops.engine.schema.diff import diff_schemas

        ctx = Context.open()
        started = time.perf_counter()
        seed_fleet(ctx, args.tenants)
        seeded = time.perf_counter() - started
        reads = []
        for _ in range(3):
            started = time.perf_counter()
            fleet = tenants.list_tenants(ctx)
            reads.append(time.perf_counter() - started)

        ours = asyncio.run(tenants_list(ctx, args.tenants))
        peer = asyncio.run(datatable_peer(fleet))

        expected, actual = synthetic_schemas(args.tables)
        started = time.perf_counter()
        differences = [d.to_json() for d in diff_schemas(expected, actual)]
        engine_diff = time.perf_counter() - started
        builds = []
        for _ in range(5):
            started = time.perf_counter()
            model = diffmodel.build(expected, actual, differences)
            builds.append(time.perf_counter() - started)
        shown = asyncio.run(diff_screen(expected, actual, differences, ctx))
        whole = asyncio.run(diff_peer(model))
        ctx.close()

    print(f"# bench_console — {machine()}")
    print(f"# {args.tenants:,} tenants seeded in {seeded:.2f}s; tenants.list_tenants median "
          f"{median(reads) * 1000:.0f} ms; terminal 120x40, headless; times taken inside the app")
    print(ratio_line("tenants list: first frame vs DataTable peer", ours["first_frame"], peer["first_frame"],
                     "<= 0.5x"))
    print(ratio_line("filter keypress->repaint p95 vs DataTable", p95(ours["filter"]), p95(peer["filter"]),
                     "<= 0.5x"))
    print(f"{'tenants list: first frame (incl. the read)':<44} {ours['first_frame'] * 1000:9.1f} ms  (target < 1000 ms)")
    print(f"{'filter keypress -> repaint':<44} median {median(ours['filter']) * 1000:6.1f} ms · "
          f"p95 {p95(ours['filter']) * 1000:6.1f} ms  ({len(ours['filter'])} keys; target p95 < 50 ms)")
    print(f"{'cursor keypress -> repaint':<44} median {median(ours['move']) * 1000:6.1f} ms · "
          f"p95 {p95(ours['move']) * 1000:6.1f} ms  ({len(ours['move'])} keys; target p95 < 50 ms)")
    print(f"{'DataTable peer':<44} first frame {peer['first_frame'] * 1000:.0f} ms · filter median "
          f"{median(peer['filter']) * 1000:.1f} ms · p95 {p95(peer['filter']) * 1000:.1f} ms")
    print(f"# {args.tables}-table schema, {len(differences)} differences, {shown['lines']:,} diff lines")
    print(ratio_line("diff: first frame vs whole diff in one Static", shown["first_frame"], whole, "<= 0.5x"))
    print(f"{'diff: engine differ (deepdiff, worker)':<44} {engine_diff * 1000:9.1f} ms  (informational)")
    print(f"{'diff: side-by-side layout (worker)':<44} median {median(builds) * 1000:6.1f} ms")
    print(f"{'diff: push screen -> first frame':<44} {shown['first_frame'] * 1000:9.1f} ms  (target < 300 ms)")
    print(f"{'diff: n/N/pgdn keypress -> repaint':<44} median {median(shown['next']) * 1000:6.1f} ms · "
          f"p95 {p95(shown['next']) * 1000:6.1f} ms  ({len(shown['next'])} keys; target p95 < 50 ms)")


if __name__ == "__main__":
    main()

"""The side-by-side schema diff as lines: expected (from migrations) on the left, actual
on the right, table by table. Pure data, no Textual: it is built in a worker thread
(and timed by bench/bench_console.py), and the diff view renders only visible lines.

The differences themselves come from the engine (``drift.check_drift`` or
``drift.since_snapshot``); this module only places each one on a line and marks which
attribute changed, so both sides can highlight it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MARK = {"added": "+", "removed": "-", "modified": "~"}
KINDS = ("table", "column", "index", "foreign_key", "option", "view", "trigger")
CHANGES = ("added", "removed", "modified")

# A part of one side of a line: (text, tag). Tags: None (plain), "name", "hl" (the
# attribute that differs), "muted", "head" (a table's name).
Part = tuple[str, str | None]


@dataclass(slots=True)
class Line:
    kind: str  # table | column | index | foreign_key | option | view | trigger | blank | section
    table: str | None
    left: list[Part] | None  # None: nothing on this side
    right: list[Part] | None
    change: str | None = None  # added | removed | modified: the marker and the tone
    diffs: tuple[int, ...] = ()  # indices into DiffModel.differences
    unit: str | None = None
    accepted: bool = False


@dataclass
class DiffModel:
    lines: list[Line]
    differences: list[dict[str, Any]]
    diff_line: dict[int, int] = field(default_factory=dict)  # difference -> its line
    tables: int = 0

    def matches(self, index: int, kind: str | None, change: str | None) -> bool:
        d = self.differences[index]
        return (kind is None or d["object"] == kind) and (change is None or d["change"] == change)

    def view(self, kind: str | None = None, change: str | None = None, only: bool = False) -> list[int]:
        """Line indices to show (-1: a blank spacer). No filter: every line. ``only``: the
        tables that differ, whole. A kind or change filter: the matching difference lines
        under their table's name (a table added or removed whole comes with its lines)."""
        if kind is None and change is None and not only:
            return list(range(len(self.lines)))
        out: list[int] = []
        block: list[int] = []
        header: int | None = None
        keep = whole = False
        every = only and kind is None and change is None

        def flush() -> None:
            nonlocal block, keep
            if keep and header is not None:
                if out:
                    out.append(-1)  # a blank line between tables
                out.append(header)
                out.extend(i for i in block if i != header)
            block, keep = [], False

        for i, line in enumerate(self.lines):
            if line.kind in ("table", "section"):
                flush()
                header = i
                # a table added or removed as a whole matches with everything in it
                whole = any(self.matches(d, kind, change) for d in line.diffs)
                keep = whole
                continue
            if line.kind == "blank":
                continue
            if whole or (line.diffs and any(self.matches(d, kind, change) for d in line.diffs)):
                keep = True
                block.append(i)
            elif every:
                block.append(i)
        flush()
        return out


def _cols(values: Iterable[str] | None) -> str:
    return "(" + ", ".join(values or ()) + ")"


def _part(text: str, attribute: str, changed: set[str]) -> Part:
    return (text, "hl" if attribute in changed else None)


def column_parts(name: str, col: dict[str, Any], changed: set[str], other: dict[str, Any] | None) -> list[Part]:
    parts: list[Part] = [(name, "name"), (" ", None), _part(str(col.get("type")), "type", changed)]
    parts += [(" ", None), _part("NULL" if col.get("nullable") else "NOT NULL", "nullable", changed)]
    if col.get("default") is not None:
        parts += [(" ", None), _part(f"DEFAULT {col['default']}", "default", changed)]
    elif "default" in changed:
        parts += [(" ", None), ("no default", "hl")]
    if col.get("autoincrement"):
        parts += [(" ", None), _part("AUTO_INCREMENT", "autoincrement", changed)]
    elif "autoincrement" in changed:
        parts += [(" ", None), ("no auto_increment", "hl")]
    if col.get("collation"):
        parts += [(" ", None), _part(f"COLLATE {col['collation']}", "collation", changed)]
    elif "collation" in changed:
        parts += [(" ", None), ("table collation", "hl")]
    if "position" in changed:
        parts += [(" ", None), (f"at #{col.get('position')}", "hl")]
    return parts


def index_parts(name: str, ix: dict[str, Any], changed: set[str]) -> list[Part]:
    word = "UNIQUE" if ix.get("unique") else "INDEX"
    parts: list[Part] = [_part(word, "unique", changed), (" ", None), (name, "name"), (" ", None),
                         _part(_cols(ix.get("columns")), "columns", changed)]
    if (ix.get("type") or "btree") != "btree" or "type" in changed:
        parts += [(" ", None), _part(f"USING {ix.get('type')}", "type", changed)]
    return parts


def primary_key_parts(columns: list[str], changed: set[str]) -> list[Part]:
    return [("PRIMARY KEY", "name"), (" ", None), _part(_cols(columns), "columns", changed)]


def foreign_key_parts(name: str, fk: dict[str, Any], changed: set[str]) -> list[Part]:
    parts: list[Part] = [("FK", None), (" ", None), (name, "name"), (" ", None),
                         _part(_cols(fk.get("columns")), "columns", changed), (" → ", None),
                         _part(str(fk.get("ref_table")), "ref_table", changed),
                         _part(_cols(fk.get("ref_columns")), "ref_columns", changed)]
    for attribute, words in (("on_delete", "ON DELETE"), ("on_update", "ON UPDATE")):
        value = fk.get(attribute)
        if (value and value != "NO ACTION") or attribute in changed:
            parts += [(" ", None), _part(f"{words} {value or 'NO ACTION'}", attribute, changed)]
    return parts


def option_parts(name: str, value: Any, changed: set[str]) -> list[Part]:
    return [(name, "name"), (" ", None), _part(str(value) if value is not None else "default", name, changed)]


class _Builder:
    def __init__(self, expected: dict[str, Any], actual: dict[str, Any], differences: list[dict[str, Any]]) -> None:
        self.expected, self.actual = expected or {}, actual or {}
        self.differences = differences
        self.lines: list[Line] = []
        self.diff_line: dict[int, int] = {}
        # (object, table, name) -> difference indices
        self.by_key: dict[tuple[str, str | None, str], list[int]] = {}
        for i, d in enumerate(differences):
            obj = "primary_key" if d["object"] == "index" and d["name"] == "PRIMARY" else d["object"]
            self.by_key.setdefault((obj, d["table"], d["name"]), []).append(i)
        self.placed: set[int] = set()

    def add(self, line: Line) -> None:
        index = len(self.lines)
        for d in line.diffs:
            self.diff_line.setdefault(d, index)
            self.placed.add(d)
        self.lines.append(line)

    def _line_for(self, kind: str, table: str | None, name: str, left: list[Part] | None,
                  right: list[Part] | None, diffs: list[int], inherited: str | None = None) -> Line:
        change = None
        if diffs:
            changes = {self.differences[d]["change"] for d in diffs}
            change = changes.pop() if len(changes) == 1 else "modified"
        elif inherited:
            change = inherited
        unit = next((self.differences[d].get("unit") for d in diffs if self.differences[d].get("unit")), None)
        accepted = bool(diffs) and all(self.differences[d].get("accepted") for d in diffs)
        return Line(kind, table, left, right, change, tuple(diffs), unit, accepted)

    def changed(self, diffs: list[int]) -> set[str]:
        return {self.differences[d]["attribute"] for d in diffs if self.differences[d].get("attribute")}

    def build(self) -> DiffModel:
        e_tables = self.expected.get("tables", {}) or {}
        a_tables = self.actual.get("tables", {}) or {}
        names = sorted(set(e_tables) | set(a_tables))
        for name in names:
            self.table(name, e_tables.get(name), a_tables.get(name))
        for kind, plural in (("view", "views"), ("trigger", "triggers")):
            self.named_objects(kind, plural)
        rest = [i for i in range(len(self.differences)) if i not in self.placed]
        if rest:
            self.add(Line("section", None, [("other differences", "head")], [("other differences", "head")]))
            for i in rest:
                d = self.differences[i]
                text = f"{d['object']} {d.get('table') or ''} {d['name']} {d.get('attribute') or ''}".strip()
                self.add(self._line_for(d["object"], d.get("table"), d["name"],
                                        [(text, None), (f" {d.get('expected')!s:.40}", "hl")],
                                        [(text, None), (f" {d.get('actual')!s:.40}", "hl")], [i]))
        return DiffModel(self.lines, self.differences, self.diff_line, len(names))

    def table(self, name: str, e: dict[str, Any] | None, a: dict[str, Any] | None) -> None:
        if self.lines:
            self.add(Line("blank", name, None, None))
        head_diffs = self.by_key.get(("table", name, name), [])
        whole = "removed" if a is None else "added" if e is None else None
        left: list[Part] | None = [(f"▸ {name}", "head")] if e is not None else None
        right: list[Part] | None = [(f"▸ {name}", "head")] if a is not None else None
        in_table = [i for key, ids in self.by_key.items() if key[1] == name for i in ids]
        header = self._line_for("table", name, name, left, right, head_diffs, whole)
        if header.unit is None:
            header.unit = next((self.differences[i].get("unit") for i in in_table
                                if self.differences[i].get("unit")), None)
        self.add(header)
        e, a = e or {}, a or {}
        # columns: expected order, with columns only the actual side has placed after
        # the column they follow there
        e_cols, a_cols = e.get("columns", {}) or {}, a.get("columns", {}) or {}
        order = sorted(e_cols, key=lambda c: e_cols[c].get("position") or 0)
        anchor: str | None = None
        extra: dict[str | None, list[str]] = {}
        for col in sorted(a_cols, key=lambda c: a_cols[c].get("position") or 0):
            if col in e_cols:
                anchor = col
            else:
                extra.setdefault(anchor, []).append(col)
        merged = extra.get(None, [])[:]
        for col in order:
            merged.append(col)
            merged.extend(extra.get(col, []))
        for col in merged:
            diffs = self.by_key.get(("column", name, col), [])
            changed = self.changed(diffs)
            ec, ac = e_cols.get(col), a_cols.get(col)
            left = column_parts(col, ec, changed, ac) if ec is not None else None
            right = column_parts(col, ac, changed, ec) if ac is not None else None
            self.add(self._line_for("column", name, col, left, right, diffs, whole))
        e_pk, a_pk = e.get("primary_key") or [], a.get("primary_key") or []
        if e_pk or a_pk:
            diffs = self.by_key.get(("primary_key", name, "PRIMARY"), [])
            changed = self.changed(diffs) or ({"columns"} if diffs else set())
            self.add(self._line_for("index", name, "PRIMARY",
                                    primary_key_parts(e_pk, changed) if e_pk else None,
                                    primary_key_parts(a_pk, changed) if a_pk else None, diffs, whole))
        e_ix, a_ix = e.get("indexes", {}) or {}, a.get("indexes", {}) or {}
        for ix in sorted(set(e_ix) | set(a_ix)):
            diffs = self.by_key.get(("index", name, ix), [])
            changed = self.changed(diffs)
            self.add(self._line_for("index", name, ix,
                                    index_parts(ix, e_ix[ix], changed) if ix in e_ix else None,
                                    index_parts(ix, a_ix[ix], changed) if ix in a_ix else None, diffs, whole))
        e_fk, a_fk = e.get("foreign_keys", {}) or {}, a.get("foreign_keys", {}) or {}
        for fk in sorted(set(e_fk) | set(a_fk)):
            diffs = self.by_key.get(("foreign_key", name, fk), [])
            changed = self.changed(diffs)
            self.add(self._line_for("foreign_key", name, fk,
                                    foreign_key_parts(fk, e_fk[fk], changed) if fk in e_fk else None,
                                    foreign_key_parts(fk, a_fk[fk], changed) if fk in a_fk else None, diffs, whole))
        e_opt, a_opt = e.get("options", {}) or {}, a.get("options", {}) or {}
        for option in sorted(set(e_opt) | set(a_opt)):
            ev, av = e_opt.get(option), a_opt.get(option)
            diffs = self.by_key.get(("option", name, option), [])
            if ev is None and av is None and not diffs:
                continue
            changed = {option} if diffs else set()
            self.add(self._line_for("option", name, option,
                                    option_parts(option, ev, changed) if e else None,
                                    option_parts(option, av, changed) if a else None, diffs, whole))

    def named_objects(self, kind: str, plural: str) -> None:
        exp, act = self.expected.get(plural, {}) or {}, self.actual.get(plural, {}) or {}
        if not exp and not act:
            return
        self.add(Line("blank", None, None, None))
        self.add(Line("section", None, [(plural, "head")], [(plural, "head")]))
        for name in sorted(set(exp) | set(act)):
            table = name if kind == "view" else None
            diffs = self.by_key.get((kind, table, name), [])
            changed = {"definition"} if diffs else set()

            def side(value: Any) -> list[Part]:
                return [(name, "name"), (" ", None), _part(f"definition {str(value)[:12]}", "definition", changed)]

            self.add(self._line_for(kind, table, name, side(exp[name]) if name in exp else None,
                                    side(act[name]) if name in act else None, diffs))


def build(expected: dict[str, Any], actual: dict[str, Any], differences: list[dict[str, Any]]) -> DiffModel:
    """Lines for two canonical schemas and the engine's differences between them."""
    return _Builder(expected, actual, differences).build()

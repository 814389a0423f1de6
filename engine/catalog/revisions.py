"""Revision files, read with ``ast`` only (never imported: checking a catalog must not run
its code): identifiers, branch labels, dependencies, created tables, order in a unit."""
from __future__ import annotations

import ast
import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any

from tenantops.engine import private
from tenantops.engine.catalog.model import REVISION_ID_RE, RevisionFile, Unit
from tenantops.engine.catalog.problems import ProblemLog

# ast.parse in several threads at once can fail on CPython 3.11 up to 3.11.7 with
# "SystemError: AST constructor recursion depth mismatch" (gh-106905); engine reads run in
# threads (console workers, tests), so parsing is serialised (it takes microseconds).
AST_LOCK = threading.Lock()
_MAY_INDEX = re.compile(r"\b[Ii]ndex\b")


class ParsedRevisions:
    """What parsing each clean revision file found, kept on disk by content: every process
    that loads the catalog (each CLI command) would otherwise parse and walk every file
    again, about 20 ms for the shipped catalog. A file that has problems is never kept, so
    its problems are reported every time."""

    FORMAT = 1

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed = False
        text = private.read_own_text(path) if path is not None else None
        if text is not None:
            try:
                loaded = json.loads(text)
                if isinstance(loaded, dict) and loaded.get("format") == self.FORMAT:
                    self.entries = dict(loaded["entries"])
            except (ValueError, KeyError, TypeError):
                pass  # damaged: parsed again and rewritten

    @staticmethod
    def key(path: Path, source: str) -> str:
        return hashlib.sha256(f"{path}\0{source}".encode()).hexdigest()

    def get(self, key: str, path: Path) -> RevisionFile | None:
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        try:
            return RevisionFile(revision=entry["revision"], path=path, down_revision=entry["down_revision"],
                                branch_labels=tuple(entry["branch_labels"]), depends_on=tuple(entry["depends_on"]),
                                tables=tuple(entry["tables"]), message=entry["message"])
        except (KeyError, TypeError):
            return None

    def put(self, key: str, info: RevisionFile) -> None:
        self.entries[key] = {"revision": info.revision, "down_revision": info.down_revision,
                             "branch_labels": list(info.branch_labels), "depends_on": list(info.depends_on),
                             "tables": list(info.tables), "message": info.message}
        self.changed = True

    def save(self) -> None:
        if self.path is not None and self.changed:
            private.write_atomically(self.path, json.dumps({"format": self.FORMAT, "entries": self.entries}))
        self.changed = False


class RevisionReader(ProblemLog):
    # without a file, one in-memory set shared by the process (entries are keyed by path
    # and content, so sharing them is safe)
    parsed: ParsedRevisions = ParsedRevisions(None)

    def read_revisions(self, unit: Unit, *, allow_empty: bool = False) -> None:
        files = sorted(p for p in unit.versions_dir.glob("*.py") if p.name != "__init__.py") \
            if unit.versions_dir.is_dir() else []
        if not files:
            if not allow_empty:
                self.problem(unit.versions_dir, None, "no revision files (a unit needs at least one revision)")
            return
        for path in files:
            info = self.parse_revision(path)
            if info is None:
                continue
            if info.revision in self.revision_owner:
                _, other_path = self.revision_owner[info.revision]
                self.problem(path, "revision",
                             f"duplicate revision id '{info.revision}' (also in {self.rel(other_path)})")
                continue
            self.revision_owner[info.revision] = (unit.slug, path)
            unit.revision_files[info.revision] = info

    def parse_revision(self, path: Path) -> RevisionFile | None:
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, None, f"cannot read: {exc}")
            return None
        key = ParsedRevisions.key(path, source)
        known = self.parsed.get(key, path)
        if known is not None:
            return known
        problems_before = len(self.problems)
        info = self._parse_revision(path, source)
        if info is not None and len(self.problems) == problems_before:
            self.parsed.put(key, info)
        return info

    def _parse_revision(self, path: Path, source: str) -> RevisionFile | None:
        try:
            with AST_LOCK:
                tree = ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            self.problem(path, None, f"does not parse: {exc.msg} (line {exc.lineno})")
            return None
        except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes (older Pythons), absurd nesting
            self.problem(path, None, f"does not parse: {type(exc).__name__}")
            return None

        values: dict[str, Any] = {}
        functions: dict[str, ast.FunctionDef] = {}
        ok = True
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                functions[node.name] = node
                continue
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name) and target.id in {
                        "revision", "down_revision", "branch_labels", "depends_on"}:
                    try:
                        values[target.id] = ast.literal_eval(value)
                    except ValueError:
                        self.problem(path, target.id, "must be a literal (string, tuple or None)")
                        ok = False

        revision = values.get("revision")
        if not isinstance(revision, str):
            if "revision" in values or ok:
                self.problem(path, "revision", "missing (a module-level revision = '<id>' is required)")
            return None
        if not REVISION_ID_RE.match(revision):
            self.problem(path, "revision", f"'{revision}' is not a valid revision id ({REVISION_ID_RE.pattern})")
            ok = False

        down = values.get("down_revision")
        if down is not None and not isinstance(down, str):
            self.problem(path, "down_revision", "must be one revision id or None (a unit's branch is linear)")
            ok = False

        labels = _as_tuple(values.get("branch_labels"))
        depends = _as_tuple(values.get("depends_on"))
        if labels is None:
            self.problem(path, "branch_labels", "must be a string, a tuple of strings or None")
            ok = False
        if depends is None:
            self.problem(path, "depends_on", "must be a string, a tuple of strings or None")
            ok = False

        # a missing or empty function is reported but the revision still takes its place in
        # the chain, so one mistake does not cascade into "unknown revision" lines
        for required in ("upgrade", "downgrade"):
            if required not in functions:
                self.problem(path, required, f"def {required}() is missing")
        if "downgrade" in functions and _is_trivial(functions["downgrade"]):
            self.problem(path, "downgrade", "does nothing (only pass): every revision needs a working downgrade")

        tables = _created_tables(functions["upgrade"]) if "upgrade" in functions else ()
        # walking every node costs more than parsing; a file that never says the word
        # cannot hold sa.Index(...) or index=True
        for table in (_tables_with_inline_indexes(tree) if _MAY_INDEX.search(source) else ()):
            self.problem(path, "create_table",
                         f"indexes declared inside create_table('{table}') are created in random order "
                         "(Table.indexes is a set); use op.create_index after it")
        if not ok:
            return None
        return RevisionFile(
            revision=revision, path=path, down_revision=down, branch_labels=labels or (),
            depends_on=depends or (), tables=tables, message=_first_line(ast.get_docstring(tree)),
        )

    def order_revisions(self, unit: Unit) -> None:
        files = unit.revision_files
        if not files:
            return
        bases = sorted(r for r, info in files.items() if info.down_revision is None)
        children: dict[str, list[str]] = {}
        for rev, info in sorted(files.items()):
            if info.down_revision is not None:
                if info.down_revision not in files:
                    self.problem(info.path, "down_revision",
                                 f"'{info.down_revision}' is not a revision of unit '{unit.slug}'")
                    continue
                children.setdefault(info.down_revision, []).append(rev)
            if info.branch_labels and info.branch_labels != (unit.slug,):
                self.problem(info.path, "branch_labels",
                             f"{info.branch_labels!r} does not match unit '{unit.slug}' (expected ('{unit.slug}',))")
            elif info.down_revision is None and not info.branch_labels:
                self.problem(info.path, "branch_labels",
                             f"the first revision of a unit must carry branch_labels = ('{unit.slug}',)")
        if len(bases) != 1:
            what = "no revision with down_revision = None" if not bases else f"several: {', '.join(bases)}"
            self.problem(unit.versions_dir, "down_revision", f"a unit needs exactly one base revision ({what})")
        for parent, kids in children.items():
            if len(kids) > 1:
                self.problem(files[kids[1]].path, "down_revision",
                             f"revisions {', '.join(kids)} all revise '{parent}' (a unit's branch must be linear)")
        if not bases:
            return
        order, current = [], bases[0]
        while True:
            order.append(current)
            nxt = children.get(current, [])
            if not nxt or nxt[0] in order:
                break
            current = nxt[0]
        unit.revisions = order
        unit.head = order[-1]
        for rev in order:
            unit.tables.update(files[rev].tables)


def _as_tuple(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _is_trivial(function: ast.FunctionDef) -> bool:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]  # a docstring
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and stmt.value.value is Ellipsis)
        for stmt in body
    )


def _created_tables(function: ast.FunctionDef) -> tuple[str, ...]:
    tables = []
    # ast.walk, except into a create_table call's own arguments: its columns are most of a
    # revision's nodes, and walking them was most of the time a catalog takes to load
    pending: list[ast.AST] = [function]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "create_table":
            name_node = node.args[0] if node.args else next(
                (kw.value for kw in node.keywords if kw.arg == "table_name"), None)
            if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
                tables.append(name_node.value)
            pending.append(node.func)
            continue
        pending.extend(reversed(list(ast.iter_child_nodes(node))))
    return tuple(tables)


def _tables_with_inline_indexes(tree: ast.AST) -> list[str]:
    """Tables whose create_table() carries sa.Index(...) or Column(..., index=True).

    Alembic emits those CREATE INDEX statements by iterating a set, so their order
    changes from run to run and the SQL preview could not match what runs.
    """
    found: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create_table"):
            continue
        inline = any(
            (isinstance(inner, ast.Call) and isinstance(inner.func, (ast.Attribute, ast.Name))
             and getattr(inner.func, "attr", getattr(inner.func, "id", None)) == "Index")
            or (isinstance(inner, ast.keyword) and inner.arg == "index"
                and isinstance(inner.value, ast.Constant) and inner.value.value is True)
            for arg in [*node.args[1:], *node.keywords] for inner in ast.walk(arg)
        )
        if inline:
            first = node.args[0] if node.args else None
            found.append(first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "?")
    return found


def _first_line(doc: str | None) -> str:
    return doc.strip().splitlines()[0] if doc and doc.strip() else ""

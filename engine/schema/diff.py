"""Expected vs actual canonical schema -> a flat list of differences, and their severity.

The differences are the ``differences`` array of the drift report in shared/CLI.md, plus
``unit`` (which unit of the tenant's migration set owns the object) and ``accepted``.

Decisions worth knowing:

* A missing or extra table is one difference, never one per column/index.
* The primary key is reported as object ``index`` named ``PRIMARY`` (added / removed /
  modified with attribute ``columns``), as MariaDB names it.
* Index ``modified`` weighs 2 like index added/removed (the CLI table has no entry for it;
  repairing it is a drop plus a create). Views and triggers weigh 2 as well.
* Weights of the kinds beyond the seeds (CLI.md lists the seeds'): check constraint
  added/removed/modified 2 (a rule the data obeys, like a foreign key); trigger 2 and
  view 2 (as before); routine (stored procedure/function) 3 (application code calls it:
  missing or changed it breaks callers, like a changed column); event 2; partitioning
  (object ``partition``, attribute ``partitioning``) 2; the new table options
  ``row_format`` and ``comment`` are options (1); the new column attributes
  (``on_update``, ``comment``, ``generated``, ``expression``, ``invisible``) are column
  ``modified`` (3); index ``comment``/``ignored`` are index ``modified`` (2).
* A difference of a trigger names the trigger's table; routines and events have no
  table (``None``). Every object has an owner unit: the unit after whose migration it
  first appeared (``attribute_owners``).
* ``sql`` (the re-creation statement kept for repair) is never compared.
* Column ``position`` only counts as drift when the relative order of the columns both
  sides have changed (a longest common subsequence is kept in place; the rest moved). An
  added or removed column therefore never shows up again as a shifted position of every
  column after it.
* When a table's collation differs, the charset (derived from it) is not reported again,
  and neither are columns whose effective collation did not change (column collations
  are stored relative to the table's, so ``ALTER TABLE t COLLATE x`` and ``ALTER TABLE t
  CONVERT TO ... COLLATE x`` are both one ``option`` difference).
* An extra (``added``) object inside an expected table is attributed to the unit that owns
  the table: that is where a repair or an accepted exception gets discussed.
"""
from __future__ import annotations

import copy
import fnmatch
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from deepdiff import DeepDiff

from tenantops.engine.schema.canonical import charset_of
from tenantops.engine.schema.coltypes import repair_narrows
from tenantops.engine.vocab import DiffChange, DiffObject, Severity

# the names this module has always used (the vocabulary itself lives in vocab.py)
ObjectKind = DiffObject
Change = DiffChange

WEIGHTS: dict[tuple[DiffObject, DiffChange], int] = {
    ("table", "added"): 10,
    ("table", "removed"): 10,
    ("column", "added"): 5,
    ("column", "removed"): 5,
    ("column", "modified"): 3,
    ("index", "added"): 2,
    ("index", "removed"): 2,
    ("index", "modified"): 2,
    ("foreign_key", "added"): 2,
    ("foreign_key", "removed"): 2,
    ("foreign_key", "modified"): 2,
    ("option", "modified"): 1,
    ("view", "added"): 2,
    ("view", "removed"): 2,
    ("view", "modified"): 2,
    ("trigger", "added"): 2,
    ("trigger", "removed"): 2,
    ("trigger", "modified"): 2,
    ("check", "added"): 2,
    ("check", "removed"): 2,
    ("check", "modified"): 2,
    ("routine", "added"): 3,
    ("routine", "removed"): 3,
    ("routine", "modified"): 3,
    ("event", "added"): 2,
    ("event", "removed"): 2,
    ("event", "modified"): 2,
    ("partition", "modified"): 2,
}
LEVELS: tuple[tuple[Severity, int], ...] = (("critical", 20), ("high", 10), ("medium", 5), ("low", 1))

# Sub-object kinds as stored in a table dict -> the object name in a difference.
_KINDS: dict[str, DiffObject] = {"columns": "column", "indexes": "index", "foreign_keys": "foreign_key",
                                  "checks": "check"}
_ORDER: dict[DiffObject, int] = {"table": 0, "view": 1, "trigger": 2, "column": 3, "index": 4, "foreign_key": 5,
                                 "check": 6, "option": 7, "partition": 8, "routine": 9, "event": 10}
# Objects outside tables, kept as attribute dicts (top-level key -> object kind).
NAMED: tuple[tuple[DiffObject, str], ...] = (("view", "views"), ("trigger", "triggers"), ("routine", "routines"),
                                             ("event", "events"))
_NOT_COMPARED = ("sql",)

OwnerKey = tuple


@dataclass(frozen=True)
class Difference:
    object: ObjectKind
    change: Change
    table: str | None
    name: str
    attribute: str | None = None
    expected: Any = None
    actual: Any = None
    destructive_to_repair: bool = False
    unit: str | None = None
    accepted: bool = False

    @property
    def weight(self) -> int:
        return WEIGHTS.get((self.object, self.change), 0)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class IgnoreRules:
    """Differences to drop entirely (not merely accept). fnmatch globs everywhere.

    ``tables``: table (or view) names; ``columns``: ``"table.column"``; ``attributes``:
    an attribute name (``"collation"``) or ``"table.name.attribute"``; ``objects``: object
    kinds (``"trigger"``).
    """

    tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("tables", "columns", "attributes", "objects"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))

    def ignores(self, diff: Difference) -> bool:
        if _any_match(diff.object, self.objects):
            return True
        if diff.table is not None and _any_match(diff.table, self.tables):
            return True
        if diff.object == "column" and _any_match(f"{diff.table}.{diff.name}", self.columns):
            return True
        if diff.attribute is not None:
            plain = [p for p in self.attributes if "." not in p]
            qualified = [p for p in self.attributes if "." in p]
            if _any_match(diff.attribute, plain) or _any_match(f"{diff.table}.{diff.name}.{diff.attribute}", qualified):
                return True
        return False


def _any_match(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


# --- diffing -----------------------------------------------------------------------------


def diff_schemas(
    expected: dict,
    actual: dict,
    *,
    owners: dict[OwnerKey, str] | None = None,
    ignore: IgnoreRules | None = None,
    accepted: list | None = None,
) -> list[Difference]:
    """Every difference between two canonical schemas, in a stable order."""
    found: list[Difference] = []
    exp_tables, act_tables = expected.get("tables", {}), actual.get("tables", {})
    for name in sorted(set(exp_tables) | set(act_tables)):
        e, a = exp_tables.get(name), act_tables.get(name)
        if a is None:
            found.append(Difference("table", "removed", name, name, expected=sorted(e["columns"])))
        elif e is None:
            found.append(Difference("table", "added", name, name, actual=sorted(a["columns"]), destructive_to_repair=True))
        elif e != a:  # the fast path: DeepDiff only where something differs
            found.extend(_diff_table(name, e, a))
    for kind, plural in NAMED:
        exp, act = expected.get(plural, {}), actual.get(plural, {})
        for name in sorted(set(exp) | set(act)):
            e_obj, a_obj = exp.get(name), act.get(name)
            table = name if kind == "view" else _object_table(e_obj if e_obj is not None else a_obj)
            # repairing an extra or changed one moves its definition into quarantine
            if a_obj is None:
                found.append(Difference(kind, "removed", table, name, expected=_shown(e_obj)))
            elif e_obj is None:
                found.append(Difference(kind, "added", table, name, actual=_shown(a_obj), destructive_to_repair=True))
            elif e_obj != a_obj:
                if not isinstance(e_obj, dict) or not isinstance(a_obj, dict):
                    # a snapshot from before objects were captured attribute by attribute
                    if _shown(e_obj) != _shown(a_obj):
                        found.append(Difference(kind, "modified", table, name, "definition", _shown(e_obj),
                                                _shown(a_obj), True))
                    continue
                for attr in sorted(set(e_obj) | set(a_obj)):
                    if attr not in _NOT_COMPARED and e_obj.get(attr) != a_obj.get(attr):
                        found.append(Difference(kind, "modified", table, name, attr, e_obj.get(attr), a_obj.get(attr),
                                                True))

    result = []
    for diff in found:
        if ignore is not None and ignore.ignores(diff):
            continue
        unit = _owner(diff, owners or {})
        is_accepted = any(_accepts(rule, diff) for rule in accepted or ())
        result.append(_replace(diff, unit=unit, accepted=is_accepted))
    result.sort(key=lambda d: (d.table or "", _ORDER[d.object], d.name, d.attribute or ""))
    return result


def _object_table(obj: Any) -> str | None:
    return obj.get("table") if isinstance(obj, dict) else None


def _shown(obj: Any) -> Any:
    """What a report shows of a named object: its attributes without the ``sql``."""
    if isinstance(obj, dict):
        return {k: v for k, v in obj.items() if k not in _NOT_COMPARED}
    return obj


def diff_snapshots(a: dict, b: dict, **kwargs: Any) -> list[Difference]:
    """What changed from snapshot ``a`` (older, "expected") to snapshot ``b`` (newer)."""
    return diff_schemas(a, b, **kwargs)


def _diff_table(table: str, e: dict, a: dict) -> list[Difference]:
    e_cols, a_cols = e["columns"], a["columns"]
    keys: set[tuple] = set()
    tree = DeepDiff(_without_positions(e), _without_positions(a), view="tree", ignore_order=False, verbose_level=2)
    for items in tree.values():
        for item in items:
            path = item.path(output_format="list")
            keys.update(_keys_for(path, e, a))

    out: list[Difference] = []
    for key in sorted(keys, key=lambda k: tuple(str(p) for p in k)):
        kind = key[0]
        if kind == "primary_key":
            out.append(_primary_key_difference(table, e["primary_key"], a["primary_key"]))
        elif kind == "options":
            option = key[1]
            if option == "charset" and ("options", "collation") in keys:
                continue  # implied by the collation difference
            ev, av = e["options"].get(option), a["options"].get(option)
            if option == "partitioning":
                out.append(Difference("partition", "modified", table, table, option, ev, av))
                continue
            destructive = (option in ("collation", "charset") and _charset_loses(ev, av)) or (
                option == "engine" and engine_loses(av, ev))
            out.append(Difference("option", "modified", table, option, option, ev, av, destructive))
        else:
            _, name, attribute = key
            obj = _KINDS[kind]
            ev, av = e.get(kind, {}).get(name), a.get(kind, {}).get(name)
            if av is None:
                out.append(Difference(obj, "removed", table, name, expected=ev))
            elif ev is None:
                out.append(Difference(obj, "added", table, name, actual=av, destructive_to_repair=obj in ("column", "check")))
            else:
                attributes = [attribute] if attribute is not None else [
                    k for k in sorted(set(ev) | set(av)) if k != "position" and ev.get(k) != av.get(k)
                ]
                for attr in attributes:
                    if attr in _NOT_COMPARED:
                        continue
                    ea, aa = ev.get(attr), av.get(attr)
                    if obj == "column" and attr == "collation" and _same_effective_collation(ea, aa, e, a):
                        continue
                    destructive = (obj == "column" and _column_change_destructive(attr, ea, aa, e, a)) or obj == "check"
                    out.append(Difference(obj, "modified", table, name, attr, ea, aa, destructive))
    out.extend(_position_differences(table, e_cols, a_cols))
    return out


def _keys_for(path: list, e: dict, a: dict) -> list[tuple]:
    kind = path[0]
    if kind == "primary_key":
        return [("primary_key",)]
    if kind == "options":
        if len(path) > 1:
            return [("options", path[1])]
        names = set(e.get("options", {})) | set(a.get("options", {}))
        return [("options", n) for n in names if e["options"].get(n) != a["options"].get(n)]
    if kind not in _KINDS:
        return []
    e_kind, a_kind = e.get(kind, {}), a.get(kind, {})
    if len(path) == 1:  # the whole mapping changed type (or appeared); compare member by member
        names = set(e_kind) | set(a_kind)
        return [(kind, n, None) for n in names if e_kind.get(n) != a_kind.get(n)]
    name = path[1]
    if len(path) == 2 or name not in e_kind or name not in a_kind:
        return [(kind, name, None)]
    return [(kind, name, path[2])]


def _primary_key_difference(table: str, ev: list, av: list) -> Difference:
    if not av:
        return Difference("index", "removed", table, "PRIMARY", expected=ev)
    if not ev:
        return Difference("index", "added", table, "PRIMARY", actual=av)
    return Difference("index", "modified", table, "PRIMARY", "columns", ev, av)


def _without_positions(table: dict) -> dict:
    stripped = copy.copy(table)
    stripped["columns"] = {n: {k: v for k, v in c.items() if k != "position"} for n, c in table["columns"].items()}
    return stripped


def _position_differences(table: str, e_cols: dict, a_cols: dict) -> list[Difference]:
    common = set(e_cols) & set(a_cols)
    e_order = sorted(common, key=lambda n: e_cols[n]["position"])
    a_order = sorted(common, key=lambda n: a_cols[n]["position"])
    if e_order == a_order:
        return []
    kept = set(_lcs(e_order, a_order))
    return [
        Difference("column", "modified", table, n, "position", e_cols[n]["position"], a_cols[n]["position"])
        for n in e_order
        if n not in kept
    ]


def _lcs(x: list[str], y: list[str]) -> list[str]:
    n, m = len(x), len(y)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if x[i] == y[j] else max(table[i + 1][j], table[i][j + 1])
    out, i, j = [], 0, 0
    while i < n and j < m:
        if x[i] == y[j]:
            out.append(x[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return out


def _column_change_destructive(attribute: str, expected: Any, actual: Any, e: dict, a: dict) -> bool:
    if attribute == "type":
        return repair_narrows(actual, expected)
    if attribute == "nullable":
        return bool(actual) and not expected  # NULLs present now would have to go
    if attribute == "generated":
        return not actual  # a plain column made generated loses its stored values
    if attribute == "collation":
        return _charset_loses(expected or e["options"].get("collation"), actual or a["options"].get("collation"))
    return False


def _same_effective_collation(expected: str | None, actual: str | None, e: dict, a: dict) -> bool:
    """Column collations are stored relative to the table's (None = "follows the table").
    When only the table default moved (``ALTER TABLE t COLLATE x``) the columns keep their
    collation but now spell it out: the table option difference already says it all."""
    return (expected or e["options"].get("collation")) == (actual or a["options"].get("collation"))


# Engines that keep no data (or lose it on restart): converting a table to one loses rows.
LOSSY_ENGINES = frozenset({"memory", "heap", "blackhole"})


def engine_loses(actual: str | None, expected: str | None) -> bool:
    """Repairing the engine from ``actual`` to ``expected`` rewrites the table; only an
    engine that does not keep rows loses them. Same rule in the planner (``safe``)."""
    return (expected or "").lower() in LOSSY_ENGINES and (actual or "").lower() != (expected or "").lower()


def _charset_loses(expected_collation: str | None, actual_collation: str | None) -> bool:
    """Converting text from the actual charset to the expected one may lose characters
    unless the charsets are equal or the target is utf8mb4 (a superset of the others)."""
    target, source = charset_of(expected_collation), charset_of(actual_collation)
    return target != source and target != "utf8mb4"


def _replace(diff: Difference, **changes: Any) -> Difference:
    return Difference(**{**asdict(diff), **changes})


# --- ownership ---------------------------------------------------------------------------


def _owner(diff: Difference, owners: dict[OwnerKey, str]) -> str | None:
    if diff.object in ("table", "view"):
        return owners.get((diff.name,))
    if diff.object in ("trigger", "routine", "event"):
        if diff.attribute is not None and (None, diff.object, diff.name, diff.attribute) in owners:
            return owners[(None, diff.object, diff.name, diff.attribute)]
        if (None, diff.object, diff.name) in owners:
            return owners[(None, diff.object, diff.name)]
        # an extra trigger belongs with its table, like an extra column
        return owners.get((diff.table,)) if diff.table is not None else None
    if diff.object == "partition":
        return owners.get((diff.table, "option", "partitioning")) or owners.get((diff.table,))
    kind = diff.object
    candidates: list[OwnerKey] = []
    if diff.attribute is not None and kind != "option":
        candidates.append((diff.table, kind, diff.name, diff.attribute))
    candidates += [(diff.table, kind, diff.name), (diff.table,)]
    for key in candidates:
        if key in owners:
            return owners[key]
    return None


def attribute_owners(captures_in_unit_order: list[tuple[str, dict]]) -> dict[OwnerKey, str]:
    """Which unit owns each object, from the canonical schema captured after each unit.

    Keys: ``(table,)`` for tables and views; ``(table, kind, name)`` for ``column``,
    ``index`` (the primary key is ``PRIMARY``), ``foreign_key``; ``(table, "option",
    name)`` when a later unit changed a table option; ``(table, kind, name, attribute)``
    when a later unit changed an attribute of an existing object (that unit is then the
    one to blame for that attribute); ``(None, "trigger", name)`` for triggers.

    An object belongs to the first unit after which it appears; if a later unit drops it
    and another re-creates it, the re-creating unit owns it.
    """
    owners: dict[OwnerKey, str] = {}
    previous: dict = {"tables": {}, "views": {}, "triggers": {}}
    for unit, schema in captures_in_unit_order:
        for tname, table in schema.get("tables", {}).items():
            before = previous["tables"].get(tname)
            if before is None:
                owners[(tname,)] = unit
            for plural, kind in _KINDS.items():
                for oname, obj in table.get(plural, {}).items():
                    old = before.get(plural, {}).get(oname) if before else None
                    if old is None:
                        owners[(tname, kind, oname)] = unit
                        for attr in obj:
                            owners.pop((tname, kind, oname, attr), None)
                        continue
                    for attr, value in obj.items():
                        if attr != "position" and old.get(attr) != value:
                            owners[(tname, kind, oname, attr)] = unit
            if table["primary_key"] and not (before and before["primary_key"]):
                owners[(tname, "index", "PRIMARY")] = unit
            elif before and before["primary_key"] != table["primary_key"]:
                owners[(tname, "index", "PRIMARY", "columns")] = unit
            if before:
                for option, value in table["options"].items():
                    if before["options"].get(option) != value:
                        owners[(tname, "option", option)] = unit
        for vname, view in schema.get("views", {}).items():
            if vname not in previous.get("views", {}):
                owners[(vname,)] = unit
            elif previous["views"][vname] != view:
                owners[(vname, "view", vname, "definition")] = unit
        for kind, plural in NAMED[1:]:
            for oname, obj in schema.get(plural, {}).items():
                before_obj = previous.get(plural, {}).get(oname)
                if before_obj is None:
                    owners[(None, kind, oname)] = unit
                elif before_obj != obj:
                    for attr in (obj if isinstance(obj, dict) else {"definition": obj}):
                        if not isinstance(obj, dict) or before_obj.get(attr) != obj.get(attr):
                            owners[(None, kind, oname, attr)] = unit
        previous = schema
    return {key: unit for key, unit in owners.items() if _exists(previous, key)}


def _exists(schema: dict, key: OwnerKey) -> bool:
    if key[0] is None:
        return key[2] in schema.get({"trigger": "triggers", "routine": "routines", "event": "events"}[key[1]], {})
    table = schema.get("tables", {}).get(key[0])
    if len(key) == 1 or table is None:
        return table is not None or key[0] in schema.get("views", {})
    kind, name = key[1], key[2]
    if kind == "option":
        return True
    if kind == "view":
        return name in schema.get("views", {})
    if kind == "index" and name == "PRIMARY":
        return bool(table["primary_key"])
    plural = {v: k for k, v in _KINDS.items()}[kind]
    return name in table.get(plural, {})


# --- acceptance and severity ----------------------------------------------------------------


def _accepts(rule: Any, diff: Difference) -> bool:
    """An accepted-drift rule matches when every field it names matches (globs for
    table/name). Naming ``actual`` pins the acceptance to that exact value, so further
    drift of the same attribute shows up again."""
    if isinstance(rule, Difference):
        rule = {k: v for k, v in asdict(rule).items() if k in ("object", "change", "table", "name", "attribute", "actual")}
    if not isinstance(rule, dict) or not rule:
        return False
    for field_name, wanted in rule.items():
        if field_name not in ("object", "change", "table", "name", "attribute", "actual", "expected"):
            continue
        value = getattr(diff, field_name)
        if field_name in ("table", "name") and isinstance(wanted, str) and isinstance(value, str):
            if not fnmatch.fnmatchcase(value, wanted):
                return False
        elif value != wanted:
            return False
    return True


def severity(differences: Iterable[Difference]) -> tuple[int, Severity]:
    """(score, level) with the CLI.md weights; accepted differences do not count."""
    score = sum(d.weight for d in differences if not d.accepted)
    for level, threshold in LEVELS:
        if score >= threshold:
            return score, level
    return 0, "none"

"""The side-by-side diff's layout (console/diffmodel.py): every engine difference lands on
one line, the changed attribute is marked on both sides, and the filters keep what they
say. Pure data: no app, no database."""
from __future__ import annotations

import copy
from typing import Any

from tenantops.console import diffmodel
from tenantops.engine.schema.diff import diff_schemas


def column(position: int, kind: str = "int", nullable: bool = True, default: Any = None) -> dict[str, Any]:
    return {"type": kind, "nullable": nullable, "default": default, "autoincrement": False, "collation": None,
            "position": position}


def schema() -> dict[str, Any]:
    return {"tables": {
        "members": {"columns": {"id": column(1, nullable=False), "name": column(2, "varchar(200)", False),
                                "phone": column(3, "varchar(20)"), "joined": column(4, "datetime")},
                    "primary_key": ["id"],
                    "indexes": {"ix_members_name": {"columns": ["name"], "unique": False, "type": "btree"}},
                    "foreign_keys": {}, "options": {"engine": None, "charset": None, "collation": None}},
        "payments": {"columns": {"id": column(1, nullable=False), "member_id": column(2)},
                     "primary_key": ["id"], "indexes": {},
                     "foreign_keys": {"fk_payments_member_id": {"columns": ["member_id"], "ref_table": "members",
                                                                "ref_columns": ["id"], "on_update": "NO ACTION",
                                                                "on_delete": "CASCADE"}},
                     "options": {"engine": None, "charset": None, "collation": None}},
    }, "views": {}, "triggers": {}}


def drifted() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    expected = schema()
    actual = copy.deepcopy(expected)
    members = actual["tables"]["members"]
    members["columns"]["name"]["type"] = "varchar(100)"  # modified
    members["columns"]["nickname"] = column(5, "varchar(40)")  # added after joined
    del members["columns"]["phone"]  # removed
    members["columns"]["joined"]["position"] = 3
    members["columns"]["nickname"]["position"] = 4
    members["indexes"]["ix_members_name"]["unique"] = True  # modified
    actual["tables"]["payments"]["foreign_keys"]["fk_payments_member_id"]["on_delete"] = "SET NULL"
    actual["tables"]["scratch"] = {"columns": {"id": column(1, nullable=False)}, "primary_key": ["id"],
                                   "indexes": {}, "foreign_keys": {},
                                   "options": {"engine": None, "charset": None, "collation": None}}
    differences = [d.to_json() for d in diff_schemas(expected, actual)]
    return expected, actual, differences


def text(parts: list[tuple[str, Any]] | None) -> str:
    return "".join(p for p, _ in parts or [])


def highlighted(parts: list[tuple[str, Any]] | None) -> list[str]:
    return [p for p, tag in parts or [] if tag == "hl"]


def test_every_difference_has_a_line_and_the_changed_attribute_is_marked_on_both_sides() -> None:
    expected, actual, differences = drifted()
    model = diffmodel.build(expected, actual, differences)
    assert set(model.diff_line) == set(range(len(differences)))
    by_name = {(d["object"], d["name"], d["attribute"]): model.lines[model.diff_line[i]]
               for i, d in enumerate(differences)}

    name = by_name[("column", "name", "type")]
    assert name.change == "modified"
    assert highlighted(name.left) == ["varchar(200)"] and highlighted(name.right) == ["varchar(100)"]
    assert text(name.left) == "name varchar(200) NOT NULL" and text(name.right) == "name varchar(100) NOT NULL"

    phone = by_name[("column", "phone", None)]
    assert (phone.change, phone.right, text(phone.left)) == ("removed", None, "phone varchar(20) NULL")
    nickname = by_name[("column", "nickname", None)]
    assert (nickname.change, nickname.left, text(nickname.right)) == ("added", None, "nickname varchar(40) NULL")

    index = by_name[("index", "ix_members_name", "unique")]
    assert highlighted(index.left) == ["INDEX"] and highlighted(index.right) == ["UNIQUE"]
    fk = by_name[("foreign_key", "fk_payments_member_id", "on_delete")]
    assert highlighted(fk.left) == ["ON DELETE CASCADE"] and highlighted(fk.right) == ["ON DELETE SET NULL"]

    scratch = by_name[("table", "scratch", None)]
    assert scratch.kind == "table" and scratch.left is None and scratch.change == "added"
    inside = [line for line in model.lines if line.table == "scratch" and line.kind not in ("table", "blank")]
    assert inside and all(line.change == "added" and not line.diffs for line in inside)


def test_extra_columns_sit_where_the_database_has_them() -> None:
    expected, actual, differences = drifted()
    model = diffmodel.build(expected, actual, differences)
    columns = [line for line in model.lines if line.table == "members" and line.kind == "column"]
    assert [text(line.left or line.right).split()[0] for line in columns] == ["id", "name", "phone", "joined",
                                                                               "nickname"]


def test_filters_by_kind_and_change_and_differing_tables_only() -> None:
    expected, actual, differences = drifted()
    model = diffmodel.build(expected, actual, differences)
    everything = model.view()
    assert everything == list(range(len(model.lines)))

    def shown(rows: list[int]) -> list[str]:
        return [f"{model.lines[i].kind}:{text(model.lines[i].left or model.lines[i].right).split()[0]}"
                for i in rows if i >= 0]

    assert shown(model.view(kind="column")) == ["table:▸", "column:name", "column:phone", "column:nickname"]
    assert shown(model.view(change="added")) == ["table:▸", "column:nickname", "table:▸", "column:id",
                                                 "index:PRIMARY"]
    assert shown(model.view(kind="foreign_key", change="modified")) == ["table:▸", "foreign_key:FK"]
    only = model.view(only=True)
    assert {model.lines[i].table for i in only if i >= 0} == {"members", "payments", "scratch"}
    assert -1 in only  # tables are kept apart


def test_identical_schemas_have_no_difference_lines() -> None:
    model = diffmodel.build(schema(), schema(), [])
    assert model.differences == [] and not any(line.diffs for line in model.lines)
    assert model.view(kind="table") == []

"""The MariaDB/MySQL statements repair needs that Alembic has no operation for.

All are SQLAlchemy DDL elements compiled by the dialect (identifiers quoted by its
preparer, option words validated) and run through ``Operations.execute``, so they go
through the same MigrationContext as every Alembic operation, offline preview included.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic.ddl.base import AddColumn, AlterTable, alter_table, visit_add_column
from sqlalchemy.ext.compiler import compiles

from tenantops.engine.errors import ValidationError

_WORD = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _word(value: str, what: str) -> str:
    if not _WORD.match(value or ""):
        raise ValidationError(f"{what} {value!r} is not a valid name")
    return value


class AddColumnAt(AddColumn):
    """``ALTER TABLE t ADD COLUMN ... AFTER x`` / ``FIRST``: Alembic's add_column always
    appends, which would leave a re-created column out of its expected position."""

    def __init__(self, table_name: str, column: sa.Column, after: str | None) -> None:
        if column.table is None:
            sa.Table(table_name, sa.MetaData(), column)  # the compiler needs a table
        super().__init__(table_name, column)
        self.after = after


@compiles(AddColumnAt, "mysql")
@compiles(AddColumnAt, "mariadb")
def _add_column_at(element: AddColumnAt, compiler: Any, **kw: Any) -> str:
    text = visit_add_column(element, compiler, **kw)
    if element.after is None:
        return text + " FIRST"
    return text + " AFTER " + compiler.preparer.quote(element.after)


class AlterTableOptions(AlterTable):
    """``ALTER TABLE t ENGINE=x`` or ``ALTER TABLE t CONVERT TO CHARACTER SET c COLLATE y``.

    CONVERT (not a bare ``COLLATE=``) because canonical column collations are relative to
    the table's: columns that follow the table default must follow it to the new value.
    """

    def __init__(self, table_name: str, *, engine: str | None = None, charset: str | None = None,
                 collation: str | None = None, row_format: str | None = None, comment: str | None = None) -> None:
        super().__init__(table_name)
        self.engine = _word(engine, "engine") if engine else None
        self.charset = _word(charset, "character set") if charset else None
        self.collation = _word(collation, "collation") if collation else None
        # DEFAULT puts back "no explicit row format" (the server's default)
        self.row_format = _word(row_format, "row format") if row_format else None
        self.comment = comment  # a string literal rendered by the dialect; "" clears it


@compiles(AlterTableOptions, "mysql")
@compiles(AlterTableOptions, "mariadb")
def _alter_table_options(element: AlterTableOptions, compiler: Any, **kw: Any) -> str:
    parts = []
    if element.engine:
        parts.append(f"ENGINE={element.engine}")
    if element.row_format:
        parts.append(f"ROW_FORMAT={element.row_format.upper()}")
    if element.comment is not None:
        parts.append("COMMENT=" + compiler.sql_compiler.render_literal_value(element.comment, sa.String()))
    if element.charset or element.collation:
        charset = element.charset
        if not charset:
            assert element.collation is not None  # the charset follows from the collation
            charset = element.collation.split("_", 1)[0]
        convert = "CONVERT TO CHARACTER SET " + charset
        if element.collation:
            convert += f" COLLATE {element.collation}"
        parts.append(convert)
    return f"{alter_table(compiler, element.table_name, element.schema)} {', '.join(parts)}"


class ModifyColumn(AlterTable):
    """``ALTER TABLE t MODIFY COLUMN c <full definition>``: the one statement that sets
    what Alembic's alter_column can't (ON UPDATE, generated expression, INVISIBLE) while
    keeping every other attribute of the column as expected."""

    def __init__(self, table_name: str, column: sa.Column, *, on_update: str | None = None,
                 generated: str | None = None, expression: str | None = None, invisible: bool = False,
                 comment: str | None = None) -> None:
        if column.table is None:
            sa.Table(table_name, sa.MetaData(), column)  # the compiler needs a table
        super().__init__(table_name)
        self.column = column
        self.on_update = on_update
        self.generated = generated
        self.expression = expression
        self.invisible = invisible
        self.comment = comment


@compiles(ModifyColumn, "mysql")
@compiles(ModifyColumn, "mariadb")
def _modify_column(element: ModifyColumn, compiler: Any, **kw: Any) -> str:
    col = element.column
    parts = [compiler.preparer.format_column(col), compiler.dialect.type_compiler_instance.process(col.type)]
    if element.generated:
        # MariaDB takes no NULL/NOT NULL/DEFAULT on a generated column
        parts.append(f"GENERATED ALWAYS AS ({element.expression}) {element.generated.upper()}")
    else:
        parts.append("NULL" if col.nullable else "NOT NULL")
        default = compiler.get_column_default_string(col)
        if default is not None:
            parts.append(f"DEFAULT {default}")
        if element.on_update:
            parts.append(f"ON UPDATE {element.on_update}")
        if col.autoincrement is True:
            parts.append("AUTO_INCREMENT")
    if element.invisible:
        parts.append("INVISIBLE")
    if element.comment:
        parts.append("COMMENT " + compiler.sql_compiler.render_literal_value(element.comment, sa.String()))
    return f"{alter_table(compiler, element.table_name, element.schema)} MODIFY COLUMN {' '.join(parts)}"


class CreateIndexWithComment(sa.schema.CreateIndex):
    """``CREATE INDEX ... COMMENT '...'``: no ALTER sets an index comment and the dialect's
    CREATE INDEX has no option for it."""

    inherit_cache = False

    def __init__(self, index: sa.Index, comment: str) -> None:
        super().__init__(index)
        self.comment = comment


@compiles(CreateIndexWithComment, "mysql")
@compiles(CreateIndexWithComment, "mariadb")
def _create_index_with_comment(element: CreateIndexWithComment, compiler: Any, **kw: Any) -> str:
    text = compiler.visit_create_index(element, **kw)
    return f"{text} COMMENT " + compiler.sql_compiler.render_literal_value(element.comment, sa.String())

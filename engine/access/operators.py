"""Operators and their roles (viewer < admin < dba < owner)."""
from __future__ import annotations

import re
from typing import cast

import sqlalchemy as sa

from tenantops.engine.context import Context, mutating
from tenantops.engine.documents import OperatorDoc
from tenantops.engine.errors import ConflictError, NotFoundError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.vocab import ROLES, Role
from tenantops.engine.timestamps import iso

_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$")


def operator_json(op: m.Operator) -> OperatorDoc:
    return {"user": op.user, "role": cast(Role, op.role), "added_by": op.added_by, "added_at": iso(op.added_at)}


def list_operators(ctx: Context) -> list[OperatorDoc]:
    with ctx.session() as s:
        return [operator_json(o) for o in s.scalars(sa.select(m.Operator).order_by(m.Operator.user))]


@mutating("operators.add", "owner", target="user")
def add_operator(ctx: Context, *, user: str, role: str) -> OperatorDoc:
    if not _USER_RE.fullmatch(user or ""):
        raise ValidationError(f"operator {user!r} is not a valid login name")
    if role not in ROLES:
        raise ValidationError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    with ctx.session() as s:
        existing = s.scalar(sa.select(m.Operator).where(m.Operator.user == user))
        if existing is not None:
            if existing.role == role:
                raise ConflictError(f"operator {user!r} already has the {role} role")
            existing.role = role
            return operator_json(existing)
        op = m.Operator(user=user, role=role, added_by=ctx.operator)
        s.add(op)
        s.flush()
        return operator_json(op)


@mutating("operators.remove", "owner", target="user")
def remove_operator(ctx: Context, *, user: str) -> None:
    with ctx.session() as s:
        op = s.scalar(sa.select(m.Operator).where(m.Operator.user == user))
        if op is None:
            raise NotFoundError(f"operator {user!r} does not exist")
        # COUNT(*) always returns one row: scalar() is never None here
        owners = s.scalar(sa.select(sa.func.count()).select_from(m.Operator).where(m.Operator.role == "owner")) or 0
        if op.role == "owner" and owners <= 1:
            raise ConflictError(f"operator {user!r} is the last owner; add another owner first")
        s.delete(op)

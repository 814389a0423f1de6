"""Tenant settings: one JSON value per unique key.

Revision ID: basic_0002
Revises: basic_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "basic_0002"
down_revision = "basic_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        # 191 chars keeps the unique index inside utf8mb4 limits on older InnoDB row formats
        sa.Column("key", sa.String(191), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("key", name="uq_settings_key"),
        sa.ForeignKeyConstraint(
            ["updated_by"], ["tenant_users.id"], name="fk_settings_updated_by", ondelete="SET NULL"
        ),
    )


def downgrade() -> None:
    op.drop_table("settings")

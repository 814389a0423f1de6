"""Nepal's administrative divisions: 7 provinces and 77 districts.

Revision ID: ppn_0001
Revises: (base of political_party_nepal; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "ppn_0001"
down_revision = None
branch_labels = ("political_party_nepal",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "provinces",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(2), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_np", sa.String(100), nullable=False),
        sa.Column("capital", sa.String(100), nullable=False),
        sa.Column("capital_np", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.UniqueConstraint("code", name="uq_provinces_code"),
        sa.UniqueConstraint("name", name="uq_provinces_name"),
    )
    op.create_table(
        "districts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("province_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(4), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("name_np", sa.String(100), nullable=False),
        sa.Column("headquarters", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["province_id"], ["provinces.id"], name="fk_districts_province_id", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("code", name="uq_districts_code"),
        sa.UniqueConstraint("name", name="uq_districts_name"),
    )
    op.create_index("ix_districts_province_id_name", "districts", ["province_id", "name"])


def downgrade() -> None:
    op.drop_table("districts")
    op.drop_table("provinces")

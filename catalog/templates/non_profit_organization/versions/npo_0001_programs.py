"""Programmes and the beneficiaries enrolled in them.

Revision ID: npo_0001
Revises: (base of non_profit_organization; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "npo_0001"
down_revision = None
branch_labels = ("non_profit_organization",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "programs",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("planned", "active", "suspended", "completed", name="program_status"),
            nullable=False,
            server_default="planned",
        ),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("budget", sa.Numeric(12, 2), nullable=True),
        sa.Column("manager_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_user_id"], ["tenant_users.id"], name="fk_programs_manager_user_id", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("code", name="uq_programs_code"),
    )
    op.create_index("ix_programs_status", "programs", ["status"])
    op.create_table(
        "beneficiaries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("program_id", sa.BigInteger(), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("gender", sa.Enum("female", "male", "other", "undisclosed", name="beneficiary_gender"), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("contact", sa.JSON(), nullable=True),
        sa.Column("enrolled_on", sa.Date(), nullable=False),
        sa.Column("exited_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("enrolled", "graduated", "dropped_out", name="beneficiary_status"),
            nullable=False,
            server_default="enrolled",
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_beneficiaries_program_id", ondelete="RESTRICT"
        ),
    )
    op.create_index("ix_beneficiaries_program_id_status", "beneficiaries", ["program_id", "status"])


def downgrade() -> None:
    op.drop_table("beneficiaries")
    op.drop_table("programs")

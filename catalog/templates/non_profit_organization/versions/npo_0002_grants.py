"""Grants from funders and the reports owed on them.

Revision ID: npo_0002
Revises: npo_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "npo_0002"
down_revision = "npo_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("funder_name", sa.String(200), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("program_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("awarded_on", sa.Date(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("applied", "awarded", "active", "closed", "rejected", name="grant_status"),
            nullable=False,
            server_default="applied",
        ),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name="fk_grants_program_id", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("funder_name", "reference", name="uq_grants_funder_name_reference"),
    )
    op.create_index("ix_grants_status_ends_on", "grants", ["status", "ends_on"])
    op.create_table(
        "grant_reports",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("grant_id", sa.BigInteger(), nullable=False),
        sa.Column("report_kind", sa.Enum("narrative", "financial", "final", name="grant_report_kind"), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("due", "submitted", "accepted", "overdue", name="grant_report_status"),
            nullable=False,
            server_default="due",
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"], ["grants.id"], name="fk_grant_reports_grant_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["tenant_users.id"], name="fk_grant_reports_submitted_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_grant_reports_due_on_status", "grant_reports", ["due_on", "status"])


def downgrade() -> None:
    op.drop_table("grant_reports")
    op.drop_table("grants")

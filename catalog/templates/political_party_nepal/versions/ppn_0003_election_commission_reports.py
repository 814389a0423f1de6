"""Reports filed with the Election Commission of Nepal.

Revision ID: ppn_0003
Revises: ppn_0002
"""
from alembic import op
import sqlalchemy as sa

revision = "ppn_0003"
down_revision = "ppn_0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "election_commission_reports",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        # Bikram Sambat fiscal year, e.g. "2081/82"
        sa.Column("fiscal_year", sa.String(9), nullable=False),
        sa.Column(
            "report_type", sa.Enum("quarterly", "annual", "election", name="ec_report_type"), nullable=False
        ),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("submission_deadline", sa.Date(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "submitted", "verified", "rejected", name="ec_report_status"),
            nullable=False,
            server_default="draft",
        ),
        sa.Column("ec_reference_number", sa.String(64), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.Column("remarks", sa.Text(), nullable=True),
        sa.Column("prepared_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["prepared_by"], ["tenant_users.id"], name="fk_election_commission_reports_prepared_by",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint(
            "fiscal_year", "report_type", "period_start", name="uq_election_commission_reports_period"
        ),
    )
    op.create_index("ix_election_commission_reports_deadline_status", "election_commission_reports", ["submission_deadline", "status"])


def downgrade() -> None:
    op.drop_table("election_commission_reports")

"""Membership renewals and applications awaiting review.

Revision ID: membership_0002
Revises: membership_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "membership_0002"
down_revision = "membership_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "membership_renewals",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("tier_id", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("fee_paid", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_membership_renewals_member_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["membership_tiers.id"], name="fk_membership_renewals_tier_id", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("member_id", "period_start", name="uq_membership_renewals_member_id_period_start"),
    )
    op.create_table(
        "membership_applications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("requested_tier_id", sa.BigInteger(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("submitted", "approved", "rejected", "withdrawn", name="membership_application_status"),
            nullable=False,
            server_default="submitted",
        ),
        sa.Column("reviewed_by", sa.BigInteger(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["requested_tier_id"], ["membership_tiers.id"], name="fk_membership_applications_requested_tier_id",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["tenant_users.id"], name="fk_membership_applications_reviewed_by", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_membership_applications_member_id", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_membership_applications_status_created_at", "membership_applications", ["status", "created_at"])
    op.create_index("ix_membership_applications_email", "membership_applications", ["email"])


def downgrade() -> None:
    op.drop_table("membership_applications")
    op.drop_table("membership_renewals")

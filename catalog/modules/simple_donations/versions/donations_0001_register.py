"""Donation causes and a flat donation register.

Revision ID: donations_0001
Revises: (base of simple_donations; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "donations_0001"
down_revision = None
branch_labels = ("simple_donations",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "donation_causes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("goal_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.UniqueConstraint("name", name="uq_donation_causes_name"),
    )
    op.create_table(
        "donation_entries",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("cause_id", sa.BigInteger(), nullable=True),
        sa.Column("donor_name", sa.String(200), nullable=True),
        sa.Column("donor_email", sa.String(255), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(255), nullable=True),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["cause_id"], ["donation_causes.id"], name="fk_donation_entries_cause_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["tenant_users.id"], name="fk_donation_entries_recorded_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_donation_entries_received_on", "donation_entries", ["received_on"])


def downgrade() -> None:
    op.drop_table("donation_entries")
    op.drop_table("donation_causes")

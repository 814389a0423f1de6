"""Donations with receipts and expenses awaiting approval, both posted to the ledger.

Revision ID: finance_0002
Revises: finance_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "finance_0002"
down_revision = "finance_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "donations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("receipt_number", sa.String(64), nullable=False),
        sa.Column("donor_name", sa.String(200), nullable=False),
        sa.Column("donor_email", sa.String(255), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column(
            "method",
            sa.Enum("cash", "bank_transfer", "cheque", "card", "digital_wallet", name="donation_method"),
            nullable=False,
        ),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["financial_transactions.id"], name="fk_donations_transaction_id",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("receipt_number", name="uq_donations_receipt_number"),
    )
    op.create_index("ix_donations_received_on", "donations", ["received_on"])
    op.create_table(
        "expenses",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("payee", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("incurred_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("submitted", "approved", "rejected", "paid", name="expense_status"),
            nullable=False,
            server_default="submitted",
        ),
        sa.Column("receipt_ref", sa.String(255), nullable=True),
        sa.Column("submitted_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("transaction_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["tenant_users.id"], name="fk_expenses_submitted_by", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["tenant_users.id"], name="fk_expenses_approved_by", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"], ["financial_transactions.id"], name="fk_expenses_transaction_id",
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_expenses_status_incurred_on", "expenses", ["status", "incurred_on"])


def downgrade() -> None:
    op.drop_table("expenses")
    op.drop_table("donations")

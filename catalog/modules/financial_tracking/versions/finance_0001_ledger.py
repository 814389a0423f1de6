"""Chart of accounts, ledger transactions and budgets.

Revision ID: finance_0001
Revises: (base of financial_tracking; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "finance_0001"
down_revision = None
branch_labels = ("financial_tracking",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column(
            "account_type",
            sa.Enum("asset", "liability", "equity", "income", "expense", name="ledger_account_type"),
            nullable=False,
        ),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["ledger_accounts.id"], name="fk_ledger_accounts_parent_id", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("code", name="uq_ledger_accounts_code"),
    )
    op.create_index("ix_ledger_accounts_parent_id", "ledger_accounts", ["parent_id"])
    op.create_table(
        "financial_transactions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("txn_date", sa.Date(), nullable=False),
        sa.Column("direction", sa.Enum("debit", "credit", name="financial_transaction_direction"), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name="fk_financial_transactions_account_id",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["tenant_users.id"], name="fk_financial_transactions_recorded_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_financial_transactions_account_id_txn_date", "financial_transactions", ["account_id", "txn_date"])
    op.create_index("ix_financial_transactions_reference", "financial_transactions", ["reference"])
    op.create_table(
        "budgets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("fiscal_year", sa.String(9), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["account_id"], ["ledger_accounts.id"], name="fk_budgets_account_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("fiscal_year", "account_id", name="uq_budgets_fiscal_year_account_id"),
    )


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_table("financial_transactions")
    op.drop_table("ledger_accounts")

"""Track sign-ins on tenant users (last login time and failed attempts).

Revision ID: basic_0004
Revises: basic_0003
"""
from alembic import op
import sqlalchemy as sa

revision = "basic_0004"
down_revision = "basic_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenant_users", sa.Column("last_login_at", sa.DateTime(), nullable=True))
    op.add_column(
        "tenant_users",
        sa.Column("failed_login_attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_index("ix_tenant_users_last_login_at", "tenant_users", ["last_login_at"])


def downgrade() -> None:
    # the index goes first: SQLite refuses to drop an indexed column
    op.drop_index("ix_tenant_users_last_login_at", table_name="tenant_users")
    op.drop_column("tenant_users", "failed_login_attempts")
    op.drop_column("tenant_users", "last_login_at")

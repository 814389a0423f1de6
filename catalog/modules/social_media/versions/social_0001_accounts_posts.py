"""Connected social accounts, posts and per-post engagement metrics.

Access tokens are never stored here: ``credential_ref`` names the secret in the
platform's secret store.

Revision ID: social_0001
Revises: (base of social_media; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "social_0001"
down_revision = None
branch_labels = ("social_media",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "social_accounts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column(
            "platform",
            sa.Enum("facebook", "x", "instagram", "youtube", "tiktok", name="social_platform"),
            nullable=False,
        ),
        sa.Column("handle", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("credential_ref", sa.String(255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("connected_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["connected_by"], ["tenant_users.id"], name="fk_social_accounts_connected_by", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("platform", "handle", name="uq_social_accounts_platform_handle"),
    )
    op.create_table(
        "social_posts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "scheduled", "published", "failed", name="social_post_status"),
            nullable=False,
            server_default="draft",
        ),
        sa.Column("scheduled_at", sa.DateTime(), nullable=True),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("external_id", sa.String(128), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["account_id"], ["social_accounts.id"], name="fk_social_posts_account_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["tenant_users.id"], name="fk_social_posts_created_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_social_posts_status_scheduled_at", "social_posts", ["status", "scheduled_at"])
    op.create_index("ix_social_posts_account_id", "social_posts", ["account_id"])
    op.create_table(
        "social_post_metrics",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("captured_at", sa.DateTime(), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("shares", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("comments", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("reach", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.ForeignKeyConstraint(
            ["post_id"], ["social_posts.id"], name="fk_social_post_metrics_post_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("post_id", "captured_at", name="uq_social_post_metrics_post_id_captured_at"),
    )


def downgrade() -> None:
    op.drop_table("social_post_metrics")
    op.drop_table("social_posts")
    op.drop_table("social_accounts")

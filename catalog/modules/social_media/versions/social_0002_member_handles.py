"""Members' own social handles, so posts can credit and tag them.

Revision ID: social_0002
Revises: social_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "social_0002"
down_revision = "social_0001"
branch_labels = None
depends_on = ("membership_0002",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "member_social_handles",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "platform",
            sa.Enum("facebook", "x", "instagram", "youtube", "tiktok", name="member_social_platform"),
            nullable=False,
        ),
        sa.Column("handle", sa.String(100), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_member_social_handles_member_id",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("member_id", "platform", name="uq_member_social_handles_member_id_platform"),
    )
    op.create_index("ix_member_social_handles_handle", "member_social_handles", ["handle"])


def downgrade() -> None:
    op.drop_index("ix_member_social_handles_handle", table_name="member_social_handles")
    op.drop_table("member_social_handles")

"""Membership tiers and the member register.

Revision ID: membership_0001
Revises: (base of membership_management; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "membership_0001"
down_revision = None
branch_labels = ("membership_management",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "membership_tiers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("annual_fee", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("benefits", sa.JSON(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.UniqueConstraint("code", name="uq_membership_tiers_code"),
    )
    op.create_table(
        "members",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("membership_number", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("tier_id", sa.BigInteger(), nullable=False),
        sa.Column("referred_by_id", sa.BigInteger(), nullable=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("gender", sa.Enum("female", "male", "other", "undisclosed", name="member_gender"), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("applied", "active", "suspended", "lapsed", "expelled", name="member_status"),
            nullable=False,
            server_default="applied",
        ),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["tenant_users.id"], name="fk_members_user_id", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["membership_tiers.id"], name="fk_members_tier_id", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["referred_by_id"], ["members.id"], name="fk_members_referred_by_id", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("membership_number", name="uq_members_membership_number"),
        sa.UniqueConstraint("user_id", name="uq_members_user_id"),
    )
    op.create_index("ix_members_status_expires_on", "members", ["status", "expires_on"])
    op.create_index("ix_members_last_name_first_name", "members", ["last_name", "first_name"])


def downgrade() -> None:
    op.drop_table("members")
    op.drop_table("membership_tiers")

"""Campaigns and their candidates (candidates are members).

Revision ID: campaign_0001
Revises: (base of election_campaign; needs basic and membership_management)
"""
from alembic import op
import sqlalchemy as sa

revision = "campaign_0001"
down_revision = None
branch_labels = ("election_campaign",)
depends_on = ("basic_0004", "membership_0002")

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "election_type",
            sa.Enum("federal", "provincial", "local", "by_election", name="campaign_election_type"),
            nullable=False,
        ),
        sa.Column("election_date", sa.Date(), nullable=False),
        sa.Column("constituency", sa.String(120), nullable=True),
        sa.Column(
            "status",
            sa.Enum("planning", "active", "closed", name="campaign_status"),
            nullable=False,
            server_default="planning",
        ),
        sa.Column("budget", sa.Numeric(12, 2), nullable=True),
        sa.Column("manager_member_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["manager_member_id"], ["members.id"], name="fk_campaigns_manager_member_id", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_campaigns_election_date_status", "campaigns", ["election_date", "status"])
    op.create_table(
        "candidates",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("position_title", sa.String(120), nullable=False),
        sa.Column("constituency", sa.String(120), nullable=True),
        sa.Column(
            "nomination_status",
            sa.Enum("proposed", "nominated", "withdrawn", "elected", "defeated", name="candidate_nomination_status"),
            nullable=False,
            server_default="proposed",
        ),
        sa.Column("votes_received", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_candidates_campaign_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_candidates_member_id", ondelete="RESTRICT"),
        sa.UniqueConstraint("campaign_id", "member_id", name="uq_candidates_campaign_id_member_id"),
    )
    op.create_index("ix_candidates_member_id", "candidates", ["member_id"])


def downgrade() -> None:
    op.drop_table("candidates")
    op.drop_table("campaigns")

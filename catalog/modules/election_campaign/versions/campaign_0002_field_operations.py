"""Field operations: campaign volunteers and polling stations with party agents.

Revision ID: campaign_0002
Revises: campaign_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "campaign_0002"
down_revision = "campaign_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaign_volunteers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("volunteer_role", sa.String(64), nullable=False),
        sa.Column("available_from", sa.Date(), nullable=True),
        sa.Column("available_to", sa.Date(), nullable=True),
        sa.Column("hours_logged", sa.Numeric(8, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_campaign_volunteers_campaign_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name="fk_campaign_volunteers_member_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("campaign_id", "member_id", name="uq_campaign_volunteers_campaign_id_member_id"),
    )
    op.create_table(
        "polling_stations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("location", sa.String(255), nullable=True),
        sa.Column("ward_number", sa.SmallInteger(), nullable=True),
        sa.Column("registered_voters", sa.Integer(), nullable=True),
        sa.Column("agent_member_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_polling_stations_campaign_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["agent_member_id"], ["members.id"], name="fk_polling_stations_agent_member_id", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("campaign_id", "name", name="uq_polling_stations_campaign_id_name"),
    )


def downgrade() -> None:
    op.drop_table("polling_stations")
    op.drop_table("campaign_volunteers")

"""Post-event feedback from attendees.

Revision ID: events_0002
Revises: events_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "events_0002"
down_revision = "events_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_feedback",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("registration_id", sa.BigInteger(), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_event_feedback_event_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"], ["event_registrations.id"], name="fk_event_feedback_registration_id",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("event_id", "registration_id", name="uq_event_feedback_event_id_registration_id"),
    )


def downgrade() -> None:
    op.drop_table("event_feedback")

"""Events and attendee registrations.

Revision ID: events_0001
Revises: (base of event_management; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "events_0001"
down_revision = None
branch_labels = ("event_management",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "event_type",
            sa.Enum("meeting", "rally", "fundraiser", "training", "social", name="event_type"),
            nullable=False,
        ),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=True),
        sa.Column("venue", sa.String(200), nullable=True),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("draft", "published", "cancelled", "completed", name="event_status"),
            nullable=False,
            server_default="draft",
        ),
        sa.Column("organizer_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organizer_user_id"], ["tenant_users.id"], name="fk_events_organizer_user_id", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_events_starts_at_status", "events", ["starts_at", "status"])
    op.create_table(
        "event_registrations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("attendee_name", sa.String(200), nullable=False),
        sa.Column("attendee_email", sa.String(255), nullable=False),
        sa.Column(
            "status",
            sa.Enum("registered", "waitlisted", "cancelled", "attended", name="event_registration_status"),
            nullable=False,
            server_default="registered",
        ),
        sa.Column("registered_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name="fk_event_registrations_event_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["tenant_users.id"], name="fk_event_registrations_user_id", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("event_id", "attendee_email", name="uq_event_registrations_event_id_attendee_email"),
    )


def downgrade() -> None:
    op.drop_table("event_registrations")
    op.drop_table("events")

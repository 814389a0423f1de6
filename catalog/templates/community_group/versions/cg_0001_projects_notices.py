"""Community projects with their volunteers, and the notice board.

Revision ID: cg_0001
Revises: (base of community_group; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "cg_0001"
down_revision = None
branch_labels = ("community_group",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "community_projects",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("proposed", "approved", "in_progress", "done", "dropped", name="community_project_status"),
            nullable=False,
            server_default="proposed",
        ),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("budget", sa.Numeric(12, 2), nullable=True),
        sa.Column("lead_user_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["lead_user_id"], ["tenant_users.id"], name="fk_community_projects_lead_user_id", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_community_projects_status", "community_projects", ["status"])
    op.create_table(
        "project_volunteers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("volunteer_role", sa.String(64), nullable=True),
        sa.Column("hours", sa.Numeric(8, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("joined_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["project_id"], ["community_projects.id"], name="fk_project_volunteers_project_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["tenant_users.id"], name="fk_project_volunteers_user_id", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project_id", "user_id", name="uq_project_volunteers_project_id_user_id"),
    )
    op.create_table(
        "notices",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("is_pinned", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.Column("published_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("posted_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(["posted_by"], ["tenant_users.id"], name="fk_notices_posted_by", ondelete="SET NULL"),
    )
    op.create_index("ix_notices_is_pinned_published_at", "notices", ["is_pinned", "published_at"])


def downgrade() -> None:
    op.drop_table("notices")
    op.drop_table("project_volunteers")
    op.drop_table("community_projects")

"""Academic years and the course catalogue.

Revision ID: edu_0001
Revises: (base of educational_institution; needs basic)
"""
from alembic import op
import sqlalchemy as sa

revision = "edu_0001"
down_revision = None
branch_labels = ("educational_institution",)
depends_on = ("basic_0004",)

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "academic_years",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(20), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("name", name="uq_academic_years_name"),
    )
    op.create_table(
        "courses",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("department", sa.String(120), nullable=True),
        sa.Column(
            "level",
            sa.Enum("primary", "secondary", "higher_secondary", "bachelor", "master", name="course_level"),
            nullable=False,
        ),
        sa.Column("credit_hours", sa.Numeric(4, 1), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.UniqueConstraint("code", name="uq_courses_code"),
    )
    op.create_index("ix_courses_level_department", "courses", ["level", "department"])


def downgrade() -> None:
    op.drop_table("courses")
    op.drop_table("academic_years")

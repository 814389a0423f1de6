"""Students and their course enrolments per academic year.

Revision ID: edu_0002
Revises: edu_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "edu_0002"
down_revision = "edu_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "students",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("student_number", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("guardian_name", sa.String(200), nullable=True),
        sa.Column("guardian_phone", sa.String(32), nullable=True),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("enrolled", "graduated", "withdrawn", "suspended", name="student_status"),
            nullable=False,
            server_default="enrolled",
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(["user_id"], ["tenant_users.id"], name="fk_students_user_id", ondelete="SET NULL"),
        sa.UniqueConstraint("student_number", name="uq_students_student_number"),
    )
    op.create_index("ix_students_last_name_first_name", "students", ["last_name", "first_name"])
    op.create_table(
        "enrollments",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("student_id", sa.BigInteger(), nullable=False),
        sa.Column("course_id", sa.BigInteger(), nullable=False),
        sa.Column("academic_year_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "completed", "dropped", "failed", name="enrollment_status"),
            nullable=False,
            server_default="active",
        ),
        sa.Column("grade", sa.String(4), nullable=True),
        sa.Column("enrolled_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["student_id"], ["students.id"], name="fk_enrollments_student_id", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name="fk_enrollments_course_id", ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(
            ["academic_year_id"], ["academic_years.id"], name="fk_enrollments_academic_year_id", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint(
            "student_id", "course_id", "academic_year_id", name="uq_enrollments_student_course_year"
        ),
    )
    op.create_index("ix_enrollments_course_id_academic_year_id", "enrollments", ["course_id", "academic_year_id"])


def downgrade() -> None:
    op.drop_table("enrollments")
    op.drop_table("students")

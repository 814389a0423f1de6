"""Party structure: committee hierarchy (central to ward) and citizenship validation.

Revision ID: ppn_0002
Revises: ppn_0001
"""
from alembic import op
import sqlalchemy as sa

revision = "ppn_0002"
down_revision = "ppn_0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "political_committees",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "level",
            sa.Enum("central", "province", "district", "municipality", "ward", name="political_committee_level"),
            nullable=False,
        ),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_np", sa.String(200), nullable=True),
        sa.Column("province_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.Column("municipality", sa.String(120), nullable=True),
        sa.Column("ward_number", sa.SmallInteger(), nullable=True),
        sa.Column("chairperson_user_id", sa.BigInteger(), nullable=True),
        sa.Column("formation_date", sa.Date(), nullable=True),
        sa.Column("term_start", sa.Date(), nullable=True),
        sa.Column("term_end", sa.Date(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("1")),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        # a committee with sub-committees cannot be deleted: dissolve the children first
        sa.ForeignKeyConstraint(
            ["parent_id"], ["political_committees.id"], name="fk_political_committees_parent_id", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["province_id"], ["provinces.id"], name="fk_political_committees_province_id", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name="fk_political_committees_district_id", ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["chairperson_user_id"], ["tenant_users.id"],
            name="fk_political_committees_chairperson_user_id", ondelete="SET NULL",
        ),
    )
    op.create_index("ix_political_committees_parent_id", "political_committees", ["parent_id"])
    op.create_index("ix_political_committees_level_province_district", "political_committees", ["level", "province_id", "district_id"])
    op.create_table(
        "citizen_validations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("citizenship_number", sa.String(50), nullable=False),
        sa.Column("issue_district_id", sa.BigInteger(), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("full_name_np", sa.String(200), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column(
            "validation_status",
            sa.Enum("pending", "verified", "rejected", "expired", name="citizen_validation_status"),
            nullable=False,
            server_default="pending",
        ),
        sa.Column("documents", sa.JSON(), nullable=True),
        sa.Column("verified_by", sa.BigInteger(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["tenant_users.id"], name="fk_citizen_validations_user_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["issue_district_id"], ["districts.id"], name="fk_citizen_validations_issue_district_id",
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["verified_by"], ["tenant_users.id"], name="fk_citizen_validations_verified_by", ondelete="SET NULL"
        ),
        # a citizenship certificate number is unique within its issuing district
        sa.UniqueConstraint(
            "citizenship_number", "issue_district_id", name="uq_citizen_validations_number_district"
        ),
    )
    op.create_index("ix_citizen_validations_validation_status", "citizen_validations", ["validation_status"])


def downgrade() -> None:
    op.drop_table("citizen_validations")
    op.drop_table("political_committees")

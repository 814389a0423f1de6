"""Election Commission compliance tables: financial reports, donations, member
registrations, election expenditures and the audit trail.

Financial records are kept 7 years and election expenditures 10 years; retention is
enforced by the application, the schema only keeps what the Commission asks for.

Revision ID: ppn_0004
Revises: ppn_0003
"""
from alembic import op
import sqlalchemy as sa

revision = "ppn_0004"
down_revision = "ppn_0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "financial_reports",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("fiscal_year", sa.String(9), nullable=False),
        sa.Column(
            "report_period",
            sa.Enum("q1", "q2", "q3", "q4", "annual", name="financial_report_period"),
            nullable=False,
        ),
        sa.Column("opening_balance", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("total_income", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("total_expenditure", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("closing_balance", sa.Numeric(12, 2), nullable=False, server_default=sa.text("0")),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column(
            "status",
            sa.Enum("draft", "approved", "submitted", name="financial_report_status"),
            nullable=False,
            server_default="draft",
        ),
        sa.Column("ec_report_id", sa.BigInteger(), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ec_report_id"], ["election_commission_reports.id"], name="fk_financial_reports_ec_report_id",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["tenant_users.id"], name="fk_financial_reports_approved_by", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("fiscal_year", "report_period", name="uq_financial_reports_fiscal_year_period"),
    )
    op.create_table(
        "donation_records",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("receipt_number", sa.String(64), nullable=False),
        sa.Column("donor_name", sa.String(200), nullable=False),
        sa.Column(
            "donor_type", sa.Enum("individual", "organization", name="donation_donor_type"), nullable=False
        ),
        sa.Column("donor_citizenship_number", sa.String(50), nullable=True),
        sa.Column("donor_pan", sa.String(20), nullable=True),
        sa.Column("donor_address", sa.String(255), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False, server_default="NPR"),
        sa.Column("donated_on", sa.Date(), nullable=False),
        sa.Column(
            "payment_method",
            sa.Enum("cash", "bank_transfer", "cheque", "digital_wallet", name="donation_payment_method"),
            nullable=False,
        ),
        sa.Column("financial_report_id", sa.BigInteger(), nullable=True),
        sa.Column("recorded_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name="fk_donation_records_district_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["financial_report_id"], ["financial_reports.id"], name="fk_donation_records_financial_report_id",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["tenant_users.id"], name="fk_donation_records_recorded_by", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("receipt_number", name="uq_donation_records_receipt_number"),
    )
    op.create_index("ix_donation_records_donated_on", "donation_records", ["donated_on"])
    op.create_index("ix_donation_records_donor_citizenship_number", "donation_records", ["donor_citizenship_number"])
    op.create_table(
        "member_registrations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("registration_number", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("citizen_validation_id", sa.BigInteger(), nullable=True),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("full_name_np", sa.String(200), nullable=True),
        sa.Column("citizenship_number", sa.String(50), nullable=False),
        sa.Column("district_id", sa.BigInteger(), nullable=False),
        sa.Column("municipality", sa.String(120), nullable=True),
        sa.Column("ward_number", sa.SmallInteger(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "registered", "lapsed", "revoked", name="member_registration_status"),
            nullable=False,
            server_default="pending",
        ),
        sa.Column("reported_to_ec_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["tenant_users.id"], name="fk_member_registrations_user_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["citizen_validation_id"], ["citizen_validations.id"],
            name="fk_member_registrations_citizen_validation_id", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name="fk_member_registrations_district_id", ondelete="RESTRICT"
        ),
        sa.UniqueConstraint("registration_number", name="uq_member_registrations_registration_number"),
        sa.UniqueConstraint("citizenship_number", name="uq_member_registrations_citizenship_number"),
    )
    op.create_index("ix_member_registrations_district_id_status", "member_registrations", ["district_id", "status"])
    op.create_table(
        "election_expenditures",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("election_name", sa.String(200), nullable=False),
        sa.Column("election_date", sa.Date(), nullable=False),
        sa.Column("constituency", sa.String(120), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "publicity", "transport", "events", "staff", "materials", "other",
                name="election_expenditure_category",
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("vendor_name", sa.String(200), nullable=True),
        sa.Column("bill_number", sa.String(64), nullable=True),
        sa.Column("financial_report_id", sa.BigInteger(), nullable=True),
        sa.Column("approved_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name="fk_election_expenditures_district_id", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["financial_report_id"], ["financial_reports.id"],
            name="fk_election_expenditures_financial_report_id", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["tenant_users.id"], name="fk_election_expenditures_approved_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_election_expenditures_election_date_category", "election_expenditures", ["election_date", "category"])
    op.create_table(
        "audit_trails",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("action", sa.Enum("insert", "update", "delete", name="audit_trail_action"), nullable=False),
        sa.Column("changed_by", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
        sa.Column("before_data", sa.JSON(), nullable=True),
        sa.Column("after_data", sa.JSON(), nullable=True),
        sa.Column("reason", sa.String(255), nullable=True),
        # sha256 over the previous entry's hash and this entry: tampering breaks the chain
        sa.Column("chain_hash", sa.CHAR(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["tenant_users.id"], name="fk_audit_trails_changed_by", ondelete="SET NULL"
        ),
    )
    op.create_index("ix_audit_trails_table_name_record_id", "audit_trails", ["table_name", "record_id"])
    op.create_index("ix_audit_trails_changed_at", "audit_trails", ["changed_at"])


def downgrade() -> None:
    op.drop_table("audit_trails")
    op.drop_table("election_expenditures")
    op.drop_table("member_registrations")
    op.drop_table("donation_records")
    op.drop_table("financial_reports")

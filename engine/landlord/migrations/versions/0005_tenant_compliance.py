"""tenants keep their last compliance verdict (template manifest rules checked on the
live database), for lists and the dashboard

Revision ID: 0005_tenant_compliance
Revises: 0004_trust_boundaries
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0005_tenant_compliance'
down_revision = '0004_trust_boundaries'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.add_column(sa.Column('compliance_status', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('compliance_checked_at', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb')
                                   .with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tenants') as batch:
        batch.drop_column('compliance_checked_at')
        batch.drop_column('compliance_status')

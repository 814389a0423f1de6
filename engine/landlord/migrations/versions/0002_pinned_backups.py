"""pinned backups: retention never removes a backup taken before a destructive change

Revision ID: 0002_pinned_backups
Revises: 0001
Create Date: 2026-11-30 20:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0002_pinned_backups'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pinned', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_column('pinned')

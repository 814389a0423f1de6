"""pinned backups: retention never removes a backup taken before a destructive change;
audit rows name the job a queued operation started (its outcome becomes the row's)

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
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_job_id'))
        batch_op.drop_column('job_id')
    with op.batch_alter_table('backups', schema=None) as batch_op:
        batch_op.drop_column('pinned')

"""tenant labels (region, tier ...) for filters and rollout stages; staged rollouts with
their per-tenant outcomes; a server's load limit (Threads_running) for the claim throttle; drift reports keep the raw
fingerprint and expectation basis an incremental scan compares with

Revision ID: 0006_tenant_labels
Revises: 0005_tenant_compliance
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0006_tenant_labels'
down_revision = '0005_tenant_compliance'
branch_labels = None
depends_on = None

TS = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb').with_variant(mysql.DATETIME(fsp=6), 'mysql')


def upgrade() -> None:
    op.create_table(
        'tenant_labels',
        sa.Column('tenant_id', sa.Integer(), sa.ForeignKey('tenants.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('key', sa.String(length=63), primary_key=True),
        sa.Column('value', sa.String(length=63), nullable=False),
    )
    op.create_index('ix_tenant_labels_key_value', 'tenant_labels', ['key', 'value'])
    op.create_table(
        'rollouts',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('strategy', sa.String(length=16), nullable=True),
        sa.Column('spec', sa.String(length=512), nullable=False),
        sa.Column('parallel', sa.Integer(), nullable=False),
        sa.Column('on_error', sa.String(length=32), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('stages', sa.JSON(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('created_by', sa.String(length=128), nullable=False),
        sa.Column('created_at', TS, nullable=False),
        sa.Column('updated_at', TS, nullable=True),
        sa.Column('finished_at', TS, nullable=True),
    )
    op.create_index('ix_rollouts_status', 'rollouts', ['status'])
    op.create_table(
        'rollout_tenants',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('rollout_id', sa.Integer(), sa.ForeignKey('rollouts.id', ondelete='CASCADE'), nullable=False),
        sa.Column('stage', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('tenant', sa.String(length=64), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('job_id', sa.Integer(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('finished_at', TS, nullable=True),
        sa.UniqueConstraint('rollout_id', 'tenant'),
    )
    op.create_index('ix_rollout_tenants_rollout_id', 'rollout_tenants', ['rollout_id'])
    with op.batch_alter_table('drift_reports') as batch:
        batch.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('basis', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('captured', sa.Boolean(), nullable=True))
    with op.batch_alter_table('servers') as batch:
        batch.add_column(sa.Column('max_threads_running', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('threads_running', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('load_checked_at', TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('drift_reports') as batch:
        batch.drop_column('captured')
        batch.drop_column('basis')
        batch.drop_column('fingerprint')
    with op.batch_alter_table('servers') as batch:
        batch.drop_column('load_checked_at')
        batch.drop_column('threads_running')
        batch.drop_column('max_threads_running')
    op.drop_index('ix_rollout_tenants_rollout_id', 'rollout_tenants')
    op.drop_table('rollout_tenants')
    op.drop_index('ix_rollouts_status', 'rollouts')
    op.drop_table('rollouts')
    op.drop_index('ix_tenant_labels_key_value', 'tenant_labels')
    op.drop_table('tenant_labels')

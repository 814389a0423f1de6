"""a rollout's parameters (the module a fleet-wide `modules add --all` installs)

Revision ID: 0007_rollout_params
Revises: 0006_tenant_labels
"""
from alembic import op
import sqlalchemy as sa

revision = '0007_rollout_params'
down_revision = '0006_tenant_labels'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rollouts') as batch:
        batch.add_column(sa.Column('params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rollouts') as batch:
        batch.drop_column('params')

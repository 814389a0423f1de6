"""job status holds needs_confirmation (a destructive job resumed long after it was asked)

Revision ID: 0004_trust_boundaries
Revises: 0003_custom_review

The other leftovers of older installs need the keyring or the servers, which a landlord
revision must not depend on: setup links still in the outbox move to the keyring when
`tenantops init` runs (engine/tenants/notify.py ``move_clear_links``), and tenant users
with more than data privileges are reduced by `tenantops servers harden NAME`; `doctor`
reports both (``clear_secret_at_rest``, ``excess_privileges``).
"""
from alembic import op
import sqlalchemy as sa

revision = '0004_trust_boundaries'
down_revision = '0003_custom_review'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.alter_column('status', existing_type=sa.String(16), type_=sa.String(32), existing_nullable=False)


def downgrade() -> None:
    # a longer status would not fit back: those jobs were waiting for a confirmation
    op.execute("UPDATE jobs SET status = 'failed' WHERE status = 'needs_confirmation'")
    with op.batch_alter_table('jobs') as batch:
        batch.alter_column('status', existing_type=sa.String(32), type_=sa.String(16), existing_nullable=False)

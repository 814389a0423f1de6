"""custom migrations keep the review made at submit; jobs can be scheduled

Revision ID: 0003_custom_review
Revises: 0002_pinned_backups
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0003_custom_review'
down_revision = '0002_pinned_backups'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('custom_migrations') as batch:
        batch.add_column(sa.Column('review', sa.JSON(), nullable=True))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('not_before', sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mariadb')
                                   .with_variant(mysql.DATETIME(fsp=6), 'mysql'), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('custom_migrations') as batch:
        batch.drop_column('review')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('not_before')

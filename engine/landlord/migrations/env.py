"""Alembic environment of the landlord store; run through tenantops.engine.landlord.store."""
from alembic import context

from tenantops.engine.landlord.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()

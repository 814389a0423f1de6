"""Template change of a provisioned tenant (seed 001's "Template Change")."""
from __future__ import annotations

from tenantops.engine.context import Context
from tenantops.engine.errors import ConflictError


def change_template(ctx: Context, slug: str, template: str) -> None:
    """Refused by design (seed 001): a template shapes every table a tenant has."""
    raise ConflictError(f"changing the template of {slug} to {template} after provisioning is not supported: "
                        "provision a new tenant with the new template and migrate its data")

"""Small helpers shared by engine tests: approved applications, tenant connections."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from tenantops.engine.tenants import applications
from tenantops.engine.servers.adapters import adapter_for
from tenantops.engine.context import Context
from tenantops.engine.landlord import models as m

CATALOG = Path(__file__).resolve().parent.parent / "catalog"


def approved(ctx: Context, slug: str, template: str = "political_party_nepal",
             modules: list[str] | None = None) -> None:
    applications.submit(ctx, organization=f"Org {slug}", slug=slug, email=f"admin@{slug}.example.org",
                        template=template, modules=modules or [], contact="Sita Sharma")
    applications.approve(ctx, slug, notes="ok")


def provision_via_cli(slug: str, server: str, template: str = "community_group",
                      modules: list[str] | None = None) -> None:
    """An approved application provisioned through the real CLI on ``server``."""
    from cli import run

    ctx = Context.open()
    approved(ctx, slug, template=template, modules=modules)
    ctx.close()
    r = run("provision", slug, "--server", server)
    assert r.code == 0, r.err


def tenant_engine(ctx: Context, slug: str) -> sa.Engine:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        server = s.get(m.Server, tenant.server_id)
    return adapter_for(server).engine(tenant.database)


def copy_catalog(tmp_path: Path) -> Path:
    target = tmp_path / "catalog"
    shutil.copytree(CATALOG, target, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return target


def use_catalog(config: Path, catalog: Path, **extra: object) -> None:
    lines = [f'catalog_dir = "{catalog}"'] + [f"{k} = {v!r}".replace("'", '"') if isinstance(v, str)
                                              else f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
                                              for k, v in extra.items()]
    config.write_text("\n".join(lines) + "\n")


def switch_operator(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """Act as ``user`` from now on in this process: replaces the engine's one identity
    function (the OS account of the real uid), never USER/LOGNAME/SUDO_USER."""
    from tenantops.engine import identity

    monkeypatch.setattr(identity, "process_operator", lambda service_account="": user)


def execute_sql(slug: str, statements: list[str]) -> None:
    """Change a tenant database with raw SQL, as someone with a SQL client would."""
    ctx = Context.open()
    engine = tenant_engine(ctx, slug)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
    engine.dispose()
    ctx.close()


# a benign custom migration of the membership module's table (declared with touches)
CUSTOM_NICKNAME = '''
"""Add a nickname to members."""
from alembic import op
import sqlalchemy as sa

touches = ["members"]


def upgrade():
    op.add_column("members", sa.Column("nickname", sa.String(64), nullable=True))


def downgrade():
    op.drop_column("members", "nickname")
'''

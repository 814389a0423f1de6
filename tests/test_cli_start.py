"""A monitoring probe's CLI start: parsing imports nothing heavy, a read command opens the
landlord without Alembic, and the head revision known without Alembic is Alembic's."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from tenantops.engine.landlord import store


def _modules_after(*argv: str) -> dict:
    code = ("import json, sys; from tenantops.engine import identity; "
            "identity.process_operator = lambda service_account='': 'alice'\n"
            "from tenantops.console.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps({m: m in sys.modules for m in ('sqlalchemy', 'alembic', 'deepdiff', 'rich', 'cryptography', 'tenantops.engine.catalog.loader', 'packaging.specifiers')}),"
            " file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_the_head_known_without_alembic_is_alembics() -> None:
    store.head_revision.cache_clear()
    assert store.head_revision() == ScriptDirectory(str(store.MIGRATIONS)).get_current_head()


def test_help_imports_neither_sqlalchemy_nor_alembic() -> None:
    loaded = _modules_after("--help")
    assert not loaded["sqlalchemy"] and not loaded["alembic"] and not loaded["deepdiff"]
    loaded = _modules_after("applications", "reject", "--help")
    assert not loaded["sqlalchemy"] and not loaded["alembic"]


def test_a_read_command_on_a_current_store_does_not_import_alembic() -> None:
    assert _modules_after("init")["alembic"]  # creating the store does use Alembic
    loaded = _modules_after("tenants", "list", "--json")
    assert loaded["sqlalchemy"] and not loaded["alembic"] and not loaded["deepdiff"]


def test_provisioning_again_replays_the_stored_plan_without_alembic(server: str) -> None:
    """The second tenant of a unit set is built from the plan compiled for the first, in a
    new process that never imports Alembic (or deepdiff, or cryptography), and comes out
    complete."""
    from cli import run
    from helpers import approved

    from tenantops.engine.context import Context

    ctx = Context.open()
    for slug in ("first-org", "second-org"):
        approved(ctx, slug, template="community_group")
    ctx.close()
    assert run("provision", "first-org", "--server", server).code == 0
    loaded = _modules_after("provision", "second-org", "--server", server)
    assert not loaded["alembic"] and not loaded["deepdiff"]
    assert not loaded["cryptography"]  # PyMySQL loads it only for MySQL's RSA password exchange
    assert not loaded["tenantops.engine.catalog.loader"]  # the catalog the first one read is kept
    assert not loaded["packaging.specifiers"]  # with its constraints' verdicts
    first, second = run("tenants", "show", "first-org", "--json").json(), run("tenants", "show", "second-org",
                                                                               "--json").json()
    assert second["status"] == "active"
    assert second["schema_hash"] == first["schema_hash"]


def test_a_damaged_or_outdated_stored_plan_is_rendered_again(tmp_path) -> None:
    from helpers import copy_catalog

    from tenantops.engine import catalog as catalog_mod
    from tenantops.engine.migrate import plans

    root = copy_catalog(tmp_path)
    cache = tmp_path / "plans"

    def compile_fresh() -> list:
        plans._CACHE.clear()  # a new process: only the files on disk remain
        units = catalog_mod.resolve(catalog_mod.load_catalog(root), "community_group", []).units
        return plans.compiled(units, "sqlite", cache)

    original = compile_fresh()
    (stored,) = cache.glob("*.json")
    assert stored.stat().st_mode & 0o077 == 0  # private, like the rest of the home
    stored.write_text("{ half a file")
    assert compile_fresh() == original
    assert json.loads(stored.read_text())[0]["revision"] == original[0].revision  # rewritten whole

    # a plan another account could have written is not run: it is rendered again
    planted = json.loads(stored.read_text())
    planted[0]["sql"] = ["DROP TABLE tenant_users"]
    stored.write_text(json.dumps(planted))
    stored.chmod(0o666)
    assert compile_fresh() == original
    if os.getuid() == 0:
        stored.write_text(json.dumps(planted))
        stored.chmod(0o600)
        os.chown(stored, 65534, 65534)
        assert compile_fresh() == original

    revision = root / "templates" / "community_group" / "versions" / "cg_0001_projects_notices.py"
    revision.write_text(revision.read_text().replace(
        "def upgrade() -> None:\n", "def upgrade() -> None:\n    op.execute(\"CREATE TABLE cache_probe (id INTEGER)\")\n"))
    edited = compile_fresh()
    assert any("cache_probe" in statement for p in edited for statement in p.sql)
    assert not any("cache_probe" in statement for p in original for statement in p.sql)


class Planted:
    """What a planted pickle would run on loading: it leaves a file behind."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_stored_catalog_is_used_only_when_it_is_ours_and_whole(tmp_path, monkeypatch) -> None:
    from helpers import copy_catalog, use_catalog

    from tenantops.engine.context import Context
    from tenantops.engine.migrate import units

    root = copy_catalog(tmp_path)
    use_catalog(Path(os.environ["TENANTOPS_CONFIG"]), root)
    monkeypatch.setenv("TENANTOPS_CACHE_DIR", str(tmp_path / "cache"))  # this test's files only
    ctx = Context.open()

    def read_fresh():
        units._CATALOGS.clear()  # a new process: only the files on disk remain
        return units.catalog_for(ctx)

    original = read_fresh()
    (stored,) = (ctx.cache_dir / "catalogs").glob("*.pickle")
    assert stored.stat().st_mode & 0o077 == 0
    assert sorted(read_fresh().templates) == sorted(original.templates)

    stored.write_bytes(b"half a pick")
    assert sorted(read_fresh().templates) == sorted(original.templates)

    # a file another account could have written is never unpickled
    marker = tmp_path / "ran"
    stored.write_bytes(pickle.dumps(Planted(str(marker))))
    stored.chmod(0o666)
    assert sorted(read_fresh().templates) == sorted(original.templates)
    assert not marker.exists()
    if os.getuid() == 0:
        stored.write_bytes(pickle.dumps(Planted(str(marker))))
        stored.chmod(0o600)
        os.chown(stored, 65534, 65534)
        read_fresh()
        assert not marker.exists()

    # an edited catalog file is read again, whatever is stored
    manifest = root / "templates" / "community_group" / "template.json"
    manifest.write_text(manifest.read_text().replace('"name": "', '"name": "Edited ', 1))
    assert read_fresh().templates["community_group"].name.startswith("Edited ")
    ctx.close()


def test_the_installed_command_works_with_the_collector_on_and_its_start_up_frozen() -> None:
    """`tenantops` (launch.run, then cli.run) loads its modules with the collector off,
    then freezes what they made: the command's own work (a worker may run for hours)
    collects as usual, and no collection walks the start-up's objects again."""
    code = ("import gc, json, sys; from tenantops.engine import identity; "
            "identity.process_operator = lambda service_account='': 'alice'\n"
            "from tenantops.console import launch\nfrom tenantops.console.commands import tenancy\n"
            "def probe(ctx, args):\n"
            "    print(json.dumps({'enabled': gc.isenabled(), 'frozen': gc.get_freeze_count()}), file=sys.stderr)\n"
            "    return 0\n"
            "tenancy.cmd_tenants_list = probe\nsys.argv[1:] = ['tenants', 'list']\nlaunch.run()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stderr.strip().splitlines()[-1])
    assert seen["enabled"] and seen["frozen"] > 100_000, seen


def test_the_installed_command_starts_without_a_single_collection() -> None:
    """The installed script's entry point turns the collector off before the command's
    modules load (console/launch.py): imported with it on, they ran ~24 collections. And
    `--help`, ended by argparse, leaves its start-up frozen for the interpreter's exit."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="tenantops")
    assert script.value == "tenantops.console.launch:run"
    code = ("import gc, sys, atexit\n"
            f"from {script.module} import {script.attr}\n"  # what the script imports first; tiny
            "started = []\n"
            "gc.callbacks.append(lambda phase, info: started.append(info['generation']) if phase == 'start' else None)\n"
            # atexit runs before the interpreter's own last collection: frozen, it walks nothing
            "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 10_000, 'collections', len(started),"
            " file=sys.stderr))\n"
            "sys.argv[1:] = ['--help']\n"
            f"sys.exit({script.attr}())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: tenantops" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "frozen True collections 0"


def test_main_called_in_process_leaves_the_collector_alone(monkeypatch) -> None:
    import gc

    from tenantops.console import cli
    from tenantops.console.commands import tenancy

    seen: list[tuple[bool, int]] = []
    monkeypatch.setattr(tenancy, "cmd_tenants_list", lambda ctx, args: seen.append((gc.isenabled(), gc.get_freeze_count())))
    frozen = gc.get_freeze_count()
    assert cli.main(["tenants", "list"]) == 0
    assert seen == [(True, frozen)]

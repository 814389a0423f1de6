"""A monitoring probe's CLI start: parsing imports nothing heavy, a read command opens the
landlord without Alembic, and the head revision known without Alembic is Alembic's."""
from __future__ import annotations

import json
import subprocess
import sys

from alembic.script import ScriptDirectory

from tenantops.engine.landlord import store


def _modules_after(*argv: str) -> dict:
    code = ("import json, sys; from tenantops.engine import identity; "
            "identity.process_operator = lambda service_account='': 'alice'\n"
            "from tenantops.console.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(json.dumps({m: m in sys.modules for m in ('sqlalchemy', 'alembic', 'deepdiff', 'rich')}),"
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

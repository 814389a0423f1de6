"""The engine never imports the console or UI libraries."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = ("textual", "rich", "tenantops.console")


def test_no_engine_module_imports_ui_code() -> None:
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom) and node.level and node.module and node.module.startswith("console"):
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno} imports {name}")
    assert offenders == []


def test_import_linter_contract_holds() -> None:
    """lint-imports checks the same contract through the real import graph."""
    result = subprocess.run(["lint-imports", "--no-cache"], cwd=ENGINE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

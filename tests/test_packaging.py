"""The wheel ships every package: the list is derived from the folders (setup.py), and
this pins that derivation against the tree. CI also installs the built wheel into a fresh
venv and runs every command's --help from it (.ci/wheel-check)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_module():
    spec = importlib.util.spec_from_file_location("tenantops_setup", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)  # guarded: setup() runs only as __main__
    return module


def test_every_package_folder_is_in_the_wheel() -> None:
    packages, package_dir = _setup_module()._packages()
    for top in ("engine", "console", "catalog", "themes"):
        assert package_dir[f"tenantops.{top}"] == top
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            name = ".".join(["tenantops", *init.parent.relative_to(ROOT).parts])
            assert name in packages, f"{name} would be missing from the wheel"


def test_no_hand_kept_package_list_in_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "[tool.setuptools]\npackages" not in pyproject and "\npackages = [" not in pyproject

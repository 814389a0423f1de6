"""Modules loaded on first use, so `tenantops --help` and a read command do not pay for
SQLAlchemy, Alembic and deepdiff before argparse has even run.

The standard library's ``importlib.util.LazyLoader`` does the work (the recipe in the
importlib docs); command modules bind engine modules through ``lazy()`` at run time and
import them for real under ``TYPE_CHECKING``, so the type checker still sees every call.
"""
from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module

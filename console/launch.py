"""The installed `tenantops` command's entry point.

It only turns the collector off before anything else is imported: the start-up's imports
(SQLAlchemy, rich, the command modules) make ~300,000 objects that live until exit, and
imported with the collector on, as `console/cli.py` itself would be, they ran ~24
collections, 3-5 ms of every command (bench/bench_cli.py). `cli.run` does the rest: the
collector comes back on, with the start-up frozen, once the command's modules are loaded.
"""
from __future__ import annotations

import gc

# not `typing`: imported here it would load with the collector still on
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def run() -> NoReturn:
    gc.disable()
    from tenantops.console.cli import run as run_command

    run_command()

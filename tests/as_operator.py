"""Run a tenantops module in a subprocess as a given operator, for tests:

    python tests/as_operator.py alice -m tenantops.console applications submit ...

The identity switch is the same as the ``as_operator`` fixture's (the engine's identity
function is replaced in this process), not an environment variable.
"""
from __future__ import annotations

import runpy
import sys


def main() -> None:
    user, flag, module, *rest = sys.argv[1:]
    assert flag == "-m", "usage: as_operator.py USER -m MODULE [ARGS...]"
    from tenantops.engine import identity

    identity.process_operator = lambda service_account="": user  # type: ignore[assignment]
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

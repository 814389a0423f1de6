"""Shared set-up for benchmarks: a private MariaDB, an isolated tenantops home, stats."""
from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mariadb import MariaDB, start_mariadb  # noqa: E402


@contextmanager
def isolated_home():
    """A throwaway TENANTOPS_HOME, config and plaintext keyring file (benchmarks only)."""
    with tempfile.TemporaryDirectory(prefix="tenantops-bench-") as tmp:
        env = {"TENANTOPS_HOME": f"{tmp}/home", "TENANTOPS_CONFIG": f"{tmp}/config.toml",
               "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring", "XDG_DATA_HOME": f"{tmp}/xdg"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield Path(tmp)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@contextmanager
def mariadb_servers(count: int = 1):
    servers = [start_mariadb(prefix="tenantops-bench-") for _ in range(count)]
    try:
        yield servers
    finally:
        for s in servers:
            s.cleanup()


def compile_bytecode() -> None:
    """Byte-compile the checkout, as pip does when it installs the wheel: with an editable
    install and PYTHONDONTWRITEBYTECODE (set on this machine) every process would compile
    ~100 modules from source again, which no installed copy does."""
    import compileall

    for folder in ("engine", "console", "catalog"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def tenantops_exe() -> str:
    """The `tenantops` script pip installed for this interpreter. Found beside it first:
    on PATH it may be a version manager's shim (pyenv's is a bash script that starts
    pyenv), whose start-up would be timed as if it were ours."""
    beside = Path(sys.executable).parent / "tenantops"
    found = str(beside) if beside.is_file() else shutil.which("tenantops")
    return found or sys.exit("tenantops is not installed (pip install -e .)")


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def machine() -> str:
    return f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {platform.machine()}"


def ratio_line(name: str, ours: float, other: float, target: str) -> str:
    return f"{name:<44} {ours * 1000:9.1f} ms vs {other * 1000:9.1f} ms  ratio {ours / other:5.2f}x  (target {target})"


__all__ = ["MariaDB", "compile_bytecode", "isolated_home", "mariadb_servers", "median", "p95", "machine", "ratio_line", "ROOT"]

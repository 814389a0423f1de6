"""Benchmark 5: what a monitoring probe pays to start the CLI, as CPU time of the whole
process (user + system, from the kernel's child accounting), side by side in one run:

* ``tenantops --help`` against ``python -c "import argparse, json"`` (target <= 5x);
* ``tenantops tenants list --json`` on the embedded store against
  ``python -c "import sqlalchemy"`` (target <= 2.5x).

Runs interleave ours and the floor so load on the machine hits both alike.

    python bench/bench_cli.py [--runs 15]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys

from common import tenantops_exe, compile_bytecode, isolated_home, machine, median, ratio_line


def cpu_of(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    compile_bytecode()
    exe = tenantops_exe()
    py = sys.executable
    print(f"# bench_cli on {machine()}, {args.runs} runs each, CPU seconds per process (median)")
    with isolated_home():
        subprocess.run([exe, "init"], check=True, stdout=subprocess.DEVNULL, env=os.environ)
        pairs = {
            "--help": ([exe, "--help"], [py, "-c", "import argparse, json"], "<= 5x"),
            "tenants list --json": ([exe, "tenants", "list", "--json"], [py, "-c", "import sqlalchemy"], "<= 2.5x"),
        }
        for name, (ours_cmd, floor_cmd, target) in pairs.items():
            ours, floor = [], []
            for _ in range(args.runs):
                ours.append(cpu_of(ours_cmd))
                floor.append(cpu_of(floor_cmd))
            print(f"{name}: ours {median(ours) * 1000:.0f} ms, floor {median(floor) * 1000:.0f} ms")
            print(ratio_line(f"tenantops {name} vs floor", median(ours), median(floor), target))


if __name__ == "__main__":
    main()

"""Benchmark 1: provisioning one tenant (basic + political_party_nepal + its 2 required
modules) on a private MariaDB, against

* the floor: the same statements (the engine's own SQL preview) sent raw through one
  connection, with CREATE DATABASE;
* the peer a user would script today: a loop running the `alembic` command line once per
  tenant (`alembic upgrade heads` over the same revision files).

All three run in the same process run on the same server. Prints medians and ratios.

Then what a user waits for: `tenantops provision SLUG` end to end as a process (its wall
time minus the wall time of a read command, `tenantops tenants list --json`, so interpreter
start and opening the landlord count once) against the raw-DDL floor a DBA would type: the
tenant's final schema (`mariadb-dump --no-data` of a provisioned tenant) replayed by the
`mariadb` client, with CREATE DATABASE. Target <= 5x.

    python bench/bench_provision.py [--runs 15]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import tenantops_exe, compile_bytecode, isolated_home, machine, mariadb_servers, median, ratio_line

TEMPLATE, MODULES = "political_party_nepal", []  # its required modules: membership_management, financial_tracking
MIGRATION_STEPS = ("create database",)

ENV_PY = '''
from alembic import context
from sqlalchemy import create_engine, pool
url = context.get_x_argument(as_dictionary=True)["url"]
engine = create_engine(url, poolclass=pool.NullPool, connect_args={"ssl_disabled": True})
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--peer-runs", type=int, default=5)
    # each process's wall time moves by +-20% on a shared 2-core machine: a median of the
    # difference of two such processes needs a few dozen pairs to settle
    parser.add_argument("--cli-runs", type=int, default=31)
    args = parser.parse_args()
    compile_bytecode()

    with isolated_home(), mariadb_servers(1) as (db,):
        import sqlalchemy as sa

        from tenantops.engine.migrate import plans
        from tenantops.engine.migrate.units import catalog_for
        from tenantops.engine.tenants import applications
        from tenantops.engine.jobs import queue as jobs
        from tenantops.engine.tenants import provision as provisioner
        from tenantops.engine.servers import registry as servers
        from tenantops.engine.catalog import resolve
        from tenantops.engine.context import Context
        from tenantops.engine.jobs.worker import work

        ctx = Context.open()
        servers.add_server(ctx, name="db1", url=db.url, password=db.admin_password)
        catalog = catalog_for(ctx)
        units = resolve(catalog, TEMPLATE, MODULES).units
        planned = plans.compiled(units, "mysql")
        statements = [s for p in planned for s in (*p.sql, *p.version_sql)]
        admin = sa.create_engine(sa.URL.create("mysql+pymysql", username=db.admin_user, password=db.admin_password,
                                               host="127.0.0.1", port=db.port), connect_args={"ssl_disabled": True})

        migration, full, floor = [], [], []
        for i in range(args.runs):
            # floor and engine interleaved, so background load hits both alike
            name = f"floor_{i:03d}"
            started = time.perf_counter()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                conn.exec_driver_sql(f"USE {name}")
                for statement in statements:
                    conn.exec_driver_sql(statement.replace("%", "%%"))
                conn.commit()
            floor.append(time.perf_counter() - started)

            slug = f"bench-{i:03d}"
            applications.submit(ctx, organization=slug, slug=slug, email=f"a@{slug}.example.org", template=TEMPLATE,
                                modules=MODULES, contact="Bench Mark")
            applications.approve(ctx, slug)
            started = time.perf_counter()
            job_id = provisioner.request_provision(ctx, slug=slug, server="db1").job
            work(ctx, job_id=job_id)
            full.append(time.perf_counter() - started)
            doc = jobs.get_job(ctx, job_id)
            assert doc["status"] == "succeeded", doc["error"]
            # the migration phase measured inside the pipeline: create database + every layer,
            # including the engine's history and timeline writes
            migration.append(sum(s["duration_s"] for s in doc["steps"] if not s["name"].startswith("  ")
                                 and (s["name"] in MIGRATION_STEPS or s["name"].split()[0] in
                                      ("basic", "template", "module"))))

        peer = []
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "env"
            script.mkdir()
            (script / "env.py").write_text(ENV_PY)
            (script / "script.py.mako").write_text("")
            ini = Path(tmp) / "alembic.ini"
            locations = " ".join(str(u.versions_dir) for u in units)
            ini.write_text(f"[alembic]\nscript_location = {script}\nversion_locations = {locations}\n"
                           "path_separator = space\n")
            for i in range(args.peer_runs):
                name = f"peer_{i:03d}"
                started = time.perf_counter()
                with admin.connect() as conn:
                    conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                url = f"mysql+pymysql://{db.admin_user}:{db.admin_password}@127.0.0.1:{db.port}/{name}"
                subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}",
                                "upgrade", "heads"], check=True, capture_output=True)
                peer.append(time.perf_counter() - started)
        cli, read, ddl, steps = cli_end_to_end(ctx, db, args.cli_runs)
        ctx.close()

    print(f"# bench_provision — {machine()}")
    print(f"# {len(units)} units, {len(planned)} revisions, {len(statements)} statements; MariaDB on tmpfs")
    print(ratio_line("migration phase (engine) vs raw-DDL floor", median(migration), median(floor), "<= 1.3x"))
    print(ratio_line("full provisioning pipeline vs raw-DDL floor", median(full), median(floor), "informational"))
    print(ratio_line("alembic CLI loop (peer) vs full pipeline", median(peer), median(full), ">= 3x"))
    print(ratio_line("provision end to end (CLI wall - read command) vs raw-DDL floor (mariadb client)",
                     median(cli) - median(read), median(ddl), "<= 5x"))
    pairs = sorted(c - r for c, r in zip(cli, read))
    quartiles = statistics.quantiles(pairs, n=4) if len(pairs) > 1 else pairs * 3
    print(f"spread: the {len(pairs)} runs' own differences (provision - the read right after it) "
          f"p25 {quartiles[0] * 1000:.1f} · median {quartiles[1] * 1000:.1f} · p75 {quartiles[2] * 1000:.1f} ms; "
          f"read command alone p25-p75 {statistics.quantiles(read, n=4)[0] * 1000:.0f}-"
          f"{statistics.quantiles(read, n=4)[2] * 1000:.0f} ms" if len(read) > 1 else "")
    # the difference of two medians of ~0.5 s processes swings by tens of ms between runs
    # of the same code; the median of each pair's own difference is the steadier estimate
    print(ratio_line("  the same on the median of the pairs' own differences", quartiles[1], median(ddl), "<= 5x"))
    print(f"medians: CLI provision {median(cli) * 1000:.1f} ms · read command {median(read) * 1000:.1f} ms · "
          f"final schema through the mariadb client {median(ddl) * 1000:.1f} ms")
    # where the CLI's extra time goes: the job's own steps (its timeline), the rest is the
    # process (imports beyond a read command's, opening the server, the CLI's bookkeeping)
    names = list(steps[0])
    per_step = {n: median([run[n] for run in steps]) for n in names}
    in_steps = median([sum(run.values()) for run in steps])
    print(f"breakdown (medians): job steps {in_steps * 1000:.1f} ms, the rest of the process "
          f"{(median(cli) - median(read) - in_steps) * 1000:.1f} ms; steps: "
          + ", ".join(f"{n} {v * 1000:.1f}" for n, v in per_step.items() if v >= 0.001))
    print(f"medians: floor {median(floor) * 1000:.1f} ms · migration phase {median(migration) * 1000:.1f} ms · "
          f"full pipeline {median(full) * 1000:.1f} ms · alembic CLI {median(peer) * 1000:.1f} ms")


def cli_end_to_end(ctx, db, runs: int) -> tuple[list[float], list[float], list[float], list[dict[str, float]]]:
    """Wall times: `tenantops provision` as a process, a read command, the floor, and the
    provisioning job's top-level step durations."""
    from tenantops.engine.jobs import queue as jobs
    from tenantops.engine.tenants import applications
    from tenantops.engine.tenants import records as tenants

    exe = tenantops_exe()
    client = shutil.which("mariadb") or shutil.which("mysql") or sys.exit("the mariadb client is not installed")
    dumper = shutil.which("mariadb-dump") or shutil.which("mysqldump") or sys.exit("mariadb-dump is not installed")
    cli, read, ddl, steps = [], [], [], []
    schema = None
    for i in range(runs):
        slug = f"cli-{i:03d}"
        applications.submit(ctx, organization=slug, slug=slug, email=f"a@{slug}.example.org", template=TEMPLATE,
                            modules=MODULES, contact="Bench Mark")
        applications.approve(ctx, slug)
        started = time.perf_counter()
        subprocess.run([exe, "provision", slug, "--server", "db1"], check=True, capture_output=True)
        cli.append(time.perf_counter() - started)
        job = max(j["id"] for j in jobs.list_jobs(ctx, tenant=slug))
        steps.append({st["name"]: st["duration_s"] or 0.0 for st in jobs.get_job(ctx, job)["steps"]
                      if not st["name"].startswith(" ")})
        started = time.perf_counter()
        subprocess.run([exe, "tenants", "list", "--json"], check=True, capture_output=True)
        read.append(time.perf_counter() - started)
        if schema is None:  # the tenant's final schema, as the server itself prints it
            database = tenants.show(ctx, slug)["database"]
            schema = subprocess.run([dumper, f"--socket={db.socket}", "-uroot", "--no-data", "--skip-comments",
                                     "--skip-add-drop-table", database],
                                    check=True, capture_output=True, text=True).stdout
        name = f"ddl_{i:03d}"
        started = time.perf_counter()
        subprocess.run([client, f"--socket={db.socket}", "-uroot"], check=True, capture_output=True, text=True,
                       input=f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
                             f"USE {name};\n{schema}")
        ddl.append(time.perf_counter() - started)
    return cli, read, ddl, steps


if __name__ == "__main__":
    main()

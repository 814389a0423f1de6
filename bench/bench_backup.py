"""Benchmark: streaming backup and restore of a large tenant on a private MariaDB.

A tenant (community_group) gets a `bench_payload` table filled to ``--mb`` megabytes of
table data (incompressible-ish hex text, so the gzip dump is not trivially small); then a
backup (`mariadb-dump` piped through gzip into the file) and a restore (the file streamed
into a staging database, checked, swapped in) each run in a fresh Python process whose
peak RSS is measured, together with the peak RSS of the client tool it drives. Memory
must stay flat whatever the tenant size: the figures to read are the peak RSS / data
size ratios, and that the peaks do not grow between a small and a large ``--mb``. The
client tool's figure is the largest child of that process (RUSAGE_CHILDREN), which
counts the forked copy of the Python process before ``exec``: an upper bound.

    python bench/bench_backup.py [--mb 200]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

from common import isolated_home, machine, mariadb_servers

SLUG = "bench-backup"
CHILD = textwrap.dedent('''
    import json, resource, sys, time
    from tenantops.engine.context import Context
    from tenantops.engine.tenants import backups
    ctx = Context.open()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if sys.argv[1] == "backup":
        doc = backups.take_backup(ctx, sys.argv[2], "bench")
        out = {"backup": doc["id"], "size_bytes": doc["size_bytes"]}
    else:
        doc, kept = backups.restore_into(ctx, sys.argv[2], int(sys.argv[3]))
        out = {"kept": kept}
    out["seconds"] = time.perf_counter() - started
    out["rss_before_kib"] = base
    out["rss_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["tool_peak_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps(out))
''')


def _child(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=os.environ)
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200, help="table data of the tenant, in MB (default 200)")
    args = parser.parse_args()

    with isolated_home(), mariadb_servers(1) as (db,):
        import sqlalchemy as sa

        from tenantops.engine.context import Context
        from tenantops.engine.jobs import worker
        from tenantops.engine.servers import registry as servers
        from tenantops.engine.tenants import applications
        from tenantops.engine.tenants import provision as provisioner

        ctx = Context.open()
        servers.add_server(ctx, name="db1", url=db.url, password=db.admin_password)
        applications.submit(ctx, organization="Bench", slug=SLUG, email="admin@example.org",
                            template="community_group", modules=[])
        applications.approve(ctx, SLUG)
        job = provisioner.request_provision(ctx, slug=SLUG, server="db1").job
        worker.work(ctx, job_id=job)
        ctx.close()
        database = "tenant_bench_backup"

        started = time.perf_counter()
        row = 2048   # bytes of hex text per row
        rows = args.mb * 1024 * 1024 // row
        db.execute("CREATE TABLE bench_payload (id INT PRIMARY KEY, payload VARCHAR(2100) NOT NULL) "
                   "ENGINE=InnoDB", database=database)
        conn = db.root(database)
        with conn.cursor() as cur:
            batch = 500
            for start in range(0, rows, batch):
                values = [(i, os.urandom(row // 2).hex()) for i in range(start, min(rows, start + batch))]
                cur.executemany("INSERT INTO bench_payload VALUES (%s, %s)", values)
        conn.close()
        db.execute("ANALYZE TABLE bench_payload", database=database)   # fresh DATA_LENGTH
        [(data_bytes,)] = db.execute(
            f"SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}'")
        data_bytes = int(data_bytes)
        payload = rows * row
        setup = time.perf_counter() - started

        backup = _child("backup", SLUG)
        restore = _child("restore", SLUG, str(backup["backup"]))
        [(count,)] = db.execute("SELECT COUNT(*) FROM bench_payload", database=database)
        assert count == rows, f"restored {count} rows of {rows}"

    mib = 1024 * 1024
    print(f"# {machine()}; MariaDB on tmpfs; --mb {args.mb}: {rows} rows x {row} B = {payload / mib:.0f} MiB "
          f"of payload, {data_bytes / mib:.0f} MiB on disk (InnoDB); setup {setup:.0f} s")
    print(f"backup file (gzip)                {backup['size_bytes'] / mib:8.1f} MiB")
    for name, r in (("backup ", backup), ("restore", restore)):
        peak, tool = r["rss_peak_kib"] * 1024, r["tool_peak_kib"] * 1024
        print(f"{name}  {r['seconds']:7.1f} s  {payload / mib / r['seconds']:6.1f} MiB/s of payload  "
              f"python peak RSS {peak / mib:6.1f} MiB (at start {r['rss_before_kib'] / 1024:5.1f} MiB, "
              f"{peak / payload:.3f}x the data)  client tool peak RSS {tool / mib:6.1f} MiB ({tool / payload:.3f}x)")


if __name__ == "__main__":
    main()

"""Benchmark 3: provisioning N approved applications (default 100; basic +
community_group + event_management) with 1, 2 and 4 worker processes on one private
MariaDB, landlord on the embedded SQLite default. Prints tenants per minute and the
speed-up over one worker, measured in the same run.

    python bench/bench_throughput.py [--tenants 100] [--workers 1,2,4]
"""
from __future__ import annotations

import argparse
import time

from common import isolated_home, machine, mariadb_servers


def run_config(db, tenants: int, workers: int) -> float:
    with isolated_home():
        from tenantops.engine.tenants import applications
        from tenantops.engine.jobs import queue as jobs
        from tenantops.engine.tenants import provision as provisioner
        from tenantops.engine.servers import registry as servers
        from tenantops.engine.jobs import worker
        from tenantops.engine.context import Context

        ctx = Context.open()
        servers.add_server(ctx, name="db1", url=db.url, password=db.admin_password, capacity=100_000)
        job_ids = []
        for i in range(tenants):
            slug = f"w{workers}-{i:04d}"
            applications.submit(ctx, organization=slug, slug=slug, email=f"a@{slug}.example.org",
                                template="community_group", modules=[], contact="Bench Mark")
            applications.approve(ctx, slug)
            job_ids.append(provisioner.request_provision(ctx, slug=slug, server="db1").job)
        started = time.perf_counter()
        procs = [worker.spawn(ctx, once=True) for _ in range(workers)]
        for p in procs:
            p.wait()
        elapsed = time.perf_counter() - started
        statuses = {jobs.get_job(ctx, j)["status"] for j in job_ids}
        failed = [jobs.get_job(ctx, j)["error"] for j in job_ids if jobs.get_job(ctx, j)["status"] != "succeeded"]
        assert not failed, failed[:3]
        ctx.close()
        db.execute(*[f"DROP DATABASE `{r[0]}`" for r in db.execute("SHOW DATABASES LIKE 'tenant\\_%'")])
        users = [r[0] for r in db.execute("SELECT User FROM mysql.user WHERE User LIKE 'tu\\_%'")]
        if users:
            db.execute(*[f"DROP USER `{u}`@'%'" for u in users])
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    with mariadb_servers(1) as (db,):
        results = {w: run_config(db, args.tenants, w) for w in counts}
    base = results[counts[0]]
    print(f"# bench_throughput — {machine()}")
    print(f"# {args.tenants} tenants per run (community_group), one MariaDB on tmpfs, SQLite landlord")
    for w, elapsed in results.items():
        per_minute = args.tenants / elapsed * 60
        print(f"{w} worker(s): {elapsed:6.1f} s  {per_minute:7.0f} tenants/min  speed-up {base / elapsed:4.2f}x "
              f"vs {counts[0]} worker")


if __name__ == "__main__":
    main()

"""Benchmark 2: `drift --all` over N tenants (default 2,000) on a private MariaDB, full
(`--full`: every tenant captured, fingerprints recorded from the capture's own reads) and
incremental (the default: quick fingerprints from a narrow TABLES read plus the small
trigger/routine/event reads, only changed tenants captured; here the 1% that drifted change
again between runs, moments before the scan), against

* the floor: the bulk information_schema reads alone (the same queries the engine sends,
  rows fetched, nothing else);
* the peer a user would script today: SQLAlchemy Inspector reflection per tenant plus
  DeepDiff against the expected reflection.

Tenants are created by replaying the engine's compiled plan (community_group: basic +
template + event_management) and registered in the landlord; 1% get an extra index.

    python bench/bench_drift.py [--tenants 2000] [--peer-sample 100]

Targets (issue 21): incremental <= 0.3x the floor, full <= 2x the floor, the peer >= 30x
slower than the incremental scan.
"""
from __future__ import annotations

import argparse
import os
import time

from common import isolated_home, machine, mariadb_servers, median, ratio_line

TEMPLATE = "community_group"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--peer-sample", type=int, default=100,
                        help="tenants reflected by the peer; its time is scaled to --tenants")
    args = parser.parse_args()
    load = os.getloadavg()

    with isolated_home(), mariadb_servers(1) as (db,):
        import sqlalchemy as sa
        from deepdiff import DeepDiff

        from tenantops.engine.migrate.units import catalog_for
        from tenantops.engine.health import drift
        from tenantops.engine.migrate import plans
        from tenantops.engine.tenants import provision as provisioner
        from tenantops.engine.servers import registry as servers
        from tenantops.engine.catalog import resolve
        from tenantops.engine.context import Context
        from tenantops.engine.landlord import models as m
        from tenantops.engine.schema import capture as cap

        ctx = Context.open()
        servers.add_server(ctx, name="db1", url=db.url, password=db.admin_password, capacity=100_000)
        resolution = resolve(catalog_for(ctx), TEMPLATE, [])
        planned = plans.compiled(resolution.units, "mysql")
        admin = sa.create_engine(sa.URL.create("mysql+pymysql", username=db.admin_user, password=db.admin_password,
                                               host="127.0.0.1", port=db.port), connect_args={"ssl_disabled": True})
        names = [f"tenant_bench_{i:05d}" for i in range(args.tenants)]
        started = time.perf_counter()
        with admin.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            # every information_schema scan opens each table's definition: with more tables
            # than the definition cache holds, every scan (the floor's and the engine's alike)
            # rereads them all; production servers with thousands of tenants need it sized too
            tables = args.tenants * 16
            conn.exec_driver_sql(f"SET GLOBAL table_definition_cache = {max(20000, min(tables, 2097152))}")
            conn.exec_driver_sql(f"SET GLOBAL table_open_cache = {max(20000, min(tables, 1048576))}")
            for i, name in enumerate(names):
                conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                conn.exec_driver_sql(f"USE {name}")
                for p in planned:
                    for statement in (*p.sql, *p.version_sql):
                        conn.exec_driver_sql(statement.replace("%", "%%"))
                if i % 100 == 7:
                    conn.exec_driver_sql("CREATE INDEX ix_bench_title ON notices (title)")
        with ctx.session() as s:
            server_id = s.scalar(sa.select(m.Server.id).where(m.Server.name == "db1"))
            for i, name in enumerate(names):
                t = m.Tenant(slug=f"bench-{i:05d}", organization=f"Bench {i}", server_id=server_id, database=name,
                             status="active", template=TEMPLATE, template_version="1")
                t.modules = [m.TenantModule(module=u.slug, version=str(u.version), position=k)
                             for k, u in enumerate(resolution.units) if u.kind == "module"]
                s.add(t)
        setup = time.perf_counter() - started

        # ours (the real fleet scan: reports stored, clusters computed) and the floor (the
        # same bulk information_schema queries, rows fetched, nothing else), interleaved
        # three times so neither gets the server's warm caches alone
        params = {"schemas": names}
        drifting = [name for i, name in enumerate(names) if i % 100 == 7]
        ours_runs, floor_runs, inc_runs = [], [], []
        result = drift.check_all(ctx, full=True)  # fingerprints recorded once before timing
        for run_no in range(3):
            started = time.perf_counter()
            with admin.connect() as conn:
                # the reads the engine sends for these tenants (no routines: no parameters
                # read; nothing partitioned: no partitions read)
                for query in (cap._Q_SCHEMATA, cap._Q_TABLES, cap._Q_COLUMNS, cap._Q_STATISTICS["mariadb"],
                              cap._Q_FOREIGN_KEYS, cap._Q_FK_RULES, cap._Q_VIEWS, cap._Q_TRIGGERS, cap._Q_CHECKS,
                              cap._Q_ROUTINES, cap._Q_EVENTS):
                    conn.execute(query, params).fetchall()
            floor_runs.append(time.perf_counter() - started)
            started = time.perf_counter()
            result = drift.check_all(ctx, full=True)
            ours_runs.append(time.perf_counter() - started)
            # the drifting 1% change again, so the incremental scan has real work each run
            with admin.connect() as conn:
                for name in drifting:
                    conn.exec_driver_sql(f"ALTER TABLE {name}.notices COMMENT = 'run {run_no}'")
            started = time.perf_counter()
            inc_result = drift.check_all(ctx)
            inc_runs.append(time.perf_counter() - started)
        ours, floor, inc = median(ours_runs), median(floor_runs), median(inc_runs)
        drifted = sum(1 for r in result["reports"] if r["severity"] != "none")
        assert drifted == len(drifting), drifted
        recaptured = sum(1 for r in inc_result["reports"] if r["captured"])
        assert recaptured == len(drifting), recaptured

        # peer: Inspector reflection per tenant + DeepDiff against the expected reflection
        def reflect(conn, schema):
            insp = sa.inspect(conn)
            out = {}
            for table in insp.get_table_names(schema=schema):
                out[table] = {"columns": [{k: str(v) for k, v in c.items()} for c in insp.get_columns(table, schema=schema)],
                              "pk": insp.get_pk_constraint(table, schema=schema),
                              "indexes": insp.get_indexes(table, schema=schema),
                              "fks": insp.get_foreign_keys(table, schema=schema)}
            return out

        sample = names[: args.peer_sample]
        started = time.perf_counter()
        with admin.connect() as conn:
            reference = reflect(conn, names[0])
            for name in sample:
                DeepDiff(reference, reflect(conn, name), ignore_order=False)
        peer = (time.perf_counter() - started) * args.tenants / len(sample)
        ctx.close()

    print(f"# bench_drift — {machine()}; load average {' '.join(f'{x:.2f}' for x in load)} at the start, "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end (machine shared)")
    print(f"# {args.tenants} tenants x {len(planned)} revisions ({TEMPLATE}); setup {setup:.1f} s; "
          f"{drifted} drifted; incremental recaptured {recaptured}; peer timed on {len(sample)} tenants and scaled")
    print(ratio_line("drift --all (incremental) vs bulk-read floor", inc, floor, "<= 0.3x"))
    print(ratio_line("drift --all --full vs bulk-read floor", ours, floor, "<= 2x"))
    print(ratio_line("Inspector+DeepDiff (peer) vs incremental", peer, inc, ">= 30x"))
    print(ratio_line("Inspector+DeepDiff (peer) vs --full", peer, ours, ">= 10x"))
    print(f"medians of 3: floor {floor:.2f} s · full {ours:.2f} s (first, cold: {ours_runs[0]:.2f} s) · "
          f"incremental {inc:.2f} s · peer {peer:.2f} s (est.) · "
          f"{len(result['clusters'])} clusters")


if __name__ == "__main__":
    main()

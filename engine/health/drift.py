"""Drift: the tenant's actual schema against the schema its own migrations produce.

The expectation is never "the last snapshot": the tenant's exact applied revision set is
replayed into a shadow database on the same kind of server (a scratch database on that
server for MariaDB/MySQL, a temp file for SQLite), captured after each unit so every
expected object knows which unit created it, cached by the set's hash, and dropped.
"""
from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tenantops.engine.migrate.shadow import Shadow, schema_name
from tenantops.engine.migrate import plans
from tenantops.engine.servers.adapters import Adapter, MysqlAdapter, ServerUnreachable, adapter_for, short_error
from tenantops.engine.catalog import Unit
from tenantops.engine.context import Context, mutating
from tenantops.engine.errors import NotFoundError, ServerError, StateError, TenantopsError, ValidationError
from tenantops.engine.landlord import models as m
from tenantops.engine.landlord.models import utcnow
from tenantops.engine.migrate.driver import applied_from_heads, applied_revisions, revision_checksum
from tenantops.engine.schema.canonical import schema_hash
from tenantops.engine.schema.capture import CAPTURE_FORMAT, capture, capture_mysql
from tenantops.engine.schema.diff import IgnoreRules, attribute_owners, diff_schemas, severity
from tenantops.engine.migrate.units import units_for
from tenantops.engine.timestamps import iso, parse as parse_time

LEVELS = ("none", "low", "medium", "high", "critical")


# -- expected schema ---------------------------------------------------------------------


def _set_key(units: list[Unit], applied: list[str], dialect: str) -> str:
    done = set(applied)
    # CAPTURE_FORMAT: an expectation cached by an older capture lacks what it now records
    parts = [dialect, f"capture:{CAPTURE_FORMAT}"] + [f"{u.slug}:{r}:{revision_checksum(u.revision_path(r))}"
                         for u in units for r in u.revisions if r in done]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _cache_path(ctx: Context, key: str) -> Path:
    return ctx.cache_dir / "expected" / f"{key}.json"


_MEMO: dict[str, tuple[dict, dict]] = {}


_SET_KEYS: dict[tuple, tuple[list[Unit], str]] = {}


def _set_key_of(units: list[Unit], applied: list[str], family: str) -> str:
    """_set_key, once per unit set in a process: a fleet scan asks for each tenant, and
    each answer checksums every revision file. The units are kept with the answer so
    that their ids, the memo's key, are never reused by other objects."""
    memo = (tuple(id(u) for u in units), tuple(applied), family)
    if memo not in _SET_KEYS:
        if len(_SET_KEYS) >= 4096:  # custom units are new objects per lookup: a long-lived console
            _SET_KEYS.clear()
        _SET_KEYS[memo] = (list(units), _set_key(units, applied, family))
    return _SET_KEYS[memo][1]


def expected_schema(ctx: Context, adapter: Adapter, units: list[Unit], applied: list[str]) -> tuple[dict, dict]:
    """(expected canonical schema, owners) for exactly these applied revisions."""
    family = "sqlite" if adapter.dialect == "sqlite" else "mysql"
    key = _set_key_of(units, applied, family)
    if key in _MEMO:
        return _MEMO[key]
    cached = _cache_path(ctx, key)
    if cached.exists():
        data = json.loads(cached.read_text())
        _MEMO[key] = data["schema"], {tuple(k): v for k, v in data["owners"]}
        return _MEMO[key]
    done = set(applied)
    planned = [p for p in plans.compiled(units, family, plans.cache_dir(ctx)) if p.revision in done]
    captures: list[tuple[str, dict]] = []
    with Shadow(adapter, key) as engine:
        with engine.connect() as conn:
            for unit in units:
                mine = [p for p in planned if p.unit == unit.slug]
                if not mine:
                    continue
                plans.replay(conn, mine)
                captures.append((unit.slug, capture(conn, schema_name(conn))))
    schema = captures[-1][1] if captures else {"tables": {}, "views": {}, "triggers": {}}
    owners = attribute_owners(captures)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps({"schema": schema, "owners": [[list(k), v] for k, v in owners.items()]}))
    tmp.replace(cached)
    _MEMO[key] = schema, owners
    return schema, owners


# -- checking ------------------------------------------------------------------------------


def _ignore(ctx: Context) -> IgnoreRules:
    rules = ctx.settings.drift_ignore
    return IgnoreRules(tables=tuple(rules.tables), columns=tuple(rules.columns), attributes=tuple(rules.attributes))


def _accepted(s, tenant_id: int | None = None) -> Any:
    """Live acceptances of one tenant (a list), or of every tenant ({tenant_id: list})."""
    query = sa.select(m.DriftAcceptance).where(m.DriftAcceptance.expires_at > utcnow())
    if tenant_id is not None:
        query = query.where(m.DriftAcceptance.tenant_id == tenant_id)
    by_tenant: dict[int, list[dict[str, Any]]] = {}
    for a in s.scalars(query):
        # "" is how a table-less object (routine, event) is stored: the column is NOT NULL
        rule = {"object": a.object, "change": a.change, "table": a.table or None, "name": a.name}
        if a.attribute:
            rule["attribute"] = a.attribute
        by_tenant.setdefault(a.tenant_id, []).append(rule)
    return by_tenant.get(tenant_id, []) if tenant_id is not None else by_tenant


def tenant_database(tenant: m.Tenant) -> str:
    """The name of a live tenant's database (set once provisioning created it)."""
    if tenant.database is None:
        raise ValidationError(f"tenant {tenant.slug} has no database yet (status {tenant.status})")
    return tenant.database


def _tenant_and_server(ctx: Context, slug: str) -> tuple[m.Tenant, m.Server]:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        if tenant.database is None or tenant.server_id is None or tenant.status not in ("active", "suspended"):
            raise ValidationError(f"tenant {slug} is {tenant.status}: there is no live schema to check")
        server = s.get(m.Server, tenant.server_id)
        # the foreign key holds, and a server that still holds tenants cannot be removed
        assert server is not None
        return tenant, server


def compare(ctx: Context, tenant: m.Tenant, adapter: Adapter, actual: dict,
            units: list[Unit] | None = None, applied: list[str] | None = None,
            accepted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Diff one tenant's captured schema against its expectation; nothing is stored."""
    if units is None:
        units, _ = units_for(ctx, tenant)
    if applied is None:
        with adapter.engine(tenant_database(tenant)).connect() as conn:
            applied = applied_revisions(conn, units)
    expected, owners = expected_schema(ctx, adapter, units, applied)
    if accepted is None:
        with ctx.session() as s:
            accepted = _accepted(s, tenant.id)
    differences = diff_schemas(expected, actual, owners=owners, ignore=_ignore(ctx), accepted=accepted)
    score, level = severity(differences)
    return {"tenant": tenant.slug, "checked_at": iso(utcnow()), "severity": level, "score": score,
            "expected_hash": _hash_of_expected(expected), "actual_hash": schema_hash(actual),
            "differences": [d.to_json() for d in differences], "_expected": expected, "_actual": actual}


_HASHES: dict[int, tuple[dict, str]] = {}


def _hash_of_expected(expected: dict) -> str:
    """Expected schemas are shared objects (memoised): hash each one once."""
    hit = _HASHES.get(id(expected))
    if hit is None or hit[0] is not expected:
        hit = _HASHES[id(expected)] = (expected, schema_hash(expected))
    return hit[1]


def store_report(ctx: Context, tenant_id: int, report: dict[str, Any]) -> dict[str, Any]:
    return store_reports(ctx, [(tenant_id, report)])[0]


def store_reports(ctx: Context, reports: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Persist reports and each tenant's last drift, in one landlord transaction."""
    out, rows, updates = [], [], []
    for tenant_id, report in reports:
        public = {k: v for k, v in report.items() if not k.startswith("_")}
        checked = parse_time(public["checked_at"])
        rows.append({"tenant_id": tenant_id, "severity": public["severity"], "score": public["score"],
                     "expected_hash": public["expected_hash"], "actual_hash": public["actual_hash"],
                     "differences": public["differences"], "checked_at": checked,
                     "fingerprint": report.get("_fingerprint"), "basis": report.get("_basis"),
                     "captured": report.get("_captured", True)})
        updates.append({"id": tenant_id, "last_drift_severity": public["severity"], "last_drift_at": checked})
        out.append(public)
    if rows:
        with ctx.session() as s:
            s.execute(sa.insert(m.DriftReport), rows)
            s.execute(sa.update(m.Tenant), updates)  # ORM bulk UPDATE by primary key
    return out


def current(ctx: Context, slug: str) -> tuple[m.Tenant, m.Server, dict[str, Any]]:
    """Capture a live tenant and compare it with its expectation (nothing stored)."""
    tenant, server = _tenant_and_server(ctx, slug)
    adapter = adapter_for(server)
    try:
        database = tenant_database(tenant)
        with adapter.engine(database).connect() as conn:
            actual = capture(conn, None if adapter.dialect == "sqlite" else database)
        report = compare(ctx, tenant, adapter, actual)
    except sa.exc.OperationalError as exc:  # dead, frozen (timeout) or refusing: name the server
        raise ServerError(f"server {server.name} did not answer for tenant {slug}: {short_error(exc)} "
                          f"(see `tenantops servers check {server.name}`)") from None
    finally:
        adapter.dispose()
    return tenant, server, report


def check_drift(ctx: Context, *, slug: str, keep_schemas: bool = False) -> dict[str, Any]:
    """Check one tenant and store the report (read-only on the tenant)."""
    tenant, _, report = current(ctx, slug)
    public = store_report(ctx, tenant.id, report)
    return {**public, "expected": report["_expected"], "actual": report["_actual"]} if keep_schemas else public


def latest_report(ctx: Context, slug: str) -> dict[str, Any] | None:
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        r = s.scalar(sa.select(m.DriftReport).where(m.DriftReport.tenant_id == tenant.id)
                     .order_by(m.DriftReport.id.desc()))
        if r is None:
            return None
        return {"tenant": slug, "checked_at": iso(r.checked_at), "severity": r.severity, "score": r.score,
                "expected_hash": r.expected_hash, "actual_hash": r.actual_hash, "differences": r.differences}


def at_or_above(level: str, threshold: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(threshold)


@mutating("drift.accept", "dba", target="slug")
def accept_difference(ctx: Context, *, slug: str, object: str, change: str, table: str | None,
                      name: str | None = None,
                      attribute: str | None = None, reason: str, expires: str) -> dict[str, Any]:
    """Accept one difference for a tenant until ``expires`` (ISO date); audited."""
    if not reason or not reason.strip():
        raise ValidationError("accepting drift needs a reason")
    try:
        until = datetime.fromisoformat(expires)
    except ValueError:
        raise ValidationError(f"expiry {expires!r} is not an ISO 8601 date") from None
    if until.tzinfo is not None:
        until = until.replace(tzinfo=None)
    if until <= utcnow():
        raise ValidationError(f"expiry {expires} is in the past")
    if until > utcnow() + timedelta(days=366):
        raise ValidationError("accepted drift may last at most a year; accept it again when it expires")
    with ctx.session() as s:
        tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
        if tenant is None:
            raise NotFoundError(f"tenant {slug!r} does not exist")
        # drift_acceptances.table is NOT NULL; objects outside any table (routines,
        # events) are stored with "" and read back as None (see _accepted)
        a = m.DriftAcceptance(tenant_id=tenant.id, object=object, change=change, table=table or "", name=name,
                              attribute=attribute, reason=reason.strip(), expires_at=until, accepted_by=ctx.operator)
        s.add(a)
        s.flush()
        return {"id": a.id, "tenant": slug, "object": object, "change": change, "table": table, "name": name,
                "attribute": attribute, "reason": a.reason, "expires_at": iso(until),
                "accepted_by": ctx.operator}


def _acceptance_json(a: m.DriftAcceptance, slug: str) -> dict[str, Any]:
    return {"id": a.id, "tenant": slug, "object": a.object, "change": a.change, "table": a.table, "name": a.name,
            "attribute": a.attribute, "reason": a.reason, "expires_at": iso(a.expires_at),
            "accepted_by": a.accepted_by, "accepted_at": iso(a.accepted_at)}


def _tenant_id(s: Any, slug: str) -> int:
    tenant = s.scalar(sa.select(m.Tenant).where(m.Tenant.slug == slug))
    if tenant is None:
        raise NotFoundError(f"tenant {slug!r} does not exist")
    return int(tenant.id)


def list_acceptances(ctx: Context, slug: str) -> list[dict[str, Any]]:
    """The tenant's accepted differences still in force (expired or withdrawn ones no
    longer hide anything), oldest first."""
    ctx.authorize("drift.accepted", "viewer", slug)
    with ctx.session() as s:
        tenant_id = _tenant_id(s, slug)
        rows = s.scalars(sa.select(m.DriftAcceptance)
                         .where(m.DriftAcceptance.tenant_id == tenant_id, m.DriftAcceptance.expires_at > utcnow())
                         .order_by(m.DriftAcceptance.id))
        return [_acceptance_json(a, slug) for a in rows]


@mutating("drift.withdraw", "dba", target="slug")
def withdraw_acceptance(ctx: Context, *, slug: str, acceptance_id: int) -> dict[str, Any]:
    """End an acceptance now: the difference counts again from the next check. The row
    is kept, expired, so who accepted it and why stays on record."""
    with ctx.session() as s:
        tenant_id = _tenant_id(s, slug)
        a = s.get(m.DriftAcceptance, acceptance_id)
        if a is None or a.tenant_id != tenant_id:
            raise NotFoundError(f"accepted drift {acceptance_id} of tenant {slug!r} does not exist "
                                f"(`tenantops drift {slug} --accepted` lists them)")
        now = utcnow()
        if a.expires_at <= now:
            raise StateError(f"accepted drift {acceptance_id} of {slug} already ended at {iso(a.expires_at)}")
        a.expires_at = now
        s.flush()
        return _acceptance_json(a, slug)


def since_snapshot(ctx: Context, slug: str, snapshot_id: int, other_id: int | None = None) -> list[dict[str, Any]]:
    """What changed between snapshot X and now (or snapshot Y)."""
    from tenantops.engine.schema.diff import diff_snapshots
    from tenantops.engine.tenants.snapshots import capture_tenant, get_snapshot, tenant_adapter

    before = get_snapshot(ctx, slug, snapshot_id)["schema"]
    if other_id is not None:
        after = get_snapshot(ctx, slug, other_id)["schema"]
    else:
        tenant, adapter = tenant_adapter(ctx, slug)
        try:
            after, _ = capture_tenant(adapter, tenant_database(tenant))
        finally:
            adapter.dispose()
    return [d.to_json() for d in diff_snapshots(before, after)]


# -- the fleet ------------------------------------------------------------------------------


def check_all(ctx: Context, *, progress=None, full: bool = False) -> dict[str, Any]:
    """Every active tenant: a handful of bulk information_schema queries per MariaDB server
    (not per-table reflection), expected schemas cached per distinct unit set, reports
    stored, and tenants grouped by actual schema fingerprint.

    Incremental unless ``full``: a few cheap reads per MariaDB/MySQL server fingerprint
    every tenant database (health/fingerprint.py); a tenant whose fingerprint and basis
    (expected schema, acceptances, ignore rules) equal those of its last captured check
    keeps that verdict without a capture. A full scan records the fingerprints from its
    own reads. SQLite servers are always captured."""
    say = progress or (lambda _msg: None)
    with ctx.session() as s:
        tenants = list(s.scalars(sa.select(m.Tenant).where(m.Tenant.status.in_(("active", "suspended")))
                                 .order_by(m.Tenant.slug)))
        servers = {sv.id: sv for sv in s.scalars(sa.select(m.Server))}
    by_server: dict[int, list[m.Tenant]] = {}
    for t in tenants:
        assert t.server_id is not None  # active and suspended tenants always live on a server
        by_server.setdefault(t.server_id, []).append(t)
    reports: list[dict[str, Any]] = []
    with ctx.session() as s:
        accepted = _accepted(s)
        modules: dict[int, list[str]] = {}
        for tenant_id, module in s.execute(sa.select(m.TenantModule.tenant_id, m.TenantModule.module)
                                           .order_by(m.TenantModule.position)):
            modules.setdefault(tenant_id, []).append(module)
    unit_sets: dict[tuple, list[Unit]] = {}

    def unchecked(t: m.Tenant, server: m.Server, error: str, status: str = "failed") -> dict[str, Any]:
        # not checked: severity stays within the contract's enum, "checked" says it means nothing
        return {"tenant": t.slug, "checked_at": iso(utcnow()), "severity": "none", "score": None,
                "expected_hash": None, "actual_hash": None, "differences": [], "error": error, "server": server.name,
                "status": status, "checked": False}

    customised = _customised(ctx)

    def units_of(t: m.Tenant) -> list[Unit]:
        key = (t.template, tuple(modules.get(t.id, [])), t.slug if t.slug in customised else None)
        if key not in unit_sets:
            unit_sets[key] = units_for(ctx, t, modules.get(t.id, []))[0]
        return unit_sets[key]

    with _collector_paused():
        for server_id, group in sorted(by_server.items(), key=lambda kv: servers[kv[0]].name):
            reports += _check_server(ctx, servers[server_id], group, full, accepted, units_of, unchecked, say)
    reports.sort(key=lambda r: r["tenant"])
    return {"reports": reports, "clusters": clusters(reports)}


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the scan: a fleet capture allocates
    millions of acyclic dicts and lists (freed by reference counting anyway), and every
    few hundred allocations the collector would walk the ever larger heap again; ~20% of
    a full scan of 2,000 tenants. Cycles made meanwhile are collected once it is back."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _check_server(ctx: Context, server: m.Server, group: list[m.Tenant], full: bool,
                  accepted: dict[int, list[dict[str, Any]]], units_of: Any, unchecked: Any,
                  say: Any) -> list[dict[str, Any]]:
    """The reports of one server's tenants (stored), captured or kept."""
    reports: list[dict[str, Any]] = []
    adapter = adapter_for(server)
    kept: list[tuple[int, dict[str, Any]]] = []
    try:
        say(f"{server.name}: {'capturing' if full else 'checking'} {len(group)} tenant(s)")
        try:
            if full or adapter.dialect == "sqlite":
                prints: dict[str, str] = {}
                captured = _capture_group(adapter, group, record=prints)
            else:
                kept, to_capture, prints = _unchanged(ctx, adapter, group, accepted, units_of)
                captured = _capture_group(adapter, to_capture)
        except ServerUnreachable as exc:
            return [unchecked(t, server, str(exc), "unreachable") for t in group]
        except (ServerError, sa.exc.DBAPIError) as exc:
            message = str(exc) if isinstance(exc, TenantopsError) else f"server {server.name}: {short_error(exc)}"
            return [unchecked(t, server, message) for t in group]
        done: list[tuple[int, dict[str, Any]]] = list(kept)
        kept_ids = {tid for tid, _ in kept}
        for t in group:
            if t.id in kept_ids:
                continue
            if t.database not in captured:
                reports.append(unchecked(t, server, f"database {t.database} is missing on {server.name}"))
                continue
            actual, applied = captured[t.database]
            try:
                units = units_of(t)
                report = compare(ctx, t, adapter, actual, units=units, applied=applied(units),
                                 accepted=accepted.get(t.id, []))
                if t.database in prints:
                    report["_fingerprint"] = _recordable(prints[t.database], actual)
                    report["_basis"] = _basis(units, applied(units), accepted.get(t.id, []), ctx, adapter)
            except ServerUnreachable as exc:  # it froze half way through the group
                reports.append(unchecked(t, server, str(exc), "unreachable"))
                continue
            except (TenantopsError, sa.exc.DBAPIError) as exc:
                reports.append(unchecked(t, server, str(exc).splitlines()[0]))
                continue
            done.append((t.id, report))
        for (_, report), public in zip(done, store_reports(ctx, done)):
            reports.append({**public, "server": server.name, "status": "checked", "checked": True,
                            "captured": report.get("_captured", True)})
    finally:
        adapter.dispose()
    return reports


def unchecked_summary(reports: list[dict[str, Any]]) -> str:
    """One line for the tenants a fleet check could not check: unreachable servers first."""
    down = sorted({r["server"] for r in reports if r.get("status") == "unreachable"})
    others = [r["tenant"] for r in reports if r.get("status") != "unreachable"]
    parts = []
    if down:
        count = sum(1 for r in reports if r.get("status") == "unreachable")
        parts.append(f"unreachable server{'s' if len(down) > 1 else ''} {', '.join(down)} ({count} tenant(s) "
                     f"not checked; see {', '.join(f'`tenantops servers check {d}`' for d in down)})")
    if others:
        more = f" (+{len(others) - 5} more)" if len(others) > 5 else ""
        parts.append(f"{len(others)} tenant(s) could not be checked: {', '.join(others[:5])}{more}")
    return "drift --all: " + "; ".join(parts)


def _unchanged(ctx: Context, adapter: Adapter, group: list[m.Tenant], accepted: dict[int, list[dict[str, Any]]],
               units_of: Any) -> tuple[list[tuple[int, dict[str, Any]]], list[m.Tenant], dict[str, str]]:
    """(kept reports, tenants to capture, {database: fingerprint to record}) for a MariaDB/
    MySQL server's tenants: a tenant keeps its last captured verdict when the fingerprint
    of the kind recorded with it is unchanged and so is its basis. Every fingerprint is
    read before any capture, so a change racing the scan only ever causes a recapture."""
    from tenantops.engine.health import fingerprint as fp

    assert isinstance(adapter, MysqlAdapter)  # every server that is not SQLite is MariaDB/MySQL
    names = [t.database for t in group if t.database is not None]
    refs = _last_fingerprinted(ctx, [t.id for t in group])
    with adapter.admin().connect() as conn:
        quick = fp.quick(conn, names)
        recorded = {t.database: refs[t.id]["_fingerprint"] for t in group if t.id in refs and t.database in quick.prints}
        # the detailed kind where it was recorded, and where a tenant about to be captured
        # can never be vouched for by the quick kind (it is recorded with the capture)
        detail = fp.detailed(conn, [db for db in quick.prints
                                    if db in quick.unfit or recorded.get(db, "").startswith(fp.DETAILED)])
        heads = _bulk_heads(conn, [db for db in names if db in quick.prints], with_table=quick.versioned)
    kept: list[tuple[int, dict[str, Any]]] = []
    to_capture: list[m.Tenant] = []
    prints: dict[str, str] = {}
    for t in group:
        db = t.database
        if db is None or db not in quick.prints:
            to_capture.append(t)  # reported missing by the capture
            continue
        prints[db] = detail.get(db, fp.UNVOUCHED) if db in quick.unfit else quick.prints[db]
        ref = refs.get(t.id)
        was = recorded.get(db, "")
        same = ref is not None and ((was.startswith(fp.QUICK) and was == quick.prints[db])
                                    or (was.startswith(fp.DETAILED) and was == detail.get(db)))
        if same:
            assert ref is not None
            units = units_of(t)
            same = _basis(units, applied_from_heads_memo(units, heads.get(db, [])), accepted.get(t.id, []), ctx,
                          adapter) == ref["_basis"]
        if not same:
            to_capture.append(t)
            continue
        assert ref is not None
        kept.append((t.id, {**ref, "checked_at": iso(utcnow()), "_captured": False}))
    return kept, to_capture, prints


def _last_fingerprinted(ctx: Context, tenant_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each tenant's latest report that recorded a fingerprint, as a report document."""
    if not tenant_ids:
        return {}
    r = m.DriftReport
    latest = (sa.select(r.tenant_id, sa.func.max(r.id).label("rid")).where(r.fingerprint.is_not(None))
              .group_by(r.tenant_id).subquery())
    slugs = dict.fromkeys(tenant_ids)
    out: dict[int, dict[str, Any]] = {}
    with ctx.session() as s:
        for tenant_id, slug in s.execute(sa.select(m.Tenant.id, m.Tenant.slug).where(m.Tenant.id.in_(tenant_ids))):
            slugs[tenant_id] = slug
        for row in s.scalars(sa.select(r).join(latest, latest.c.rid == r.id)):
            if row.tenant_id in slugs:
                out[row.tenant_id] = {"tenant": slugs[row.tenant_id], "severity": row.severity, "score": row.score,
                                      "expected_hash": row.expected_hash, "actual_hash": row.actual_hash,
                                      "differences": row.differences, "_fingerprint": row.fingerprint,
                                      "_basis": row.basis}
    return out


def _basis(units: list[Unit], applied: list[str], accepted: list[dict[str, Any]], ctx: Context,
           adapter: Adapter) -> str:
    """What a tenant's verdict depends on besides its own schema: the expected schema (its
    applied revision set and their contents), its live acceptances, the ignore rules."""
    from tenantops.engine.health.fingerprint import FORMAT

    family = "sqlite" if adapter.dialect == "sqlite" else "mysql"
    rules = ctx.settings.drift_ignore
    parts = [FORMAT, _set_key_of(units, applied, family), sorted(json.dumps(a, sort_keys=True) for a in accepted),
             [list(rules.tables), list(rules.columns), list(rules.attributes)]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def applied_from_heads_memo(units: list[Unit], heads: list[str]) -> list[str]:
    return _applied_from(heads)(units)


def _recordable(fingerprint: str, actual: dict) -> str:
    from tenantops.engine.health.fingerprint import QUICK, UNVOUCHED, vouchable

    # a quick fingerprint cannot see a foreign key's target in another database change
    return UNVOUCHED if fingerprint.startswith(QUICK) and not vouchable(actual) else fingerprint


def _customised(ctx: Context) -> set[str]:
    """Slugs of the tenants with a custom migration directory (listed once per scan)."""
    from tenantops.engine.migrate.units import custom_dir

    root = custom_dir(ctx, "x").parent.parent
    return {p.name for p in root.iterdir() if (p / "versions").is_dir()} if root.is_dir() else set()


def _capture_group(adapter: Adapter, tenants: list[m.Tenant], record: dict[str, str] | None = None):
    """{database: (canonical, applied_revisions_fn)} for a server's tenants; ``record``
    (MariaDB/MySQL) receives each captured database's quick fingerprint, made from the
    capture's own reads."""
    out = {}
    if adapter.dialect == "sqlite":
        for t in tenants:
            if t.database is None or not adapter.database_exists(t.database):
                continue
            with adapter.engine(t.database).connect() as conn:
                actual = capture(conn)
                heads = _heads(conn, None)
            out[t.database] = (actual, _applied_from(heads))
        return out
    assert isinstance(adapter, MysqlAdapter)  # every server that is not SQLite is MariaDB/MySQL
    names = [t.database for t in tenants if t.database is not None]
    with adapter.admin().connect() as conn:
        if record is None:
            captured = capture_mysql(conn, names)
            versioned: set[str] | None = None
        else:
            from tenantops.engine.health.fingerprint import QuickPrints, utc_session

            lower = bool(int(conn.exec_driver_sql("SELECT @@lower_case_table_names").scalar() or 0))
            with utc_session(conn) as now:
                prints = QuickPrints(now, bool(getattr(conn.dialect, "is_mariadb", False)), lower)
                seen: set[str] = set()

                def observe(source: str, rows: Any) -> None:
                    prints.observe(source, rows)
                    if source == "tables":
                        seen.update(r.TABLE_SCHEMA for r in rows if r.TABLE_NAME == "alembic_version")

                captured = capture_mysql(conn, names, observe=observe)
            record.update(prints.digests(list(captured)))
            versioned = seen
        heads_by_db = _bulk_heads(conn, [n for n in names if n in captured], with_table=versioned)
    for name, schema in captured.items():
        out[name] = (schema, _applied_from(heads_by_db.get(name, [])))
    return out


def _heads(conn: sa.Connection, schema: str | None) -> list[str]:
    try:
        return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    except sa.exc.DBAPIError:
        return []


def _bulk_heads(conn: sa.Connection, databases: list[str],
                with_table: set[str] | None = None) -> dict[str, list[str]]:
    """alembic_version of many tenant databases in one round trip (``with_table``: the
    databases known to hold that table, when the caller has just read their tables)."""
    if not databases:
        return {}
    prep = conn.dialect.identifier_preparer
    if with_table is None:
        with_table = {r[0] for r in conn.execute(
            sa.text("SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME = 'alembic_version' "
                    "AND TABLE_SCHEMA IN :dbs").bindparams(sa.bindparam("dbs", expanding=True)), {"dbs": databases})}
    present = [db for db in databases if db in with_table]
    out: dict[str, list[str]] = {}
    if not present:
        return out
    parts = [f"SELECT :n{i} AS db, version_num FROM {prep.quote(db)}.alembic_version" for i, db in enumerate(present)]
    for db, version in conn.execute(sa.text(" UNION ALL ".join(parts)), {f"n{i}": db for i, db in enumerate(present)}):
        out.setdefault(db, []).append(version)
    return out


_APPLIED: dict[tuple, list[str]] = {}


def _applied_from(heads: list[str]):
    def resolve(units: list[Unit]) -> list[str]:
        key = (tuple(id(u) for u in units), tuple(sorted(heads)))
        if key not in _APPLIED:
            _APPLIED[key] = applied_from_heads(units, heads)
        return _APPLIED[key]
    return resolve


def clusters(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tenants grouped by actual schema hash, largest group first, with what sets each
    group apart from its expectation ("812 identical to expected; 9 missing index ...")."""
    groups: dict[tuple, dict[str, Any]] = {}
    for r in reports:
        if r.get("actual_hash") is None:
            continue
        key = (r["actual_hash"], r["expected_hash"])
        g = groups.setdefault(key, {"hash": r["actual_hash"], "expected_hash": r["expected_hash"], "tenants": [],
                                    "differences": r["differences"], "severity": r["severity"]})
        g["tenants"].append(r["tenant"])
    out = sorted(groups.values(), key=lambda g: (-len(g["tenants"]), g["hash"]))
    for g in out:
        g["summary"] = summarize(len(g["tenants"]), g["differences"])
    return out


def summarize(count: int, differences: list[dict[str, Any]]) -> str:
    if not differences:
        return f"{count} identical to expected"
    words = {"added": "with extra", "removed": "missing", "modified": "with changed"}
    parts = []
    for d in differences[:3]:
        what = d["object"].replace("_", " ")
        where = f" on {d['table']}" if d["object"] != "table" else ""
        attr = f" {d['attribute']}" if d.get("attribute") else ""
        parts.append(f"{words[d['change']]} {what} {d['name']}{attr}{where}")
    more = f" (+{len(differences) - 3} more)" if len(differences) > 3 else ""
    return f"{count} " + "; ".join(parts) + more


def latest_clusters(ctx: Context) -> list[dict[str, Any]]:
    """Fingerprint clusters of the drifted tenants, from their latest stored reports (no
    scan): what the dashboard shows between fleet scans."""
    with ctx.session() as s:
        latest = (sa.select(m.DriftReport.tenant_id, sa.func.max(m.DriftReport.id).label("rid"))
                  .group_by(m.DriftReport.tenant_id).subquery())
        rows = s.execute(sa.select(m.Tenant.slug, m.DriftReport.actual_hash, m.DriftReport.expected_hash,
                                   m.DriftReport.severity, m.DriftReport.differences)
                         .join(latest, latest.c.tenant_id == m.Tenant.id)
                         .join(m.DriftReport, m.DriftReport.id == latest.c.rid)
                         .where(m.Tenant.status == "active", m.DriftReport.severity.not_in(("none", "unknown"))))
        reports = [{"tenant": slug, "actual_hash": actual, "expected_hash": expected, "severity": severity,
                    "differences": differences} for slug, actual, expected, severity, differences in rows]
    return clusters(reports)

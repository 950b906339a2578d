"""The reclaim sweep over stored leads against a bare UPDATE of the same rows, on SQLite and on
PostgreSQL, in the same run and on the same database.

Setup (timed separately, part of neither figure): a fresh, migrated database with
``templates/b2b_software.yaml`` published, one team and the engine benchmark's 20 reps (with
managers, so reclaim notices go to owner and manager), and N stored leads in state ``owned``
spread over the active reps, inserted with a Core ``executemany`` in the shape the lead services
store (typed fields as JSON, outputs, weight, open flag, timestamps in UTC). The fields are the
engine benchmark's synthetic leads with a stage mix; the clocks are spread so that at the sweep's
clock (the engine benchmark's ``NOW``) about a fifth of the leads are due for reclaim and about a
tenth for a reminder: 30 % were never followed up (assigned 0-5 days ago; the rule is 3 days,
reminded 1 day before), 70 % were (last follow-up on average 3.5 days ago; the rule is 7 days,
reminded 2 days before); negotiation and won deals are protected. While inserting, the engine
decides every lead in memory (``verdict_for``): the expected reclaims and reminders. The leads are
built and inserted in a child process, so that the timed phases run in a process whose heap is
a worker's, not one that just built a million leads.

Then, per database:

- ``sweep``: ``run_sweep(sessions, team, NOW)`` — the whole service: the due filter in SQL,
  keyset batches read under the row locks (``FOR UPDATE`` / SQLite's write lock), the engine's
  verdict per lead, leads to the pool, key accounts re-offered to the policies, reminder stamps,
  notifications (one per person, rule and batch, naming every lead), audit rows and
  ``lead.reclaimed`` points, one commit per batch of the database's default size. Checked
  afterwards: the reclaimed and reminded leads are exactly the expected ones, and the database
  agrees (leads with the sweep's ``reclaimed_at`` == audit ``reclaim`` rows == reported; leads in
  the pool == reported as pooled; reminder stamps == reported reminders; the leads the notices
  name == each reclaimed or reminded lead once per person its rule notifies).
- ``bare``: the rows the sweep reclaimed are put back to their owners (untimed), their ids are
  kept in a scratch table with a primary key, and one statement moves them again::

      UPDATE leads SET state = 'pool', owner_id = NULL, previous_owner_id = owner_id,
             reclaimed_at = :now, reclaim_count = reclaim_count + 1
      WHERE id IN (SELECT id FROM bench_reclaimed)

  in one transaction. Before each timed phase PostgreSQL gets ``VACUUM ANALYZE``, so that
  neither pays for the other's dead rows, and SQLite a checkpoint, so that neither reads its
  pages through a write-ahead log of the setup's million inserts.

``x_bare`` = sweep time / bare time (the target: at most 5); beside the SQLite figures, this
process's CPU time and its ratio (SQLite works in this process, so on a shared machine that ratio
is the steadier one; PostgreSQL's work is in the server). The rows the sweep wrote are printed per
reclaimed lead (moves, reminder stamps, audit rows, notifications; the bare UPDATE writes one),
since much of the distance to the floor is those writes. PostgreSQL is
``postgresql+psycopg://postgres@127.0.0.1/<fresh database>`` (``--pg`` to change the server);
when it is unreachable its figures are skipped with a note. Last line: JSON with every figure.

    python benchmarks/reclaim.py                      # 1,000,000 leads, both databases
    python benchmarks/reclaim.py --leads 100000 --db sqlite --profile /tmp/sweep.prof
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import gc
import importlib
import json
import multiprocessing
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import Table, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from configurator.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from configurator.models import AuditEvent, Lead, Notification, Rep  # noqa: E402
from configurator.services import pool  # noqa: E402
from configurator.services import teams as teams_svc  # noqa: E402
from configurator.services.leads import dedup_key, to_json  # noqa: E402
from configurator.services.templates import compiled, get_version  # noqa: E402
from rule_engine.reclaim import verdict_for  # noqa: E402

from engine import NOW, make_leads, make_reps  # noqa: E402  (the engine benchmark's leads, reps and clock)

# The import benchmark's scratch databases, setup and PostgreSQL probe ("import" is a keyword).
_import_bench = importlib.import_module("import")
fresh, setup, pg_reachable = _import_bench.fresh, _import_bench.setup, _import_bench.pg_reachable

LEADS = cast(Table, Lead.__table__)
DAY = dt.timedelta(days=1)
CHUNK = 20_000  # leads generated, graded and inserted at a time
STAGES = (("new", 30), ("contacted", 22), ("qualified", 14), ("proposal", 12), ("negotiation", 9), ("won", 5), ("lost", 8))


@dataclasses.dataclass
class Expected:
    """What the engine says the sweep must do, decided in memory while the leads are built."""

    reclaim: set[str] = dataclasses.field(default_factory=set)
    remind: set[str] = dataclasses.field(default_factory=set)
    reassign: int = 0  # reclaimed by a rule whose action is ``reassign``
    actions: Counter[str] = dataclasses.field(default_factory=Counter)


def stored_leads(n: int, team_id: int, version_id: int, template: Any, owners: list[str], owner_values: dict[str, Any], expected: Expected, seed: int = 17) -> Iterator[list[dict[str, Any]]]:
    """N owned leads as ``leads`` rows, CHUNK at a time; records the engine's verdicts in ``expected``."""
    rng = random.Random(seed)
    now_utc = NOW.astimezone(dt.timezone.utc)
    clock = template.clock(NOW)
    spec = template.reclaim
    stages, weights = zip(*STAGES, strict=True)
    for start in range(0, n, CHUNK):
        rows = []
        for j, lead in enumerate(make_leads(min(CHUNK, n - start), seed=start + 7)):
            i = start + j
            lead["id"] = f"L{i:07d}"
            lead["company"] = f"{lead['region']}精密制造{i}有限公司"
            lead["stage"] = rng.choices(stages, weights)[0]
            if lead["stage"] == "lost":
                lead["lost_reason"] = "price"
            owner = owners[i % len(owners)]
            if rng.random() < 0.3:  # never followed up
                assigned = now_utc - rng.uniform(0, 5) * DAY
                count, first, last = 0, None, None
            else:
                assigned = now_utc - rng.uniform(1, 90) * DAY
                last = max(assigned, now_utc - rng.expovariate(1 / 3.5) * DAY)
                first = assigned + (last - assigned) * rng.random()
                count = rng.randint(1, 8)
            created = assigned - rng.uniform(0, 2) * dt.timedelta(hours=1)
            record = dict(lead, owner=owner, created_at=created, assigned_at=assigned, followup_count=count, reclaim_count=0)
            if first is not None:
                record.update(first_followup_at=first, last_followup_at=last)
            L = template.values(record, NOW, clock)
            template.grade(L)
            verdict = verdict_for(spec, L, NOW, owner_values[owner])
            expected.actions[verdict.action] += 1
            if verdict.action == "reclaim":
                expected.reclaim.add(lead["id"])
                expected.reassign += verdict.then == "reassign"
            elif verdict.action == "remind":
                expected.remind.add(lead["id"])
            fields = {k: v for k, v in lead.items() if k != "id"}
            rows.append(
                {
                    "id": lead["id"],
                    "team_id": team_id,
                    "fields": to_json(fields),
                    "outputs": template.outputs(L),
                    "weight": template.load.weight(L),
                    "is_open": template.load.counts(L),
                    "state": "owned",
                    "dedup_key": dedup_key(template, fields),
                    "owner_id": owner,
                    "previous_owner_id": None,
                    "from_pool": False,
                    "locked": False,
                    "created_at": created,
                    "assigned_at": assigned,
                    "first_followup_at": first,
                    "last_followup_at": last,
                    "followup_count": count,
                    "reclaim_count": 0,
                    "reclaimed_at": None,
                    "reminded_at": None,
                    "template_version_id": version_id,
                    "import_job_id": None,
                    "import_hash": None,
                    "revision": 1 + count,  # assigned, then one change per follow-up
                }
            )
        yield rows


def seed(engine: Engine, sessions: sessionmaker[Session], n: int) -> Expected:
    """The team's reps (with managers) and N owned leads; returns the engine's expectations."""
    reps = [dataclasses.replace(r, manager=f"m{i % 4 + 1}") for i, r in enumerate(make_reps())]
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "bench")
        teams_svc.upsert_reps(s, team, reps)
        version = get_version(s, team.template_name)
        team_id, version_id, template = team.id, version.id, compiled(version)
    day = NOW.astimezone(template.timezone).date()
    owners = [r.id for r in reps if r.status == "active"]
    owner_values = {r.id: r.values(day) for r in reps}
    expected = Expected()
    with engine.begin() as conn:
        for rows in stored_leads(n, team_id, version_id, template, owners, owner_values, expected):
            conn.execute(insert(LEADS), rows)
    return expected


def _seed_child(url: str, n: int) -> Expected:
    engine = make_engine(url)
    try:
        return seed(engine, make_sessionmaker(engine), n)
    finally:
        engine.dispose()


def seed_apart(url: str, n: int) -> Expected:
    """:func:`seed` in a child process: building a million leads in Python leaves this process's
    heap as no worker that runs a sweep has it, so the timed phases run in a process that did
    nothing but set up its connections."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork")) as child:
        return child.submit(_seed_child, url, n).result()


def vacuum(engine: Engine) -> None:
    """Before a timed phase, the database as it would be in service, not straight after a bulk
    load: PostgreSQL gets statistics and no dead rows (autovacuum would get there); SQLite gets
    its write-ahead log copied into the database file (a checkpoint, as SQLite runs them), so
    that neither phase reads pages through a log of the setup's writes. This process's garbage
    is collected too."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    elif engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)")
    gc.collect()


def check_sweep(sessions: sessionmaker[Session], result: pool.SweepResult, expected: Expected) -> dict[str, int]:
    """The sweep did what the engine expected, and the database agrees with what it reported."""
    assert not result.errors, result.errors[:3]
    reclaimed = {r["lead"] for r in result.reclaimed}
    reminded = {r["lead"] for r in result.reminded}
    assert reclaimed == expected.reclaim, f"reclaimed {len(reclaimed):,}, expected {len(expected.reclaim):,}"
    assert reminded == expected.remind, f"reminded {len(reminded):,}, expected {len(expected.remind):,}"
    now_utc = NOW.astimezone(dt.timezone.utc)
    with session_scope(sessions) as s:
        stamped = s.scalar(select(func.count()).select_from(Lead).where(Lead.reclaimed_at == now_utc))
        in_pool = s.scalar(select(func.count()).select_from(Lead).where(Lead.state == "pool"))
        audited = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "reclaim"))
        reminders = s.scalar(select(func.count()).select_from(Lead).where(Lead.reminded_at == now_utc))
        notes = s.scalar(select(func.count()).select_from(Notification))
        named = Counter((n.recipient, n.kind, lead) for n in s.scalars(select(Notification)) for lead, _, _ in n.leads)
        template = compiled(get_version(s, "b2b_software"))
        managers: dict[str, str | None] = {rep: manager for rep, manager in s.execute(select(Rep.id, Rep.manager))}
    assert stamped == audited == len(result.reclaimed), (stamped, audited, len(result.reclaimed))
    assert in_pool == len(result.pooled), (in_pool, len(result.pooled))
    assert reminders == len(result.reminded), (reminders, len(result.reminded))
    assert notes == result.notifications, (notes, result.notifications)
    notify = {rule.name: rule.notify or ("owner",) for rule in template.reclaim.rules} if template.reclaim else {}
    told = Counter(
        (r["owner"] if role == "owner" else managers[r["owner"]], kind, r["lead"])
        for kind, done in (("reclaim", result.reclaimed), ("remind", result.reminded))
        for r in done
        for role in notify[r["rule"]]
    )
    assert named == told, "the notices do not name each lead once per person its rule notifies"
    return {
        "reclaimed": len(result.reclaimed),
        "pooled": in_pool,
        "reassigned": len(result.reassigned),
        "escalated": len(result.escalated),
        "reminded": len(result.reminded),
        "notifications": notes,
        "notified": sum(named.values()),
        "audit_rows": audited,
        "points": result.points,
        "scanned": result.scanned,
    }


def bare_update(engine: Engine) -> tuple[float, float, int]:
    """Put the reclaimed leads back to their owners (untimed), then move them with one UPDATE."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_reclaimed (id VARCHAR(64) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO bench_reclaimed (id) SELECT lead_id FROM audit_events WHERE action = 'reclaim'"))
        conn.execute(
            text(
                "UPDATE leads SET state = 'owned', owner_id = previous_owner_id, previous_owner_id = NULL, reclaimed_at = NULL, "
                "reclaim_count = reclaim_count - 1 WHERE id IN (SELECT id FROM bench_reclaimed)"
            )
        )
    vacuum(engine)
    statement = text(
        "UPDATE leads SET state = 'pool', owner_id = NULL, previous_owner_id = owner_id, reclaimed_at = :now, "
        "reclaim_count = reclaim_count + 1 WHERE id IN (SELECT id FROM bench_reclaimed)"
    )
    t0, c0 = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        moved = conn.execute(statement, {"now": NOW.astimezone(dt.timezone.utc)}).rowcount
    return time.perf_counter() - t0, time.process_time() - c0, moved


def measure(kind: str, n: int, workdir: Path, pg_admin: str, batch: int | None, profile: str | None) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with fresh(kind, workdir, pg_admin) as url:
        t0 = time.perf_counter()
        engine, sessions = setup(url)
        try:
            engine.dispose()  # the child below must not share this process's connections
            expected = seed_apart(url, n)
            vacuum(engine)
            figures["setup"] = time.perf_counter() - t0
            figures["expected"] = {"reclaim": len(expected.reclaim), "reassign": expected.reassign, "remind": len(expected.remind), **{f"verdict_{k}": v for k, v in sorted(expected.actions.items())}}

            profiler = cProfile.Profile() if profile else None

            def sweep() -> pool.SweepResult:
                if profiler is None:
                    return pool.run_sweep(sessions, "bench", NOW, batch=batch)
                return cast(pool.SweepResult, profiler.runcall(pool.run_sweep, sessions, "bench", NOW, batch=batch))

            t0, c0 = time.perf_counter(), time.process_time()
            result = sweep()
            figures["sweep"], figures["sweep_cpu"] = time.perf_counter() - t0, time.process_time() - c0
            if profiler is not None:
                path = f"{profile}.{kind}" if profile else ""
                profiler.dump_stats(path)
                figures["profile"] = path
            figures["done"] = check_sweep(sessions, result, expected)
            figures["bare"], figures["bare_cpu"], moved = bare_update(engine)
            assert moved == len(expected.reclaim), (moved, len(expected.reclaim))
        finally:
            engine.dispose()
    figures["x_bare"] = figures["sweep"] / figures["bare"]
    if kind == "sqlite":  # PostgreSQL's work is in the server: this process's CPU time says little there
        figures["x_bare_cpu"] = figures["sweep_cpu"] / figures["bare_cpu"]
    else:
        del figures["sweep_cpu"], figures["bare_cpu"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="Stored leads (default 1,000,000)")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--batch", type=int, default=None,
        help=f"The sweep's batch size (default: the database's, SWEEP_BATCH = {pool.SWEEP_BATCH:,} on SQLite, SWEEP_BATCH_POSTGRESQL = {pool.SWEEP_BATCH_POSTGRESQL:,} on PostgreSQL)",
    )
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1/postgres", help="PostgreSQL admin URL (a fresh database is created beside it)")
    parser.add_argument("--profile", metavar="PATH", help="cProfile the sweep into PATH.<database> (pstats format)")
    args = parser.parse_args()
    n = args.leads
    out: dict[str, Any] = {"n": n, "batch": args.batch}
    shown = f"{args.batch:,}" if args.batch else f"{pool.SWEEP_BATCH:,} on SQLite, {pool.SWEEP_BATCH_POSTGRESQL:,} on PostgreSQL"
    print(f"{n:,} owned leads (b2b_software, 20 reps), sweep at {NOW.isoformat()}, batch {shown}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
            if kind == "postgresql":
                why = pg_reachable(args.pg)
                if why is not None:
                    print(f"postgresql: skipped, not reachable ({why})")
                    out[kind] = {"skipped": why}
                    continue
            f = measure(kind, n, Path(tmp), args.pg, args.batch, args.profile)
            out[kind] = f
            e, d = f["expected"], f["done"]
            print(f"{kind}:")
            print(f"  setup (migrate, template, reps, insert {n:,} leads)  {f['setup']:8.2f} s   (in neither figure)")
            print(
                f"  due at the clock: reclaim {e['reclaim']:,} ({e['reclaim'] / n:.1%}; {e['reassign']:,} by a reassign rule), "
                f"remind {e['remind']:,} ({e['remind'] / n:.1%}), protected {e.get('verdict_protected', 0):,}"
            )
            cpu = kind == "sqlite"  # SQLite works in this process: its CPU time is the steadier figure on a shared machine
            print(f"  bare UPDATE of the reclaimed rows                   {f['bare']:8.2f} s   {d['reclaimed'] / f['bare']:>10,.0f} rows/s" + (f"   cpu {f['bare_cpu']:.2f} s" if cpu else ""))
            print(
                f"  sweep (run_sweep)                                   {f['sweep']:8.2f} s   {d['reclaimed'] / f['sweep']:>10,.0f} rows/s   {f['x_bare']:.2f}x bare (target: at most 5x)"
                + (f"   cpu {f['sweep_cpu']:.2f} s, {f['x_bare_cpu']:.2f}x" if cpu else "")
            )
            print(
                f"  checked: {d['reclaimed']:,} reclaimed (= expected = audit rows = stamped; {d['pooled']:,} in the pool, "
                f"{d['reassigned']:,} reassigned, {d['escalated']:,} escalated), {d['reminded']:,} reminded, "
                f"{d['notifications']:,} notifications naming {d['notified']:,} (lead, person) pairs, {d['points']:,} point entries, {d['scanned']:,} candidates read"
            )
            writes = d["reclaimed"] + d["reminded"] + d["audit_rows"] + d["notifications"]
            print(
                f"  rows the sweep wrote: {writes:,} ({d['reclaimed']:,} leads moved, {d['reminded']:,} reminder stamps, {d['audit_rows']:,} audit rows, "
                f"{d['notifications']:,} notifications), {writes / max(d['reclaimed'], 1):.1f} per reclaimed lead; the bare UPDATE writes 1"
            )
            if "profile" in f:
                print(f"  profile: {f['profile']}")
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()

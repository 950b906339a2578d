"""Eight OS processes assigning 1,000 leads to 10 reps at once, on SQLite and on PostgreSQL.

Each process opens its own engine and loops ``assign_pending(limit=25)`` in its own unit of work
holding the write lock until nothing is pending. Afterwards, computed from the stored rows (not
from what the service reported): every lead has exactly one owner or is in the pool, no rep is
past its cap or daily quota, round-robin spread between equal reps is at most one, there is one
``assign`` audit row per assigned lead, the points ledger holds no duplicate key, and the
rotation state was written once per batch (batches were serial).

Two runs: a roomy one (caps let round robin place all 1,000 leads) and a tight one (half the reps
stop at their cap, the other half at the daily quota, and the rest of the leads go to the pool).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue as queue_module
import time
import traceback
from collections import Counter, defaultdict
from typing import Any

import pytest
from support import pending_lead_rows
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, Lead, PointEntry, Rep, RotationState
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.assignment import assign_pending
from configurator.services.templates import ServiceError
from rule_engine import Rep as EngineRep

PROCESSES = 8
LEADS = 1000
REPS = 10
BATCH = 25
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
WAIT = 120  # a safety net against a hang, not a speed target (a run takes seconds)

TEMPLATE = """\
fenpei: 1
name: race
title: {{zh: 并发分配, en: Concurrent assignment}}
timezone: Asia/Shanghai
fields:
  company: {{type: string}}
  size: {{type: integer}}
rep_fields:
  capacity: {{type: number}}
load:
  default_weight: 1
  cap: 'rep.capacity'
  daily_quota: {quota}
assignment:
  policies:
    - {{name: rotation, strategy: round_robin, on_no_candidate: pool}}
  otherwise: pool
points:
  period: month
  rules:
    - {{name: took, "on": lead.assigned, amount: 1, once: per_lead}}
    - {{name: busy, "on": lead.assigned, amount: 1, cap: 35}}
"""

# run -> (daily quota, capacity per rep)
RUNS = {
    "roomy": (150, [200] * REPS),
    "tight": (40, [30] * (REPS // 2) + [1000] * (REPS - REPS // 2)),
}


def _transient(exc: BaseException) -> bool:
    """SQLite's 'database is locked' and PostgreSQL's serialization failures and deadlocks."""
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        return "database is locked" in text or "could not serialize" in text or "deadlock" in text
    return False


def _worker(url: str, barrier: Any, results: Any) -> None:
    """One OS process: its own engine; batches of 25 until nothing is pending."""
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    batches = retries = conflicts = assigned = 0
    try:
        barrier.wait(WAIT)
        while True:
            try:
                with session_scope(sessions, write_lock=True) as s:
                    result = assign_pending(s, teams_svc.get_team(s, "crowd"), NOW, limit=BATCH, actor=f"worker-{os.getpid()}")
            except ServiceError as exc:
                if exc.problems[0].code != "assign.conflict":
                    raise
                conflicts += 1  # a lead changed under the batch: only possible without the lock
                continue
            except Exception as exc:
                if _transient(exc):
                    retries += 1
                    continue
                raise
            if result.total == 0:
                break
            batches += 1
            assigned += len(result.assigned)
            # A worker does other things between batches; without a pause SQLite's lock, which is
            # not fair, tends to go back to the process that just released it.
            time.sleep(0.01)
        results.put(("ok", os.getpid(), batches, retries, assigned, conflicts))
    except BaseException:
        results.put(("error", os.getpid(), traceback.format_exc()))
    finally:
        engine.dispose()


def _setup(url: str, quota: int, capacities: list[int]) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            tmpl_svc.import_draft(s, TEMPLATE.format(quota=quota))
            version = tmpl_svc.publish(s, "race")
            team = teams_svc.create_team(s, "crowd", "Crowd", "race")
            teams_svc.upsert_reps(s, team, [EngineRep(f"r{i:02d}", f"Rep {i}", {"capacity": c}) for i, c in enumerate(capacities)])
            start = NOW.astimezone(dt.timezone.utc) - dt.timedelta(days=1)
            s.execute(insert(Lead), pending_lead_rows(team.id, version.id, LEADS, start, digits=4))
    finally:
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("run", list(RUNS))
def test_eight_processes_assign_a_thousand_leads(db_url: str, run: str) -> None:
    quota, capacities = RUNS[run]
    _setup(db_url, quota, capacities)
    cap_of = {f"r{i:02d}": c for i, c in enumerate(capacities)}

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db_url, barrier, results)) for _ in range(PROCESSES)]
    started = time.monotonic()
    for p in procs:
        p.start()
    reports = []
    try:
        for _ in procs:
            reports.append(results.get(timeout=WAIT))
    except queue_module.Empty:
        pytest.fail(f"a worker did not report within {WAIT} s; reports so far: {reports}")
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.kill()
                p.join()
    elapsed = time.monotonic() - started
    errors = [r[2] for r in reports if r[0] == "error"]
    assert not errors, "\n".join(errors)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    batches = sum(r[2] for r in reports)
    retries = sum(r[3] for r in reports)
    reported = sum(r[4] for r in reports)
    assert sum(r[5] for r in reports) == 0, "batches saw leads change under them: the team lock did not hold"
    assert sum(1 for r in reports if r[2]) >= 2, reports  # the batches really came from several processes
    print(f"\n{run} on {db_url.split(':')[0]}: {elapsed:.1f} s, {batches} batches, {retries} retries, per process {sorted(r[2] for r in reports)}")

    engine = make_engine(db_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            leads = s.execute(select(Lead.id, Lead.state, Lead.owner_id, Lead.weight, Lead.is_open)).all()
            assert len(leads) == LEADS
            states = Counter(lead.state for lead in leads)
            assert states["new"] == 0, states
            assert set(states) <= {"owned", "pool", "escalated"}
            # exactly one owner, or none in the pool
            assert all((lead.state == "owned") == (lead.owner_id is not None) for lead in leads)
            owner_of = {lead.id: lead.owner_id for lead in leads if lead.state == "owned"}
            assert len(owner_of) == reported

            # caps and quotas, from the stored rows
            load: dict[str, float] = defaultdict(float)
            for lead in leads:
                if lead.state == "owned" and lead.is_open:
                    load[lead.owner_id] += lead.weight
            assert all(load[rep] <= cap_of[rep] for rep in load), dict(load)
            assigned_rows = s.execute(select(AuditEvent.lead_id, AuditEvent.to_rep_id).where(AuditEvent.action == "assign")).all()
            per_rep_today = Counter(
                rep
                for rep, in s.execute(
                    select(AuditEvent.to_rep_id).where(AuditEvent.action.in_(("assign", "reassign", "claim")), AuditEvent.to_rep_id.is_not(None))
                )
            )
            assert all(n <= quota for n in per_rep_today.values()), per_rep_today

            # round robin among equal reps: spread at most one
            owned = Counter(owner_of.values())
            for capacity in set(capacities):
                group = [owned.get(rep, 0) for rep, c in cap_of.items() if c == capacity]
                assert max(group) - min(group) <= 1, (capacity, owned)

            # one `assign` row per assigned lead, naming its owner; one decision row per lead
            assert Counter(lead_id for lead_id, _ in assigned_rows) == Counter(owner_of.keys())
            assert dict(assigned_rows) == owner_of
            decided = Counter(
                lead_id for lead_id, in s.execute(select(AuditEvent.lead_id).where(AuditEvent.action.in_(("assign", "pool", "escalate"))))
            )
            assert len(decided) == LEADS and set(decided.values()) == {1}

            # the ledger: no duplicate key, one `took` entry per assigned lead, `busy` within its cap
            keys = list(s.scalars(select(PointEntry.key)))
            assert len(keys) == len(set(keys))
            took = dict(s.execute(select(PointEntry.lead_id, PointEntry.rep_id).where(PointEntry.rule == "took")).all())
            assert took == owner_of
            busy = dict(s.execute(select(PointEntry.rep_id, func.sum(PointEntry.amount)).where(PointEntry.rule == "busy").group_by(PointEntry.rep_id)).all())
            assert all(float(total) <= 35 for total in busy.values()), busy

            # the rotation state was written once per batch: the batches ran one after another
            assert s.scalars(select(RotationState.revision)).one() == batches
            reps = s.scalar(select(func.count()).select_from(Rep))
            assert reps == REPS

        if run == "roomy":
            assert states["owned"] == LEADS and set(owned.values()) == {LEADS // REPS}
        else:
            # five reps stop at their cap (30), five at the daily quota (40); the rest waits in the pool
            assert owned == {**{f"r{i:02d}": 30 for i in range(5)}, **{f"r{i:02d}": 40 for i in range(5, 10)}}
            assert states["pool"] == LEADS - 350
    finally:
        engine.dispose()

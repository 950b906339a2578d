"""The reclaim sweep racing follow-ups on the same leads, many rounds, on SQLite and on PostgreSQL.

Each round the parent adds and assigns fresh leads, then a sweeper process (small batches, so its
transactions interleave with the others) and three follower processes (each logging a follow-up
on every lead of one rep, in a shuffled order) start together at the same clock, when every lead
is past its deadline. Every lead is contested: afterwards, computed from the stored rows, the
leads whose follow-up was recorded and the leads the sweep reclaimed split the round's leads
exactly — no followed-up lead was reclaimed, every refused follow-up was on a reclaimed lead and
was refused as such, and every reclaim has exactly one audit row.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
import time
import traceback
from typing import Any

import pytest
from sqlalchemy import func, select

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, FollowUp, Lead
from configurator.services import assignment as assign_svc
from configurator.services import leads as leads_svc
from configurator.services import pool as pool_svc
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.templates import ServiceError
from rule_engine import Rep

ROUNDS = 6
LEADS_PER_ROUND = 45
FOLLOWERS = 3
SWEEP_BATCH = 4
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
WAIT = 120  # a safety net against a hang, not a speed target

TEMPLATE = """\
fenpei: 1
name: race_pool
title: {zh: 回收竞争, en: Reclaim race}
timezone: Asia/Shanghai
fields:
  company: {type: string}
load:
  default_weight: 1
assignment:
  policies:
    - {name: rotation, strategy: round_robin, on_no_candidate: pool}
reclaim:
  rules:
    - {name: cold, since: last_followup, days: 2, action: pool, notify: [owner, manager]}
points:
  period: month
  rules:
    - {name: touch, "on": followup.logged, amount: 1}
    - {name: lost, "on": lead.reclaimed, amount: -1, to: previous_owner}
"""

REPS = [Rep(f"r{i}", f"Rep {i}", manager="boss") for i in range(FOLLOWERS)]


def _clock(round_no: int) -> tuple[dt.datetime, dt.datetime]:
    """When the round's leads are assigned, and when the race happens (past the deadline)."""
    start = T0 + dt.timedelta(days=5 * round_no)
    return start, start + dt.timedelta(days=2, minutes=30)


def _sweeper(db_url: str, barrier: Any, results: Any) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    try:
        for round_no in range(ROUNDS):
            barrier.wait(WAIT)
            _, race = _clock(round_no)
            result = pool_svc.run_sweep(sessions, "east", race, batch=SWEEP_BATCH, actor="sweeper")
            results.put(("sweep", round_no, sorted(r["lead"] for r in result.reclaimed)))
            barrier.wait(WAIT)
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put(("error", -1, traceback.format_exc()))
    finally:
        engine.dispose()


def _follower(db_url: str, rep: str, barrier: Any, results: Any) -> None:
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    rng = random.Random(rep)
    try:
        for round_no in range(ROUNDS):
            barrier.wait(WAIT)
            _, race = _clock(round_no)
            with session_scope(sessions) as s:
                # the leads the round assigned to this rep (the sweep may already have taken some: those are contested too)
                mine = list(
                    s.scalars(
                        select(AuditEvent.lead_id).where(AuditEvent.action == "assign", AuditEvent.to_rep_id == rep, AuditEvent.lead_id.like(f"R{round_no}-%")).order_by(AuditEvent.lead_id)
                    )
                )
            rng.shuffle(mine)
            done, refused = [], []
            for lead_id in mine:
                try:
                    with session_scope(sessions, write_lock=True) as s:
                        pool_svc.log_followup(s, lead_id, rep, {"note": "called"}, race)
                    done.append(lead_id)
                except ServiceError as exc:
                    refused.append((lead_id, exc.problems[0].code))
            results.put(("follow", round_no, (rep, sorted(mine), done, refused)))
            barrier.wait(WAIT)
    except Exception:  # noqa: BLE001 - reported to the parent
        results.put(("error", -1, traceback.format_exc()))
    finally:
        engine.dispose()


def _prepare_round(sessions: Any, round_no: int) -> None:
    start, _ = _clock(round_no)
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        version = tmpl_svc.get_version(s, "race_pool")
        for i in range(LEADS_PER_ROUND):
            leads_svc.add_lead(s, team, version, {"id": f"R{round_no}-{i:03d}", "company": f"Co {i}"}, start - dt.timedelta(hours=1))
    with session_scope(sessions, write_lock=True) as s:
        result = assign_svc.assign_pending(s, teams_svc.get_team(s, "east"), start)
        assert len(result.assigned) == LEADS_PER_ROUND


@pytest.mark.slow
def test_reclaim_sweep_racing_followups(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        tmpl_svc.publish(s, "race_pool")
        team = teams_svc.create_team(s, "east", "East", "race_pool")
        teams_svc.upsert_reps(s, team, REPS)

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(FOLLOWERS + 2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_sweeper, args=(db_url, barrier, results))]
    procs += [ctx.Process(target=_follower, args=(db_url, rep.id, barrier, results)) for rep in REPS]
    for p in procs:
        p.start()
    contested_total = 0
    outcomes = {"followed": 0, "reclaimed": 0}
    try:
        for round_no in range(ROUNDS):
            _prepare_round(sessions, round_no)
            began = time.monotonic()
            barrier.wait(WAIT)  # go
            reports = [results.get(timeout=WAIT) for _ in procs]
            errors = [r[2] for r in reports if r[0] == "error"]
            assert not errors, "\n".join(errors)
            barrier.wait(WAIT)  # round over
            # the sweep may also take earlier rounds' leads, whose follow-ups have gone cold since
            swept = [lead for lead in next(r[2] for r in reports if r[0] == "sweep") if lead.startswith(f"R{round_no}-")]
            follows = [r[2] for r in reports if r[0] == "follow"]
            done = {lead for _, _, ok, _ in follows for lead in ok}
            refused = {lead: code for _, _, _, no in follows for lead, code in no}
            attempted = {lead for _, mine, _, _ in follows for lead in mine}

            with session_scope(sessions) as s:
                rows = s.execute(select(Lead.id, Lead.state, Lead.owner_id, Lead.previous_owner_id, Lead.followup_count).where(Lead.id.like(f"R{round_no}-%"))).all()
                reclaimed = {r.id for r in rows if r.state == "pool"}
                followed = {r.id for r in rows if r.state == "owned" and r.followup_count == 1}
                audits = dict(
                    s.execute(
                        select(AuditEvent.lead_id, func.count()).where(AuditEvent.action == "reclaim", AuditEvent.lead_id.like(f"R{round_no}-%")).group_by(AuditEvent.lead_id)
                    ).all()
                )
                recorded = set(s.scalars(select(FollowUp.lead_id).where(FollowUp.lead_id.like(f"R{round_no}-%"))))
            ids = {r.id for r in rows}
            assert attempted == ids, "every lead of the round was contested"
            assert reclaimed.isdisjoint(done), f"followed-up leads were reclaimed: {sorted(reclaimed & done)}"
            assert reclaimed | done == ids and followed == done == recorded
            assert set(swept) == reclaimed
            assert set(refused) == reclaimed and set(refused.values()) <= {"followup.reclaimed"}
            assert audits == dict.fromkeys(reclaimed, 1), "every reclaim has exactly one audit row"
            assert all(r.owner_id is None and r.previous_owner_id is not None for r in rows if r.id in reclaimed)
            contested_total += len(ids)
            outcomes["followed"] += len(done)
            outcomes["reclaimed"] += len(reclaimed)
            print(f"round {round_no}: {len(done)} followed up, {len(reclaimed)} reclaimed, {time.monotonic() - began:.1f} s")
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.kill()
                p.join()
        engine.dispose()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert contested_total == ROUNDS * LEADS_PER_ROUND
    assert outcomes["followed"] and outcomes["reclaimed"], f"the race had one winner only: {outcomes}"

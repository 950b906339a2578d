"""The roster's figures a sweep carries from batch to batch (pool.SweepCarry) are the figures the
database would give at that moment; a write by anything else between two batches makes the next
batch read them again. Both databases (on PostgreSQL the figures are always read)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, Lead
from configurator.services import assignment as assign_svc
from configurator.services import leads as leads_svc
from configurator.services import pool
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.roster import figures
from rule_engine import Rep

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY = dt.timedelta(days=1)

# Tier A is re-offered after a reclaim (loads and caps matter), tier B goes to the pool; no points
# for the sweep's own events (the carry is not used when they earn any).
TEMPLATE = """\
fenpei: 1
name: carry_test
title: {zh: 负载延续测试, en: Carry test}
timezone: Asia/Shanghai
fields:
  company: {type: string}
  tier: {type: enum, options: [A, B]}
load:
  default_weight: 1
  weights:
    - {when: 'tier == "A"', weight: 1.5}
  cap: 9
assignment:
  policies:
    - {name: least_loaded, strategy: least_loaded, on_no_candidate: escalate}
reclaim:
  rules:
    - name: key_stale
      title: {zh: A 类 3 天未跟进改派, en: Tier A not followed up for 3 days}
      since: last_followup
      days: 3
      when: 'tier == "A"'
      action: reassign
      notify: [owner, manager]
    - name: no_first_followup
      title: {zh: 3 天未首次跟进, en: No first follow-up within 3 days}
      since: assigned
      days: 3
      when: 'followup_count == 0'
      action: pool
"""

REPS = [Rep("r1", "Ann", {}, manager="m1"), Rep("r2", "Bo", {}, manager="m1"), Rep("r3", "Cy", {}, manager="m2"), Rep("r4", "Di", {}, manager="m2")]
TIERS = "AABABAAABBAAABAAAB"


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        version = tmpl_svc.publish(s, "carry_test")
        team = teams_svc.create_team(s, "east", "East", "carry_test")
        teams_svc.upsert_reps(s, team, REPS)
        for i, tier in enumerate(TIERS):
            leads_svc.add_lead(s, team, version, {"id": f"L{i:02d}", "company": "Acme", "tier": tier}, T0 - dt.timedelta(hours=1))
    with session_scope(factory, write_lock=True) as s:
        assign_svc.assign_pending(s, teams_svc.get_team(s, "east"), T0)
    yield factory
    engine.dispose()


def _checked_carry(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every figures a batch takes from the one before are compared with a fresh read; returns, per take, whether there were any."""
    taken: list[bool] = []
    original = pool.SweepCarry.take

    def take(self: pool.SweepCarry, session: Session, team: Any, version: Any, now: dt.datetime) -> Any:
        kept = original(self, session, team, version, now)
        taken.append(kept is not None)
        if kept is not None:
            fresh = figures(session, team, tmpl_svc.compiled(version), now)
            zero = (0.0, 0, 0)  # a rep left without leads has no row in the query's answer
            assert {rep: v for rep, v in kept.loads.items() if v != zero} == {rep: (round(load, 9), n, held) for rep, (load, n, held) in fresh.loads.items() if (load, n, held) != zero}
            assert {rep: c for rep, c in kept.counts.items() if c != (0, 0)} == fresh.counts
            assert kept.claims == fresh.claims and kept.points == fresh.points
        return kept

    monkeypatch.setattr(pool.SweepCarry, "take", take)
    return taken


def _state(sessions: sessionmaker[Session]) -> dict[str, tuple[str, str | None]]:
    with session_scope(sessions) as s:
        return {lead.id: (lead.state, lead.owner_id) for lead in s.scalars(select(Lead))}


def test_carried_figures_are_what_the_database_says(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    taken = _checked_carry(monkeypatch)
    result = pool.run_sweep(sessions, "east", T0 + 5 * DAY, batch=3)
    assert len(result.reclaimed) == len(TIERS) and result.reassigned and len(result.reassigned) + len(result.escalated) == TIERS.count("A")
    assert any(taken) == db_url.startswith("sqlite")  # PostgreSQL always reads them
    with session_scope(sessions) as s:  # no rep above its cap: loads as the database counts them
        team = teams_svc.get_team(s, "east")
        now = figures(s, team, tmpl_svc.compiled(tmpl_svc.get_version(s, "carry_test")), T0 + 5 * DAY)
    assert all(load <= 9 for load, _, _ in now.loads.values())


def test_a_write_between_batches_makes_the_next_batch_read_the_figures(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    taken = _checked_carry(monkeypatch)
    owner = _state(sessions)["L17"][1]
    assert owner is not None
    done: list[int] = []

    def between(total: pool.SweepResult) -> None:
        done.append(len(taken))
        if len(done) == 2:  # after the second batch: the owner gives a lead of a later batch back
            with session_scope(sessions, write_lock=True) as s:
                pool.release(s, "L17", owner, "customer asked for someone else", T0 + 5 * DAY)

    result = pool.run_sweep(sessions, "east", T0 + 5 * DAY, batch=3, progress=between)
    assert "L17" not in {r["lead"] for r in result.reclaimed}
    if db_url.startswith("sqlite"):
        assert taken[done[1]] is False  # the batch after the release read the figures again
        assert any(taken[done[1] + 1 :])  # and carried them on from there
    with session_scope(sessions) as s:
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.lead_id == "L17").order_by(AuditEvent.id.desc()).limit(1)) == "release"

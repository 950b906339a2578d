"""The sweep's SQL filter keeps every lead the engine would remind or reclaim, and narrows by the
stored counters a rule requires (``followup_count == 0``), on SQLite and on PostgreSQL (``db_url``).

A lead the filter drops is never looked at by the engine, so the filter may keep too much but
never too little: every lead here is decided by the engine too, and the two are compared.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import Lead
from configurator.services import pool
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from configurator.services.leads import record_of
from rule_engine import Rep
from rule_engine.reclaim import verdict_for

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DAY = dt.timedelta(days=1)

TEMPLATE = """\
fenpei: 1
name: sweep_filter
title: {zh: 回收筛选, en: Sweep filter}
timezone: Asia/Shanghai
fields:
  tier: {type: enum, options: [A, B]}
load:
  default_weight: 1
assignment:
  policies:
    - {name: rotation, strategy: round_robin, on_no_candidate: pool}
reclaim:
  rules:
    # A counter in a conjunction, written either way round: narrowed in SQL.
    - {name: untouched, since: assigned, days: 3, when: 'followup_count == 0 and tier == "B"', remind_before_days: 1}
    - {name: untouched_mirrored, since: created, days: 9, when: '0 == followup_count', remind_before_days: 1}
    - {name: once_reclaimed, since: assigned, days: 5, when: 'tier == "A" and (reclaim_count >= 1 and followup_count < 2)'}
    # A counter under `or` or `not` says nothing on its own: not narrowed.
    - {name: either, since: last_followup, days: 6, when: 'followup_count > 3 or tier == "A"', remind_before_days: 2}
    - {name: negated, since: last_followup, days: 8, when: 'not (followup_count == 0)'}
    - {name: plain, since: last_followup, days: 12}
"""


@pytest.fixture()
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(db_url)
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_required_counters_are_the_conjuncts_that_compare_a_counter_with_a_number(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        template = tmpl_svc.compiled(tmpl_svc.publish(s, "sweep_filter"))
    assert template.reclaim is not None
    required = {rule.name: pool._required_counts(rule.when) for rule in template.reclaim.rules}
    assert required == {
        "untouched": (("followup_count", "==", 0),),
        "untouched_mirrored": (("followup_count", "==", 0),),
        "once_reclaimed": (("followup_count", "<", 2), ("reclaim_count", ">=", 1)),
        "either": (),
        "negated": (),
        "plain": (),
    }


def test_filter_keeps_every_lead_the_engine_would_remind_or_reclaim(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        tmpl_svc.import_draft(s, TEMPLATE)
        version = tmpl_svc.publish(s, "sweep_filter")
        team = teams_svc.create_team(s, "east", "华东", "sweep_filter")
        teams_svc.upsert_reps(s, team, [Rep("r1", "Ann")])
        team_id, version_id, template = team.id, version.id, tmpl_svc.compiled(version)
    now_utc = NOW.astimezone(dt.timezone.utc)
    rows: list[dict[str, Any]] = []
    # Every combination of tier, counters and clock ages around the rules' deadlines and reminders.
    ages = (0.5, 2.5, 3.5, 5.5, 7.5, 8.5, 11.5, 13)
    for n, (tier, followups, reclaims, assigned_age, last_age) in enumerate(itertools.product("AB", (0, 1, 2, 4), (0, 1), ages, (None, 1.5, 4.5, 6.5, 9))):
        assigned = now_utc - assigned_age * DAY
        last = None if followups == 0 or last_age is None else max(assigned, now_utc - last_age * DAY)
        rows.append(
            {
                "id": f"L{n:05d}",
                "team_id": team_id,
                "fields": {"tier": tier},
                "outputs": {},
                "weight": 1.0,
                "is_open": True,
                "state": "owned",
                "owner_id": "r1",
                "from_pool": False,
                "locked": False,
                "created_at": assigned - DAY,
                "assigned_at": assigned,
                "first_followup_at": last,
                "last_followup_at": last,
                "followup_count": followups,
                "reclaim_count": reclaims,
                "template_version_id": version_id,
                "revision": 1,
            }
        )
    with session_scope(sessions) as s:
        s.execute(insert(cast(Table, Lead.__table__)), rows)
    with session_scope(sessions) as s:
        candidates = set(s.scalars(select(Lead.id).where(Lead.team_id == team_id, pool._due_filter(template, NOW))))
        due = set()
        for lead in s.scalars(select(Lead)):
            L = template.values(record_of(template, lead), NOW)
            template.grade(L)
            if verdict_for(template.reclaim, L, NOW).action in ("remind", "reclaim"):
                due.add(lead.id)
    assert due, "the cases must include due leads"
    assert due <= candidates, sorted(due - candidates)[:10]
    assert len(candidates) < len(rows), "the counters narrowed nothing"

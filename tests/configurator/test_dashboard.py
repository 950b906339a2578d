"""The manager's dashboard figures (configurator/services/dashboard.py) on a small fixed data set,
each checked against the figures worked out by hand in ``dashboard_support``; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import NOW, World, world
from dashboard_support import DAY, EXPECTED, build
from sqlalchemy.orm import Session

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import Team
from configurator.services import dashboard
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from rule_engine import CompiledTemplate

# configurator/services/pool.py's sweep (which the due list runs as dry runs) still calls
# Result.tuples(), deprecated in SQLAlchemy 2.1; only that warning is let through here.
pytestmark = pytest.mark.filterwarnings("ignore:The Result.tuples:sqlalchemy.exc.SADeprecationWarning")


@pytest.fixture
def installed(db_url: str, tmp_path: Path) -> Iterator[World]:
    w = world(db_url, tmp_path)
    build(w)
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def east(installed: World) -> Iterator[tuple[Session, Team, CompiledTemplate]]:
    with session_scope(workspace_of(installed.app).sessions) as s:
        team = teams_svc.get_team(s, "east")
        yield s, team, tmpl_svc.compiled(tmpl_svc.get_version(s, team.template_name))


@pytest.mark.parametrize(
    ("load", "cap", "light"),
    [(0, 10, "green"), (6.9, 10, "green"), (7, 10, "yellow"), (9.5, 10, "yellow"), (10, 10, "red"), (12, 10, "red"), (3, None, "none"), (0.7, 1, "yellow")],
)
def test_the_light_is_green_below_70_percent_of_the_cap_yellow_up_to_it_red_at_or_over_it(load: float, cap: float | None, light: str) -> None:
    assert dashboard.light_for(load, cap) == light


def test_loads_against_the_cap_with_paused_and_on_leave_reps_marked(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, template = east
    loads = {r.rep_id: r for r in dashboard.rep_loads(s, team, template, NOW)}
    assert {rep: (r.load, r.light, r.unavailable) for rep, r in loads.items()} == EXPECTED["loads"]
    assert {r.cap for r in loads.values()} == {10.0}
    assert loads["r01"].open_count == 3 and loads["r03"].open_count == 4  # W1 is won: not open, not in the load


def test_open_leads_by_grade_count_every_state_and_leave_out_won_leads(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, template = east
    assert dashboard.grade_table(template) == "tier"
    assert dashboard.grade_table(template, "value") == "value" and dashboard.grade_table(template, "score") == "tier"  # score is a number
    grades = dashboard.open_by_grade(s, team, template, "tier")
    assert [g.grade for g in grades] == ["A", "B", "C"]
    assert {g.grade: (g.owned, g.pool, g.other) for g in grades} == EXPECTED["open_by_grade"]


def test_the_pool_counts_its_leads_and_names_the_one_waiting_longest(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, _ = east
    summary = dashboard.pool_summary(s, team)
    assert (summary.count, summary.oldest_lead, summary.oldest_since) == EXPECTED["pool"]


def test_leads_due_come_from_dry_run_sweeps_on_each_of_the_next_days(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, _ = east
    due = dashboard.due_soon(s, team, NOW, days=7)
    assert {(d.lead_id, d.kind): d.day for d in due} == EXPECTED["due7"]
    assert [d.day for d in due] == sorted(d.day for d in due)
    by_lead = {d.lead_id: d for d in due}
    assert by_lead["H2"].rule == "key_account_stale" and by_lead["H2"].then == "reassign" and by_lead["H2"].deadline == NOW - DAY
    assert by_lead["LA"].rule == "no_first_followup" and by_lead["LA"].deadline == NOW + 2 * DAY and by_lead["LA"].owner == "r02"
    assert by_lead["H4"].rule == "stale" and by_lead["H4"].deadline == NOW + 5 * DAY
    assert "回收" in by_lead["LA"].sentence("zh") and "reclaimed by rule no_first_followup" in by_lead["LA"].sentence("en")
    # a shorter horizon shows H4's reminder (two days before its deadline) instead of its reclaim
    assert {(d.lead_id, d.kind): d.day for d in dashboard.due_soon(s, team, NOW, days=3)} == EXPECTED["due3"]


def test_nothing_is_written_by_the_due_list(installed: World) -> None:
    sessions = workspace_of(installed.app).sessions
    with session_scope(sessions) as s:
        team = teams_svc.get_team(s, "east")
        dashboard.due_soon(s, team, NOW, days=7)
    with session_scope(sessions) as s:
        from sqlalchemy import func, select

        from configurator.models import AuditEvent, Lead, Notification

        assert s.scalar(select(func.count()).select_from(Notification)) == 0
        assert s.scalar(select(func.count()).where(AuditEvent.action == "reclaim")) == 0
        assert s.scalar(select(Lead.state).where(Lead.id == "H2")) == "owned"


def test_fairness_per_day_counts_leads_given_by_rules_or_managers_in_the_team_timezone(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, template = east
    periods = dashboard.fairness_over_time(s, team, template, NOW, "day", 3)
    got = {p.label: (p.counts, p.spread, round(p.gini, 4)) for p in periods}
    assert got == EXPECTED["fairness_days"]
    assert [p.label for p in periods] == sorted(got)


def test_fairness_per_week_adds_the_days_of_the_iso_week(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, template = east
    periods = dashboard.fairness_over_time(s, team, template, NOW, "week", 2)
    assert [p.label for p in periods] == ["2026-W47", "2026-W48"]
    # Monday 11-23 opens W48; Saturday 11-21 and Sunday 11-22 are in W47
    assert periods[0].counts == {"r01": 1, "r02": 1, "r03": 2} and periods[1].counts == {"r01": 2, "r02": 1, "r03": 0}


def test_first_response_and_follow_up_rates_per_rep_and_for_the_team(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, _ = east
    per_rep, total = dashboard.response_rates(s, team, NOW)
    assert {r.rep_id: (r.owned, r.responded, r.followed_up) for r in per_rep} == EXPECTED["rates"]
    assert (total.owned, total.responded, total.followed_up) == EXPECTED["team_rates"]
    assert total.first_response_rate == pytest.approx(3 / 8) and total.followup_rate == pytest.approx(2 / 8)


def test_conversion_by_grade_uses_the_templates_won_when(east: tuple[Session, Team, CompiledTemplate]) -> None:
    s, team, template = east
    conversion = dashboard.conversion_by_grade(s, team, template, "tier", NOW)
    assert conversion is not None
    assert {c.grade: (c.leads, c.won) for c in conversion} == EXPECTED["conversion"]
    assert next(c for c in conversion if c.grade == "A").rate == pytest.approx(1 / 6)

"""Compare with published: what publishing a draft would change for the stored leads (grade
changes, owners no longer eligible), read without writing anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import NOW, ROOT, world
from sqlalchemy import func, select

from configurator.app import workspace_of
from configurator.db import session_scope
from configurator.models import AuditEvent, Lead
from configurator.services import impact
from configurator.services import templates as tmpl_svc
from configurator.services.templates import ServiceError
from rule_engine import loads_template

SOURCE = (ROOT / "templates" / "b2b_software.yaml").read_text(encoding="utf-8")
# Tier C leads go to junior reps; this version lets senior reps own them too.
SENIORS_TOO = SOURCE.replace("eligible: 'rep.level == \"junior\"'", "eligible: 'rep.level in [\"junior\", \"senior\"]'")


@pytest.fixture
def w(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    built = world(db_url, tmp_path)
    yield built
    built.close()


def _compare(w, source: str):  # type: ignore[no-untyped-def]
    with session_scope(workspace_of(w.app).sessions) as s:
        return impact.compare_with_published(s, "b2b_software", loads_template(source), NOW)


def test_an_unchanged_draft_changes_nothing(w) -> None:  # type: ignore[no-untyped-def]
    result = _compare(w, SOURCE)
    assert result.leads == 4 and result.teams == ["east", "west"]
    assert result.changed_leads == 0 and result.transitions == {} and result.ineligible_count == 0


def test_a_lower_threshold_moves_leads_up_a_tier(w) -> None:  # type: ignore[no-untyped-def]
    # The world's leads score 30 (finance 20, 200-999 employees 10): tier C; at 25 they are tier A.
    result = _compare(w, SOURCE.replace("score >= 60", "score >= 25"))
    assert result.changed_leads == 4
    assert dict(result.transitions["tier"]) == {("C", "A"): 4}
    assert {(g.lead, g.table, g.before, g.after) for g in result.grade_changes} == {(lead, "tier", "C", "A") for lead in ("LA", "LB", "LP", "LW")}
    # Tier A needs a senior rep of the lead's region: the world's senior reps cover it, no owner loses the lead.
    assert result.ineligible_count == 0
    assert result.to_json()["transitions"] == {"tier": [{"from": "C", "to": "A", "leads": 4}]}


def test_owners_who_would_no_longer_qualify_are_listed_and_nothing_is_written(w) -> None:  # type: ignore[no-untyped-def]
    with session_scope(workspace_of(w.app).sessions, write_lock=True) as s:
        tmpl_svc.import_draft(s, SENIORS_TOO)
        tmpl_svc.publish(s, "b2b_software", now=NOW)
    with session_scope(workspace_of(w.app).sessions) as s:
        before = (s.scalar(select(func.count()).select_from(AuditEvent)), sorted(s.execute(select(Lead.id, Lead.owner_id, Lead.outputs)).all()))
    result = _compare(w, SOURCE)  # back to junior reps only
    owned = {("LA", "east", "r02"), ("LB", "east", "r03"), ("LW", "west", "w01")}
    assert {(o.lead, o.team, o.owner) for o in result.ineligible} == owned
    assert result.ineligible_count == 3
    assert all(o.policy == "starter_accounts" and o.condition == 'rep.level == "junior"' for o in result.ineligible)
    assert result.changed_leads == 0  # the grades are the same; only eligibility changed
    with session_scope(workspace_of(w.app).sessions) as s:
        after = (s.scalar(select(func.count()).select_from(AuditEvent)), sorted(s.execute(select(Lead.id, Lead.owner_id, Lead.outputs)).all()))
    assert after == before


def test_examples_are_bounded_but_counts_are_complete(w) -> None:  # type: ignore[no-untyped-def]
    with session_scope(workspace_of(w.app).sessions) as s:
        result = impact.compare_with_published(s, "b2b_software", loads_template(SOURCE.replace("score >= 60", "score >= 25")), NOW, limit=1)
    assert len(result.grade_changes) == 1 and result.changed_leads == 4


def test_a_template_never_published_has_nothing_to_compare_with(w) -> None:  # type: ignore[no-untyped-def]
    with session_scope(workspace_of(w.app).sessions) as s, pytest.raises(ServiceError):
        impact.compare_with_published(s, "medical_devices", loads_template(SOURCE), NOW)

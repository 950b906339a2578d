"""What publishing a draft would change for the leads already stored: "Compare with published".

Every lead of the teams that use the template is graded twice at the same moment, once with the
published version and once with the draft, so the only differences are the draft's. Two kinds of
change are reported:

- **grades**: a table's output differs (``tier`` B → A), counted per table and transition;
- **owners no longer eligible**: an owned lead's current owner passes the ``eligible`` condition
  of the policy that handles the lead under the published version, but not under the draft
  (the check a ``reassign_if_ineligible`` trigger makes; caps and quotas concern new leads only).

Nothing is written. The leads are read in keyset batches of plain columns (no ORM objects) and
each team's roster once (:func:`configurator.services.roster.snapshot`, a fixed number of
queries), so the database work does not grow with a query per lead; the grading itself is the
engine's, one compiled template each.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.models import Lead, Team
from configurator.services.leads import RECORD_COLUMNS, record_of
from configurator.services.roster import snapshot
from configurator.services.templates import compiled, get_version
from rule_engine import CompiledTemplate, Rep
from rule_engine.assignment import owner_eligible
from rule_engine.errors import FenpeiError

__all__ = ["GradeChange", "Impact", "OwnerChange", "compare_with_published"]

BATCH = 2000
_COLUMNS = (*RECORD_COLUMNS, Lead.team_id, Lead.state)


@dataclass(frozen=True)
class GradeChange:
    """One lead whose grade in one table would change."""

    lead: str
    team: str
    table: str
    before: Any
    after: Any


@dataclass(frozen=True)
class OwnerChange:
    """One owned lead whose owner would no longer qualify for the policy that handles it."""

    lead: str
    team: str
    owner: str
    policy: str
    condition: str | None


@dataclass
class Impact:
    """The changes for the stored leads if the draft were published."""

    template: str
    version: int
    leads: int = 0
    changed_leads: int = 0
    transitions: dict[str, Counter[tuple[str, str]]] = field(default_factory=dict)
    grade_changes: list[GradeChange] = field(default_factory=list)
    ineligible: list[OwnerChange] = field(default_factory=list)
    ineligible_count: int = 0
    errors: int = 0
    teams: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "template": self.template,
            "version": self.version,
            "teams": self.teams,
            "leads": self.leads,
            "changed_leads": self.changed_leads,
            "transitions": {t: [{"from": a, "to": b, "leads": n} for (a, b), n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))] for t, c in self.transitions.items()},
            "grade_changes": [vars(g) for g in self.grade_changes],
            "ineligible_count": self.ineligible_count,
            "ineligible": [vars(o) for o in self.ineligible],
            "errors": self.errors,
        }


def _shown(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _rows(session: Session, team_ids: list[int]) -> Iterator[Any]:
    """The teams' leads, a keyset batch of plain rows at a time."""
    after = ""
    while True:
        batch = session.execute(select(*_COLUMNS).where(Lead.team_id.in_(team_ids), Lead.id > after).order_by(Lead.id).limit(BATCH)).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def _graded(template: CompiledTemplate, row: Any, now: dt.datetime) -> dict[str, Any] | None:
    L = template.values(record_of(template, row), now)
    try:
        template.grade(L)
    except FenpeiError:
        return None
    return L


def _policy(template: CompiledTemplate, L: Mapping[str, Any]) -> Any:
    """The policy that handles a lead with values ``L`` (the first whose ``when`` holds)."""
    for p in template.assignment.policies:
        if p.when is None or p.when.fn(L, None):
            return p
    return None


def _eligible(template: CompiledTemplate, L: Mapping[str, Any], owner: Rep, now: dt.datetime) -> tuple[bool, str | None, str | None]:
    policy = _policy(template, L)
    if policy is None:
        return True, None, None
    try:
        ok, failed = owner_eligible(template, policy, L, owner, now)
    except FenpeiError:
        return True, policy.name, None
    return ok, policy.name, failed


def compare_with_published(session: Session, name: str, draft: CompiledTemplate, now: dt.datetime, *, limit: int = 50) -> Impact:
    """What would change for the stored leads of template ``name`` if ``draft`` were published.

    ServiceError when ``name`` has no published version. ``limit`` bounds the example lists
    (the counts are always complete).
    """
    version = get_version(session, name)
    published = compiled(version)
    impact = Impact(template=name, version=version.version)
    teams = session.scalars(select(Team).where(Team.template_name == name).order_by(Team.slug)).all()
    impact.teams = [t.slug for t in teams]
    if not teams:
        return impact
    slugs = {t.id: t.slug for t in teams}
    rosters_before = {t.id: {r.id: r for r in snapshot(session, t, published, now)} for t in teams}
    rosters_after = {t.id: {r.id: r for r in snapshot(session, t, draft, now)} for t in teams}
    tables = [t.name for t in draft.segments]
    for row in _rows(session, list(slugs)):
        impact.leads += 1
        before = _graded(published, row, now)
        after = _graded(draft, row, now)
        if before is None or after is None:
            impact.errors += after is None
            continue
        changed = False
        for table in tables:
            a, b = before.get(table), after.get(table)
            if a == b:
                continue
            changed = True
            impact.transitions.setdefault(table, Counter())[(_shown(a), _shown(b))] += 1
            if len(impact.grade_changes) < limit:
                impact.grade_changes.append(GradeChange(row.id, slugs[row.team_id], table, a, b))
        impact.changed_leads += changed
        if row.state != "owned" or not row.owner_id:
            continue
        owner_before = rosters_before[row.team_id].get(row.owner_id)
        owner_after = rosters_after[row.team_id].get(row.owner_id)
        if owner_before is None or owner_after is None:
            continue
        ok_before, _, _ = _eligible(published, before, owner_before, now)
        ok_after, policy, failed = _eligible(draft, after, owner_after, now)
        if ok_before and not ok_after and policy is not None:
            impact.ineligible_count += 1
            if len(impact.ineligible) < limit:
                impact.ineligible.append(OwnerChange(row.id, slugs[row.team_id], row.owner_id, policy, failed))
    return impact

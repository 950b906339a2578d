"""Leads in the database and leads as the engine reads them.

A lead's field values are stored as JSON (dates and date-times as ISO 8601 strings, tags as
lists); :func:`record_of` turns a stored lead back into the typed record the engine evaluates.
Intake validates against the template's fields (per-field problems), grades the lead, and
refuses a duplicate of an existing lead by the template's ``unique`` fields.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from configurator.models import Lead, Team, TemplateVersion
from configurator.services.templates import ServiceError, compiled
from rule_engine import CompiledTemplate, InputError, Problem

__all__ = ["FRESH_OWNERSHIP", "Grade", "RECORD_COLUMNS", "add_lead", "dedup_key", "grade_lead", "grade_record", "record_of", "to_json"]

_TIMESTAMPS = ("created_at", "assigned_at", "first_followup_at", "last_followup_at", "reclaimed_at")

# The columns record_of reads: a query selecting them (and any others) gives rows it takes as it
# takes a Lead, without loading ORM objects.
RECORD_COLUMNS = (
    Lead.id,
    Lead.fields,
    Lead.owner_id,
    Lead.previous_owner_id,
    *(getattr(Lead, name) for name in _TIMESTAMPS),
    Lead.followup_count,
    Lead.reclaim_count,
)


# What a change of owner resets: follow-up figures belong to an ownership (the history stays in the
# followups table), so the new owner's reclaim clock starts at their assignment.
FRESH_OWNERSHIP: Mapping[str, Any] = {"first_followup_at": None, "last_followup_at": None, "followup_count": 0, "reminded_at": None}


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Typed field values as JSON-safe values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, (dt.date, dt.datetime)):
            out[key] = value.isoformat()
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def record_of(template: CompiledTemplate, lead: Lead) -> dict[str, Any]:
    """The typed record the engine reads for a stored lead (fields plus the built-in values)."""
    # A field a later template version dropped, or whose value its rules now refuse, is left out.
    record = template.stored_values(lead.fields)
    record["id"] = lead.id
    if lead.owner_id:
        record["owner"] = lead.owner_id
    if lead.previous_owner_id:
        record["previous_owner"] = lead.previous_owner_id
    for name in _TIMESTAMPS:
        value = getattr(lead, name)
        if value is not None:
            record[name] = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    record["followup_count"] = lead.followup_count
    record["reclaim_count"] = lead.reclaim_count
    return record


def dedup_key(template: CompiledTemplate, values: Mapping[str, Any]) -> str | None:
    """A hash of the template's ``unique`` fields (None when the template has none or they are empty)."""
    unique = sorted(name for name, f in template.fields.items() if f.unique)
    parts = [(name, values.get(name)) for name in unique]
    if not parts or all(v in (None, "") for _, v in parts):
        return None
    normalised = [(name, v.strip().lower() if isinstance(v, str) else v) for name, v in parts]
    return hashlib.sha256(json.dumps(to_json(dict(normalised)), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class Grade(NamedTuple):
    """What grading a lead gives: the values its conditions read, and what is stored with it."""

    values: dict[str, Any]
    outputs: dict[str, Any]
    weight: float
    is_open: bool


def grade_record(template: CompiledTemplate, record: Mapping[str, Any], now: dt.datetime, clock: Mapping[str, Any] | None = None) -> Grade:
    """Grade a typed record: table outputs, load weight, and whether it counts as open. May raise EvaluationError."""
    L = template.values(record, now, clock)
    template.grade(L)
    return Grade(L, template.outputs(L), template.load.weight(L), template.load.counts(L))


def grade_lead(template: CompiledTemplate, lead: Lead, now: dt.datetime) -> None:
    """Re-grade a stored lead: its outputs, load weight and whether it is open."""
    grade = grade_record(template, record_of(template, lead), now)
    lead.outputs, lead.weight, lead.is_open = grade.outputs, grade.weight, grade.is_open


def add_lead(
    session: Session,
    team: Team,
    version: TemplateVersion,
    raw: Mapping[str, Any],
    now: dt.datetime,
    *,
    text: bool = False,
) -> Lead:
    """Validate, grade and store one new lead (state ``new``, waiting for assignment).

    Raises InputError with a problem per field, or ServiceError for a duplicate.
    """
    template = compiled(version)
    values, problems = template.lead_record(raw, text=text)
    # Built-in values are the service's to set, not the caller's.
    for name in ("owner", "previous_owner", "assigned_at", "first_followup_at", "last_followup_at", "reclaimed_at", "followup_count", "reclaim_count"):
        values.pop(name, None)
    if problems:
        raise InputError(problems)
    key = dedup_key(template, values)
    if key is not None:
        existing = session.scalar(select(Lead.id).where(Lead.team_id == team.id, Lead.dedup_key == key))
        if existing is not None:
            raise ServiceError(
                Problem.make(
                    "lead.duplicate",
                    "a lead with the same {fields} already exists: {id}",
                    "已存在相同{fields}的线索:{id}",
                    fields=", ".join(n for n, f in template.fields.items() if f.unique),
                    id=existing,
                )
            )
    lead_id = str(values.pop("id", "") or f"L{uuid.uuid4().hex[:12]}")
    created = values.pop("created_at", None) or now
    if session.get(Lead, lead_id) is not None:
        raise ServiceError(Problem.make("lead.id", "lead id {id!r} is already used", "线索 id {id!r} 已被使用", ("id",), id=lead_id))
    lead = Lead(
        id=lead_id,
        team_id=team.id,
        fields=to_json(values),
        dedup_key=key,
        created_at=created.astimezone(dt.timezone.utc) if created.tzinfo else created,  # UTC: SQLite keeps no offset
        state="new",
        template_version_id=version.id,
        followup_count=0,
        reclaim_count=0,
        revision=0,
    )
    grade_lead(template, lead, now)
    session.add(lead)
    session.flush()
    return lead

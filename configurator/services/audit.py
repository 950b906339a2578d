"""The audit trail's one writer for decisions people make by hand (claims, releases, reassignments,
reversals, edits): who, when, why, which rule and template version, and the sentence in both
languages. Engine decisions store their decision record instead (see ``assignment.audit_explanation``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from configurator.models import AuditEvent

__all__ = ["record"]

AUDIT = cast(Table, AuditEvent.__table__)


def record(
    session: Session,
    *,
    at: dt.datetime,
    team_id: int | None,
    actor: str,
    action: str,
    en: str,
    zh: str,
    lead_id: str | None = None,
    from_rep: str | None = None,
    to_rep: str | None = None,
    rule: str | None = None,
    version_id: int | None = None,
    reason: str | None = None,
    job_id: int | None = None,
    **details: Any,
) -> None:
    """Append one audit row; ``details`` are kept beside the sentences (e.g. the changed fields)."""
    session.execute(
        insert(AUDIT).values(
            at=at,
            team_id=team_id,
            actor=actor,
            action=action,
            lead_id=lead_id,
            from_rep_id=from_rep,
            to_rep_id=to_rep,
            rule=rule,
            template_version_id=version_id,
            reason=reason,
            explanation={"trace": None, "en": en, "zh": zh, **details},
            job_id=job_id,
        )
    )

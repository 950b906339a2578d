"""The append-only records: points ledger and audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from configurator.db import Base

__all__ = ["AuditEvent", "PointEntry"]


class PointEntry(Base):
    """One ledger line. Never edited: a correction is a reversal entry pointing at the original."""

    __tablename__ = "point_entries"
    __table_args__ = (Index("ix_point_entries_rep_period", "rep_id", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the engine's idempotency key
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    rep_id: Mapped[str] = mapped_column(ForeignKey("reps.id"))
    rule: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    period: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(128))
    lead_id: Mapped[str | None] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("point_entries.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditEvent(Base):
    """Who did what to which lead, when, why, under which rule and template version."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_lead", "lead_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # a user, a rep id, or "system"
    action: Mapped[str] = mapped_column(String(32))  # assign | reassign | claim | release | reclaim | remind | handover | publish | ...
    lead_id: Mapped[str | None] = mapped_column(String(64))
    from_rep_id: Mapped[str | None] = mapped_column(String(64))
    to_rep_id: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(64))  # the policy, reclaim rule or trigger that decided
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[dict[str, Any] | None] = mapped_column()  # the decision record (rendered into sentences when read) or, for manual changes, the sentences
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))

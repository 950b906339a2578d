"""Leads and what happens to them: follow-ups, pool claims, handovers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column

from configurator.db import Base

__all__ = ["FollowUp", "Handover", "Lead", "PoolClaim"]


class Lead(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("team_id", "dedup_key"),
        # A team's leads by owner. On SQLite the index also holds what a rep's load is summed
        # from, so the roster's load figures (a GROUP BY over every owned lead, read by every
        # assignment and by the reclaim sweep's re-offers) come from the index alone, ten times
        # faster at 1,000,000 leads. PostgreSQL keeps the narrow index: its index-only scans need
        # a fresh visibility map, which a sweep's updates keep clearing (migration 0011).
        Index("ix_leads_team_owner", "team_id", "owner_id").ddl_if(dialect="postgresql"),
        Index("ix_leads_team_owner_load", "team_id", "owner_id", "state", "is_open", "weight", "from_pool").ddl_if(dialect="sqlite"),
        Index("ix_leads_team_assigned", "team_id", "assigned_at"),
        # A team's leads in one state in id order: the reclaim sweep's keyset batches (and pool
        # listings) walk it instead of sorting every owned lead for every batch.
        Index("ix_leads_team_state_id", "team_id", "state", "id"),
        # One lead per imported row content and team: a re-run of an import stores nothing twice.
        Index("ux_leads_team_import_hash", "team_id", "import_hash", unique=True),
        # PostgreSQL: room on each page for a lead's new row version, so that the frequent updates
        # that change no indexed column (follow-ups, reminder stamps) stay on their page (HOT)
        # and touch none of the indexes (migration 0011).
        {"postgresql_with": {"fillfactor": 90}},
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    fields: Mapped[dict[str, Any]] = mapped_column()  # the template's fields, JSON-typed values
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # segment outputs at last grading
    weight: Mapped[float] = mapped_column(Float, default=0.0)  # load weight while owned and open
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)  # counts toward its owner's load
    # new: waiting for assignment | owned | pool: in the public pool | escalated: waiting for a manager
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    dedup_key: Mapped[str | None] = mapped_column(String(64))  # hash of the template's unique fields
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("reps.id"))
    previous_owner_id: Mapped[str | None] = mapped_column(ForeignKey("reps.id"))
    from_pool: Mapped[bool] = mapped_column(Boolean, default=False)  # claimed from the pool by its owner
    locked: Mapped[bool] = mapped_column(Boolean, default=False)  # contact details hidden until a handover is acknowledged
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_followup_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_followup_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    followup_count: Mapped[int] = mapped_column(Integer, default=0)
    reclaim_count: Mapped[int] = mapped_column(Integer, default=0)
    reclaimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reminded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    won_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))  # since the template's won_when holds (None: not won)
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))
    import_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    import_hash: Mapped[str | None] = mapped_column(String(64))  # hash of the imported row's typed values
    revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every change: conditional updates compare it


class FollowUp(Base):
    __tablename__ = "followups"
    # A rep's follow-ups in a period: activity targets and KPIs count them with one GROUP BY.
    __table_args__ = (Index("ix_followups_rep_at", "rep_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[str] = mapped_column(ForeignKey("reps.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the follow-up form's values
    activity: Mapped[str | None] = mapped_column(String(64))  # the template's activity metric it counts for (targets), if any
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PoolClaim(Base):
    __tablename__ = "pool_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)
    rep_id: Mapped[str] = mapped_column(ForeignKey("reps.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


# A handover still waiting for someone: at most one per lead.
OPEN_HANDOVER = "status IN ('to_fill', 'to_ack')"


class Handover(Base):
    """The checklist that goes with one ownership change (交接).

    ``to_fill``: the previous owner fills the checklist; ``to_ack``: the new owner acknowledges it
    (the lead's contact details stay hidden from them until then); ``done``; ``cancelled``: the
    lead moved again before it was done (a new handover carries the answers on).
    """

    __tablename__ = "handovers"
    __table_args__ = (
        Index("ux_handovers_open_lead", "lead_id", unique=True, sqlite_where=text(OPEN_HANDOVER), postgresql_where=text(OPEN_HANDOVER)),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.id"), index=True)
    from_rep_id: Mapped[str | None] = mapped_column(ForeignKey("reps.id"))
    to_rep_id: Mapped[str] = mapped_column(ForeignKey("reps.id"))
    status: Mapped[str] = mapped_column(String(16), default="to_fill")  # to_fill | to_ack | done | cancelled
    checklist: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"form", "items": [...], "answers": {...}}
    reason: Mapped[str | None] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(64))  # the trigger that moved the lead
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))  # the checklist's version
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    filled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

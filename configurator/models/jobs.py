"""Jobs: the durable record behind every background task (Celery messages only point at them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from configurator.db import Base

__all__ = ["ImportRowProblem", "Job"]


class Job(Base):
    """A unit of background work with its state, lease and progress.

    ``dedup`` makes a job unique (e.g. ``reclaim:team-3:2026-11-23T09``), so two schedulers asking
    for the same periodic run create one job. A worker runs a job only while it holds the lease:
    ``lease_owner`` (``host:pid:token``) until ``lease_until``, renewed after every batch; a
    lease that ran out, or whose holder died on this machine, may be taken over (see
    :mod:`configurator.jobs`). ``enqueued_at`` is when a message for it was last sent.
    """

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("dedup"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # import | assign | reclaim | points_period | redistribute
    dedup: Mapped[str | None] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | running | done | failed
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    template_version_id: Mapped[int | None] = mapped_column(ForeignKey("template_versions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ImportRowProblem(Base):
    """One problem of one row of an import: the downloadable report."""

    __tablename__ = "import_row_problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    row: Mapped[int] = mapped_column(Integer)
    column: Mapped[str | None] = mapped_column(String(128))
    code: Mapped[str] = mapped_column(String(64))
    message_en: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)

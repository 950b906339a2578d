"""Targets and KPIs: target plans (versioned trees per period and metric), results of won deals,
and the weekly health reports."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from configurator.db import Base

__all__ = ["HealthReport", "TargetNode", "TargetPlan", "TargetResult"]


class TargetPlan(Base):
    """One version of the target tree of a metric for a period. Versions are never edited: a
    change makes a new version, in force from ``effective_from``; the old ones are the history."""

    __tablename__ = "target_plans"
    __table_args__ = (UniqueConstraint("template_name", "period", "metric", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_name: Mapped[str] = mapped_column(String(64))  # the template whose `targets` defines the metric
    period: Mapped[str] = mapped_column(String(16))  # 2026-11 | 2026-Q4 | 2026
    period_kind: Mapped[str] = mapped_column(String(8))  # month | quarter | year
    metric: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(Text)  # the plan as given (YAML or JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TargetNode(Base):
    """One node of a plan version, with its worked-out target."""

    __tablename__ = "target_nodes"
    __table_args__ = (UniqueConstraint("plan_id", "path"), Index("ix_target_nodes_level_key", "level", "key"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("target_plans.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # order in the tree (depth first)
    path: Mapped[str] = mapped_column(String(600))  # keys from the root joined by "/"
    parent_path: Mapped[str | None] = mapped_column(String(600))
    level: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))  # a team's slug, a rep's id, or a name
    owner: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(16))  # weights | history | manual
    weight: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))


class TargetResult(Base):
    """What a won deal adds to a result metric, for the owner at the moment it was won (once per
    lead and metric)."""

    __tablename__ = "target_results"
    __table_args__ = (UniqueConstraint("lead_id", "metric"), Index("ix_target_results_team_metric_at", "team_id", "metric", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(64))
    metric: Mapped[str] = mapped_column(String(64))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    rep_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))


class HealthReport(Base):
    """A rep's weekly health report: each item's value, colour and reason. One per rep and week."""

    __tablename__ = "health_reports"
    __table_args__ = (UniqueConstraint("rep_id", "week"), Index("ix_health_reports_team_week", "team_id", "week"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    rep_id: Mapped[str] = mapped_column(String(64))
    week: Mapped[str] = mapped_column(String(10))  # 2026-W48
    status: Mapped[str] = mapped_column(String(8))  # the worst item: red | yellow | green (grey: nothing to rate)
    items: Mapped[list[Any]] = mapped_column()  # [{item, value, status, en, zh}]
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))

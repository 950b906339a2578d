"""Notifications: reminders and reclaim notices for reps and their managers (an inbox per person)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from configurator.db import Base

__all__ = ["Notification"]


class Notification(Base):
    """One message to one person about one or more leads of one reclaim rule.

    A sweep batch writes one notice per recipient, role, kind and rule, naming every lead it
    reminded or reclaimed for them (``leads``: ``[lead, owner, deadline]`` with the deadline as
    shown in the team's timezone; ``lead_id`` when the notice is about a single lead). ``key`` is
    unique, so a sweep run twice notifies once.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_recipient", "recipient", "read_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(64))  # a rep id, or the manager named on the rep
    role: Mapped[str] = mapped_column(String(16))  # owner | manager
    kind: Mapped[str] = mapped_column(String(32))  # remind | reclaim
    lead_id: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str | None] = mapped_column(String(64))
    message_en: Mapped[str] = mapped_column(Text)
    message_zh: Mapped[str] = mapped_column(Text)
    lead_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    leads: Mapped[list[list[str | None]]] = mapped_column(JSON)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

"""Who may use Fenpei: users and their roles, the teams a manager steers, API tokens, and the
webhooks an admin registers (with every delivery recorded)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from configurator.db import Base

__all__ = ["ROLES", "ApiToken", "AppSecret", "ManagedTeam", "User", "Webhook", "WebhookDelivery"]

ROLES = ("admin", "manager", "rep")


class User(Base):
    """A person who logs in. A ``rep`` user is one rep of the roster (``rep_id``); a ``manager``
    steers the teams in :class:`ManagedTeam`; an ``admin`` may do everything."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # Werkzeug's salted scrypt hash
    role: Mapped[str] = mapped_column(String(16))  # admin | manager | rep
    rep_id: Mapped[str | None] = mapped_column(ForeignKey("reps.id"), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped when the password changes or the user is deactivated: older sessions stop working.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Failed logins in a row; at LOGIN_ATTEMPTS the account is locked until ``locked_until``.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    teams: Mapped[list[ManagedTeam]] = relationship(cascade="all, delete-orphan", order_by="ManagedTeam.team_id")


class ManagedTeam(Base):
    """A team a manager steers (sees its leads, reassigns, runs its jobs)."""

    __tablename__ = "managed_teams"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)


class ApiToken(Base):
    """A token another system sends as ``Authorization: Bearer …``. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to recognise a token in a list
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AppSecret(Base):
    """Secrets the installation generates once and every process shares (the session signing key)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class Webhook(Base):
    """A URL that receives signed events of the kinds in ``events``, for one team or all."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column()  # event names, e.g. ["lead.assigned"]
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))  # None: every team
    secret: Mapped[str] = mapped_column(String(128))  # the HMAC key, shown once when created
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The last source row turned into deliveries, per source table: events are read from the
    # append-only audit trail, ledger and follow-ups, so none is lost when a process dies.
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One event to one webhook: its payload, every attempt's outcome, and when to try again."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_key"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"), index=True)
    event: Mapped[str] = mapped_column(String(64))
    event_key: Mapped[str] = mapped_column(String(128))  # unique per webhook: an event is delivered once
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

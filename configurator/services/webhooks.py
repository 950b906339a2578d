"""Webhooks: URLs an admin registers for events, and the signed, retried, recorded deliveries to them.

Events are read, not emitted. The services already write every change to append-only tables in
the same transaction as the change itself, so the dispatcher reads those tables past each
webhook's cursor: nothing is lost when a process dies between a change and its delivery, and
the hot paths (assignment, the sweep, follow-ups) write nothing more.

======================  ===========================================================================
event                   source rows
======================  ===========================================================================
``lead.assigned``       ``audit_events`` whose action gives a lead a new owner (``assign`` — also
                        a re-offer after a reclaim —, ``reassign`` — a manager or a trigger —,
                        ``claim``, ``redistribute``) and that name the new owner
``lead.reclaimed``      ``audit_events`` with action ``reclaim``
``followup.logged``     ``followups``
``points.awarded``      ``point_entries`` (a reversal is an entry with a negative amount)
``template.published``  ``audit_events`` with action ``publish`` (no team: every webhook
                        subscribed to it gets it, whatever its team)
======================  ===========================================================================

Three steps, each safe to run twice or at once in several workers:

1. :func:`dispatch` turns the source rows past a webhook's cursor into ``pending`` deliveries
   (``INSERT … ON CONFLICT DO NOTHING`` on ``(webhook_id, event_key)``, ``event_key`` like
   ``audit:123``) and moves the cursor in the same transaction, holding the webhook's row lock
   (``FOR UPDATE`` on PostgreSQL; on SQLite the caller holds the database write lock). On
   PostgreSQL a row may commit after a row with a higher id (ids are taken at insert, rows
   become visible at commit), so ids skipped by a batch are remembered as gaps and looked at
   again for :data:`GAP_WAIT` before they are given up.
2. :func:`claim` takes one due delivery for one attempt by a conditional update (status and
   attempt count compared), so two workers never send the same attempt, and a delivered one is
   never sent again.
3. The worker posts it outside any transaction, then :func:`record` writes the outcome: 2xx is
   ``delivered``; anything else (or a network error) keeps the receiver's status and error and
   waits ``30 s · 2^(attempts-1)`` (at most an hour) before the next attempt; after
   :data:`MAX_ATTEMPTS` the delivery is ``failed`` (an admin may queue it again).

Verifying a delivery (the receiver's side): take the raw body bytes and the headers
``X-Fenpei-Timestamp`` (Unix seconds) and ``X-Fenpei-Signature`` (``sha256=<hex>``); compute
``HMAC-SHA256(secret, "<timestamp>." + body)`` in hex; compare in constant time; refuse a
timestamp more than five minutes from now (a replay). :func:`verify` does exactly that. The
body's ``id`` (the event key) is the same on every retry: use it to ignore a duplicate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, CursorResult, Table, and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from configurator.clock import iso as _iso, stored as _aware, utc as _utc
from configurator.db import session_scope
from configurator.models import AuditEvent, FollowUp, Lead, PointEntry, Team, TemplateVersion, Webhook, WebhookDelivery
from configurator.services.dialect import insert_ignoring
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = [
    "DELIVERY_STATUSES",
    "EVENTS",
    "MAX_ATTEMPTS",
    "Attempt",
    "Dispatched",
    "Outcome",
    "WebhookError",
    "active_ids",
    "backoff",
    "claim",
    "create_webhook",
    "deactivate_webhook",
    "deliver",
    "dispatch",
    "due",
    "get_webhook",
    "has_work",
    "list_deliveries",
    "list_webhooks",
    "post",
    "record",
    "requeue",
    "sign",
    "verify",
]

EVENTS = ("lead.assigned", "lead.reclaimed", "followup.logged", "points.awarded", "template.published")
DELIVERY_STATUSES = ("pending", "delivered", "failed")

# An attempt that failed waits FIRST_RETRY · 2^(attempts-1), at most LONGEST_WAIT; after
# MAX_ATTEMPTS attempts the delivery is failed.
MAX_ATTEMPTS = 8
FIRST_RETRY = dt.timedelta(seconds=30)
LONGEST_WAIT = dt.timedelta(hours=1)
# A receiver has this long to answer.
TIMEOUT = 5.0
# A claimed attempt whose worker died is taken again after this long (well past TIMEOUT).
SEND_LEASE = dt.timedelta(seconds=60)
# Source rows read per table and per transaction of the dispatcher.
DISPATCH_BATCH = 1000
# Ids skipped by a batch (perhaps a transaction still running on PostgreSQL) are looked at again
# for this long; at most MAX_GAPS ranges per table are kept (the newest).
GAP_WAIT = dt.timedelta(minutes=10)
MAX_GAPS = 256
# What is kept of a receiver's answer or error.
ERROR_CHARS = 500
MAX_URL = 2000
SECRET_PREFIX = "whsec_"

# Audit actions that give a lead a new owner (the row names it in ``to_rep_id``).
_OWNER_ACTIONS = ("assign", "reassign", "claim", "redistribute")
_AUDIT_EVENTS: dict[str, str] = {**dict.fromkeys(_OWNER_ACTIONS, "lead.assigned"), "reclaim": "lead.reclaimed", "publish": "template.published"}

DELIVERIES = cast(Table, WebhookDelivery.__table__)


class WebhookError(FenpeiError):
    """A refused request about webhooks: a bad URL or event, an unknown webhook or delivery."""


def _refuse(code: str, en: str, zh: str, path: Sequence[Any] = (), **params: Any) -> WebhookError:
    return WebhookError(Problem.make(code, en, zh, tuple(path), **params))


def _rowcount(result: Any) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)


# ------------------------------------------------------------------------------------------------
# Registering
# ------------------------------------------------------------------------------------------------


def _check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise _refuse("webhook.url", "{u!r} is not an http:// or https:// URL", "{u!r} 不是 http:// 或 https:// 网址", ("url",), u=url[:200])
    return url


def _check_events(events: Sequence[str]) -> list[str]:
    if not events:
        raise _refuse("webhook.events", "name at least one event (of: {all})", "请至少指定一个事件(可选:{all})", ("events",), all=", ".join(EVENTS))
    for i, name in enumerate(events):
        if name not in EVENTS:
            raise _refuse("webhook.event", "unknown event {e!r} (one of: {all})", "未知事件 {e!r}(可选:{all})", ("events", i), e=name, all=", ".join(EVENTS))
    return [e for e in EVENTS if e in set(events)]


def _source_heads(session: Session) -> dict[str, int]:
    """The highest id of every source table now: a new webhook starts there (only new events)."""
    return {source.name: int(session.scalar(select(func.max(source.id))) or 0) for source in SOURCES}


def create_webhook(session: Session, url: str, events: Sequence[str], actor: str, now: dt.datetime, *, team: str | None = None) -> Webhook:
    """A new active webhook for ``events`` (of one team, or every team); its secret is in ``secret``, to show once."""
    url = _check_url(url)
    names = _check_events(events)
    team_id = None
    if team is not None:
        team_id = session.scalar(select(Team.id).where(Team.slug == team))
        if team_id is None:
            raise _refuse("webhook.team", "no team {t!r}", "没有团队 {t!r}", ("team",), t=team)
    hook = Webhook(
        url=url,
        events=names,
        team_id=team_id,
        secret=SECRET_PREFIX + secrets.token_urlsafe(32),
        active=True,
        cursor=_source_heads(session),
        created_by=actor,
        created_at=_utc(now),
    )
    session.add(hook)
    session.flush()
    return hook


def get_webhook(session: Session, webhook_id: int) -> Webhook:
    """Webhook ``webhook_id``; WebhookError (404) when there is none."""
    hook = session.get(Webhook, webhook_id)
    if hook is None:
        raise _refuse("webhook.unknown", "no webhook {id}", "没有 webhook {id}", id=webhook_id)
    return hook


def list_webhooks(session: Session, *, active_only: bool = False) -> list[tuple[Webhook, str | None, dict[str, int]]]:
    """Every webhook (oldest first), with its team's slug and its deliveries counted by status."""
    stmt = select(Webhook, Team.slug).outerjoin(Team, Team.id == Webhook.team_id).order_by(Webhook.id)
    if active_only:
        stmt = stmt.where(Webhook.active.is_(True))
    rows = session.execute(stmt).all()
    counts: dict[int, dict[str, int]] = {}
    for hook_id, status, n in session.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count()).group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)):
        counts.setdefault(hook_id, {})[status] = int(n)
    return [(hook, slug, {s: counts.get(hook.id, {}).get(s, 0) for s in DELIVERY_STATUSES}) for hook, slug in rows]


def deactivate_webhook(session: Session, webhook_id: int) -> Webhook:
    """Stop delivering to a webhook (its deliveries stay recorded; pending ones are not sent)."""
    hook = get_webhook(session, webhook_id)
    hook.active = False
    session.flush()
    return hook


def list_deliveries(session: Session, webhook_id: int, *, status: str | None = None, limit: int = 50) -> list[WebhookDelivery]:
    """A webhook's deliveries, newest first, optionally of one status."""
    get_webhook(session, webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id).order_by(WebhookDelivery.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return list(session.scalars(stmt))


def requeue(session: Session, webhook_id: int, delivery_id: int, now: dt.datetime) -> WebhookDelivery:
    """Queue a failed delivery again, with a fresh count of attempts (due now)."""
    hook = get_webhook(session, webhook_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook_id:
        raise _refuse("delivery.unknown", "webhook {w} has no delivery {id}", "webhook {w} 没有投递记录 {id}", w=webhook_id, id=delivery_id)
    if not hook.active:
        raise _refuse("webhook.inactive", "webhook {w} is deactivated: nothing is sent to it", "webhook {w} 已停用,不会再投递", w=webhook_id)
    changed = session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "failed").values(status="pending", attempts=0, next_attempt_at=_utc(now))
    )
    if _rowcount(changed) != 1:
        session.refresh(delivery)
        raise _refuse(
            "delivery.state", "delivery {id} is {s}: only a failed delivery is queued again", "投递 {id} 的状态为 {s}:只有失败的投递可以重新排队", id=delivery_id, s=delivery.status
        )
    session.refresh(delivery)
    return delivery


# ------------------------------------------------------------------------------------------------
# Reading events from their sources
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    key: str  # audit:123, points:45, followup:6
    event: str
    at: dt.datetime | None
    team: str | None
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {"id": self.key, "event": self.event, "created_at": _iso(self.at), "team": self.team, "data": self.data}


Reader = Callable[[Session, ColumnElement[bool], Webhook], list[_Event]]


@dataclass(frozen=True)
class _Source:
    name: str  # the cursor's key and the event key's prefix
    id: Any  # the table's id column
    events: frozenset[str]
    read: Reader


def _template(name: str | None, version: int | None) -> dict[str, Any] | None:
    return {"name": name, "version": version} if name is not None else None


def _read_audit(session: Session, ids: ColumnElement[bool], hook: Webhook) -> list[_Event]:
    wanted = set(hook.events)
    actions = [action for action, event in _AUDIT_EVENTS.items() if event in wanted]
    stmt = (
        select(AuditEvent.id, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.lead_id, AuditEvent.from_rep_id, AuditEvent.to_rep_id, AuditEvent.rule, AuditEvent.reason, Team.slug, TemplateVersion.name, TemplateVersion.version)
        .outerjoin(Team, Team.id == AuditEvent.team_id)
        .outerjoin(TemplateVersion, TemplateVersion.id == AuditEvent.template_version_id)
        .where(ids, AuditEvent.action.in_(actions))
        .order_by(AuditEvent.id)
    )
    if hook.team_id is not None:
        stmt = stmt.where(or_(AuditEvent.team_id == hook.team_id, AuditEvent.action == "publish"))
    out = []
    for r in session.execute(stmt):
        event = _AUDIT_EVENTS[r.action]
        if event == "lead.assigned":
            if r.to_rep_id is None:
                continue  # moved to the pool or escalated: nobody got it
            data = {"lead": r.lead_id, "owner": r.to_rep_id, "previous_owner": r.from_rep_id, "action": r.action, "rule": r.rule, "reason": r.reason, "actor": r.actor, "template": _template(r.name, r.version)}
        elif event == "lead.reclaimed":
            data = {"lead": r.lead_id, "previous_owner": r.from_rep_id, "rule": r.rule, "reason": r.reason, "actor": r.actor, "template": _template(r.name, r.version)}
        else:
            data = {"template": r.name, "version": r.version, "note": r.reason, "actor": r.actor}
        out.append(_Event(f"audit:{r.id}", event, r.at, r.slug, data))
    return out


def _read_followups(session: Session, ids: ColumnElement[bool], hook: Webhook) -> list[_Event]:
    stmt = (
        select(FollowUp.id, FollowUp.lead_id, FollowUp.rep_id, FollowUp.at, FollowUp.data, FollowUp.created_at, Team.slug)
        .join(Lead, Lead.id == FollowUp.lead_id)
        .join(Team, Team.id == Lead.team_id)
        .where(ids)
        .order_by(FollowUp.id)
    )
    if hook.team_id is not None:
        stmt = stmt.where(Lead.team_id == hook.team_id)
    return [
        _Event(f"followup:{r.id}", "followup.logged", r.created_at or r.at, r.slug, {"followup": r.id, "lead": r.lead_id, "rep": r.rep_id, "at": _iso(r.at), "data": r.data or {}})
        for r in session.execute(stmt)
    ]


def _read_points(session: Session, ids: ColumnElement[bool], hook: Webhook) -> list[_Event]:
    version = aliased(TemplateVersion)
    stmt = (
        select(PointEntry.id, PointEntry.rep_id, PointEntry.rule, PointEntry.amount, PointEntry.period, PointEntry.lead_id, PointEntry.reverses_id, PointEntry.reason, PointEntry.created_at, Team.slug, version.name, version.version)
        .join(Team, Team.id == PointEntry.team_id)
        .outerjoin(version, version.id == PointEntry.template_version_id)
        .where(ids)
        .order_by(PointEntry.id)
    )
    if hook.team_id is not None:
        stmt = stmt.where(PointEntry.team_id == hook.team_id)
    return [
        _Event(
            f"points:{r.id}",
            "points.awarded",
            r.created_at,
            r.slug,
            {
                "entry": r.id,
                "rep": r.rep_id,
                "rule": r.rule,
                "amount": float(r.amount),
                "period": r.period,
                "lead": r.lead_id,
                "reverses": r.reverses_id,
                "reason": r.reason,
                "template": _template(r.name, r.version),
            },
        )
        for r in session.execute(stmt)
    ]


SOURCES: tuple[_Source, ...] = (
    _Source("audit", AuditEvent.id, frozenset(_AUDIT_EVENTS.values()), _read_audit),
    _Source("followups", FollowUp.id, frozenset({"followup.logged"}), _read_followups),
    _Source("points", PointEntry.id, frozenset({"points.awarded"}), _read_points),
)


# ------------------------------------------------------------------------------------------------
# Dispatching: source rows -> pending deliveries
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dispatched:
    """What one :func:`dispatch` did: deliveries created, and whether a source has more rows waiting."""

    created: int
    more: bool


def _missing(after: int, ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    """The ranges of ids between ``after`` and the last of ``ids`` (ascending) that are not in ``ids``."""
    prev = after
    for i in ids:
        if i > prev + 1:
            yield prev + 1, i - 1
        prev = i


def _live_gaps(gaps: Iterable[Sequence[Any]], now: dt.datetime) -> list[list[Any]]:
    return [list(g) for g in gaps if dt.datetime.fromisoformat(str(g[2])) + GAP_WAIT > now]


def dispatch(session: Session, webhook_id: int, now: dt.datetime, *, batch: int = DISPATCH_BATCH) -> Dispatched:
    """Turn the source rows past the webhook's cursor (at most ``batch`` per table) into pending
    deliveries and move the cursor, in the caller's transaction, holding the webhook's row lock.

    On SQLite the caller holds the write lock (``session_scope(..., write_lock=True)``).
    """
    now = _utc(now)
    hook = session.execute(select(Webhook).where(Webhook.id == webhook_id).with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if hook is None or not hook.active:
        return Dispatched(0, False)
    cursor = dict(hook.cursor or {})
    gaps: dict[str, list[list[Any]]] = {name: _live_gaps(found, now) for name, found in dict(cursor.get("gaps") or {}).items()}
    wanted = set(hook.events)
    events: list[_Event] = []
    more = False
    for source in SOURCES:
        after = int(cursor.get(source.name) or 0)
        ids = list(session.scalars(select(source.id).where(source.id > after).order_by(source.id).limit(batch)))
        more = more or len(ids) == batch
        if not source.events & wanted:
            cursor[source.name] = ids[-1] if ids else after
            gaps.pop(source.name, None)
            continue
        waiting = gaps.get(source.name, [])
        ranges = [source.id.between(lo, hi) for lo, hi, _seen in waiting]
        if ids:
            ranges.append(and_(source.id > after, source.id <= ids[-1]))
            waiting = waiting + [[lo, hi, now.isoformat()] for lo, hi in _missing(after, ids)]
            cursor[source.name] = ids[-1]
        if ranges:
            events += source.read(session, or_(*ranges), hook)
        if waiting:
            gaps[source.name] = waiting[-MAX_GAPS:]
        else:
            gaps.pop(source.name, None)
    created = 0
    if events:
        rows = [
            {"webhook_id": hook.id, "event": e.event, "event_key": e.key, "payload": e.envelope(), "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
            for e in events
        ]
        created = len(session.execute(insert_ignoring(session, DELIVERIES, ["webhook_id", "event_key"]).returning(DELIVERIES.c.id), rows).all())
    cursor["gaps"] = gaps
    hook.cursor = cursor  # a new dict: the JSON column sees the change
    session.flush()
    return Dispatched(created, more)


def active_ids(session: Session, only: Sequence[int] | None = None) -> list[int]:
    """The ids of the active webhooks (of ``only``, when given)."""
    stmt = select(Webhook.id).where(Webhook.active.is_(True)).order_by(Webhook.id)
    if only is not None:
        stmt = stmt.where(Webhook.id.in_(list(only)))
    return list(session.scalars(stmt))


def has_work(session: Session, now: dt.datetime) -> bool:
    """Whether a pass would do anything: an active webhook behind a source or waiting on a gap, or a due delivery."""
    now = _utc(now)
    heads = _source_heads(session)
    for stored in session.scalars(select(Webhook.cursor).where(Webhook.active.is_(True))):
        cursor = dict(stored or {})
        if any(int(cursor.get(name) or 0) < head for name, head in heads.items()):
            return True
        if any(_live_gaps(found, now) for found in dict(cursor.get("gaps") or {}).values()):
            return True
    return bool(due(session, now, limit=1))


# ------------------------------------------------------------------------------------------------
# Delivering: claim, post, record
# ------------------------------------------------------------------------------------------------


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


def due(session: Session, now: dt.datetime, *, limit: int = 100, webhooks: Sequence[int] | None = None) -> list[int]:
    """Ids of pending deliveries of active webhooks whose next attempt is due, the oldest due first."""
    stmt = (
        select(WebhookDelivery.id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.status == "pending", or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= _utc(now)), Webhook.active.is_(True))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if webhooks is not None:
        stmt = stmt.where(WebhookDelivery.webhook_id.in_(list(webhooks)))
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class Attempt:
    """One claimed attempt at one delivery: where to send what, signed with which secret."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event: str
    payload: dict[str, Any]
    attempt: int  # 1 for the first

    @property
    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def headers(self, timestamp: int, body: bytes) -> dict[str, str]:
        return {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Fenpei-Webhooks/1",
            "X-Fenpei-Event": self.event,
            "X-Fenpei-Delivery": str(self.delivery_id),
            "X-Fenpei-Timestamp": str(timestamp),
            "X-Fenpei-Signature": sign(self.secret, timestamp, body),
        }


def claim(session: Session, delivery_id: int, now: dt.datetime) -> Attempt | None:
    """Take the delivery for its next attempt, if it is pending, due and its webhook active; None
    when it is not (already delivered, failed, not due, or another worker took it first).

    A delivery whose last attempt's worker died without recording an outcome is failed here
    when it has had its attempts.
    """
    now = _utc(now)
    row = session.execute(
        select(WebhookDelivery.status, WebhookDelivery.attempts, WebhookDelivery.next_attempt_at, WebhookDelivery.event, WebhookDelivery.payload, WebhookDelivery.webhook_id, Webhook.url, Webhook.secret, Webhook.active)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)
    ).one_or_none()
    if row is None or row.status != "pending" or not row.active:
        return None
    next_at = _aware(row.next_attempt_at)
    if next_at is not None and next_at > now:
        return None
    seen = int(row.attempts)
    mine = and_(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending", WebhookDelivery.attempts == seen)
    if seen >= MAX_ATTEMPTS:
        session.execute(update(WebhookDelivery).where(mine).values(status="failed", next_attempt_at=None, last_error=f"gave up after {seen} attempts"))
        return None
    taken = session.execute(update(WebhookDelivery).where(mine).values(attempts=seen + 1, next_attempt_at=now + SEND_LEASE))
    if _rowcount(taken) != 1:
        return None
    return Attempt(delivery_id, int(row.webhook_id), row.url, row.secret, row.event, dict(row.payload), seen + 1)


@dataclass(frozen=True)
class Outcome:
    """What the receiver answered: its HTTP status (None when none came) and what went wrong."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def record(session: Session, attempt: Attempt, outcome: Outcome, now: dt.datetime) -> str:
    """Write an attempt's outcome; returns the delivery's state now: ``delivered``, ``retry``,
    ``failed``, or ``lost`` (another worker took the delivery over meanwhile: nothing written)."""
    now = _utc(now)
    values: dict[str, Any] = {"last_status": outcome.status}
    if outcome.ok:
        state = "delivered"
        values.update(status="delivered", delivered_at=now, next_attempt_at=None, last_error=None)
    elif attempt.attempt >= MAX_ATTEMPTS:
        state = "failed"
        values.update(status="failed", next_attempt_at=None, last_error=(outcome.error or "")[:ERROR_CHARS])
    else:
        state = "retry"
        values.update(next_attempt_at=now + backoff(attempt.attempt), last_error=(outcome.error or "")[:ERROR_CHARS])
    done = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == attempt.delivery_id, WebhookDelivery.status == "pending", WebhookDelivery.attempts == attempt.attempt)
        .values(**values)
    )
    return state if _rowcount(done) == 1 else "lost"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Fenpei-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of ``"<timestamp>." + body``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: dt.datetime, *, tolerance: dt.timedelta = dt.timedelta(minutes=5)) -> bool:
    """A receiver's check: the signature matches and the timestamp is within ``tolerance`` of ``now``."""
    if not timestamp.isdigit() or abs(_utc(now).timestamp() - int(timestamp)) > tolerance.total_seconds():
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer like any other non-2xx: recorded, not followed


_OPENER = urllib.request.build_opener(_NoRedirect)

Post = Callable[[str, bytes, Mapping[str, str]], Outcome]


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
    """POST ``body`` to ``url`` (at most :data:`TIMEOUT` seconds); the receiver's status, or the error."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            return Outcome(int(response.status), None if 200 <= response.status < 300 else f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        try:
            text = exc.read(ERROR_CHARS).decode("utf-8", "replace").strip()
        except Exception:  # the body could not be read: the status says enough
            text = ""
        finally:
            exc.close()
        return Outcome(int(exc.code), f"HTTP {exc.code}" + (f": {text}" if text else ""))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Outcome(None, f"{type(reason).__name__}: {reason}"[:ERROR_CHARS])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def deliver(sessions: sessionmaker[Session], delivery_id: int, *, send: Post = post, clock: Callable[[], dt.datetime] = _now) -> str:
    """One attempt at one delivery, if it is due: claim (committed), post (no transaction held),
    record (committed). Returns ``delivered``, ``retry``, ``failed``, ``lost``, or ``skipped``
    (not due, done, or another worker's)."""
    with session_scope(sessions, write_lock=True) as session:
        attempt = claim(session, delivery_id, clock())
    if attempt is None:
        return "skipped"
    body = attempt.body
    outcome = send(attempt.url, body, attempt.headers(int(clock().timestamp()), body))
    with session_scope(sessions, write_lock=True) as session:
        return record(session, attempt, outcome, clock())

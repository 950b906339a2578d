"""The points ledger (积分台账) as a service: award, reverse, close a period, rank.

The ledger is append-only. :func:`award` turns events into new entries with the engine's
:func:`rule_engine.score_event`: caps are counted from what the ledger already holds for the
period plus what the same call adds, and an entry whose idempotency key is already in the ledger
is neither counted nor written, so an event delivered twice earns once (the INSERT is also
``ON CONFLICT DO NOTHING`` on the key, for two writers racing). A correction is a reversal
entry pointing at the original (:func:`reverse`), never an edit. :func:`leaderboard` ranks a
team's reps for a period. Services never commit: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from configurator.models import PointEntry, Rep, Team, TemplateVersion
from configurator.services import audit
from configurator.services.dialect import insert_ignoring
from configurator.services.roster import snapshot, utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Event, Problem, score_event
from rule_engine import Rep as EngineRep
from rule_engine.points import period_key

__all__ = ["Standing", "award", "award_events", "close_period", "current_period", "leaderboard", "ledger_rows", "period_bounds", "reverse", "write_entries"]

LEDGER = cast(Table, PointEntry.__table__)
_BATCH = 500


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def current_period(template: CompiledTemplate, now: dt.datetime) -> str | None:
    """The template's points period ``now`` falls in (None when the template has no points)."""
    return None if template.points is None else period_key(template.points.period, now, template.timezone)


def award(
    session: Session,
    team: Team,
    template: CompiledTemplate,
    version: TemplateVersion,
    events: Sequence[Event],
    reps: Mapping[str, EngineRep],
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The new ledger rows ``events`` earn, in event order (not yet written: see :func:`write_entries`).

    ``reps`` gives the engine the reps' attributes and figures (rules may read ``rep.X``).
    One query for the period's totals and one per 500 candidate keys, whatever the number of events.
    """
    spec = template.points
    if spec is None or not events:
        return []
    wanted = {rule.on for rule in spec.rules}
    events = [e for e in events if e.type in wanted]
    if not events:
        return []
    periods = sorted({period_key(spec.period, e.at, template.timezone) for e in events})
    totals: dict[tuple[str, str, str], float] = {
        (rep_id, rule, period): float(total or 0)
        for rep_id, rule, period, total in session.execute(
            select(PointEntry.rep_id, PointEntry.rule, PointEntry.period, func.sum(PointEntry.amount))
            .where(PointEntry.team_id == team.id, PointEntry.period.in_(periods))
            .group_by(PointEntry.rep_id, PointEntry.rule, PointEntry.period)
        )
    }
    # Keys do not depend on the totals: look up those already in the ledger first, so a duplicate
    # neither counts toward a cap nor is offered to the INSERT.
    scored = [score_event(template, event, totals=totals, reps=reps) for event in events]
    keys = sorted({entry.key for entries in scored for entry in entries})
    existing: set[str] = set()
    for i in range(0, len(keys), _BATCH):
        existing.update(session.scalars(select(PointEntry.key).where(PointEntry.key.in_(keys[i : i + _BATCH]))))
    capped = any(rule.cap is not None for rule in spec.rules)
    rows: list[dict[str, Any]] = []
    now_utc = utc(now)
    for event, entries in zip(events, scored, strict=True):
        if capped and rows:
            # A cap depends on what this call already added: score again with the running totals.
            entries = score_event(template, event, totals=totals, reps=reps)
        for entry in entries:
            if entry.key in existing:
                continue
            existing.add(entry.key)
            slot = (entry.rep, entry.rule, entry.period)
            totals[slot] = totals.get(slot, 0.0) + entry.amount
            rows.append(
                {
                    "key": entry.key,
                    "team_id": team.id,
                    "rep_id": entry.rep,
                    "rule": entry.rule,
                    "amount": Decimal(str(round(entry.amount, 2))),
                    "period": entry.period,
                    "event_id": entry.event_id,
                    "lead_id": entry.lead_id,
                    "reason": entry.reason_en,
                    "template_version_id": version.id,
                    "created_at": now_utc,
                }
            )
    return rows


def write_entries(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Append ``rows`` to the ledger; a key already there is skipped. Returns the rows offered."""
    if rows:
        session.execute(insert_ignoring(session, LEDGER, ["key"]), list(rows))
    return len(rows)


def award_events(session: Session, team: Team, events: Sequence[Event], now: dt.datetime, *, version: TemplateVersion | None = None) -> int:
    """Score and write ``events`` for ``team`` on its published template (or ``version``)."""
    version = version or get_version(session, team.template_name)
    template = compiled(version)
    if template.points is None or not events:
        return 0
    reps = {r.id: r for r in snapshot(session, team, template, now)}
    return write_entries(session, award(session, team, template, version, events, reps, now))


def reverse(session: Session, entry_id: int, reason: str, actor: str, now: dt.datetime) -> PointEntry:
    """Append the reversal of ledger entry ``entry_id`` (same rep, rule and period; opposite amount).

    Refused when the reason is empty, the entry is unknown, is itself a reversal, or was already
    reversed. Audited as ``points.reverse``. Idempotent per entry: the reversal's key derives from it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _refuse("points.reason", "a reversal needs a reason", "冲销积分需要填写原因")
    original = session.get(PointEntry, entry_id)
    if original is None:
        raise _refuse("points.unknown", "no ledger entry {id}", "没有积分记录 {id}", id=entry_id)
    if original.reverses_id is not None:
        raise _refuse("points.reversal", "entry {id} is itself a reversal; it cannot be reversed", "记录 {id} 本身是冲销记录,不能再冲销", id=entry_id)
    key = f"reversal:{original.key}"[:64]
    already = session.scalar(select(PointEntry.id).where(PointEntry.reverses_id == original.id))
    if already is not None:
        raise _refuse("points.reversed", "entry {id} was already reversed by entry {by}", "记录 {id} 已被记录 {by} 冲销", id=entry_id, by=already)
    now_utc = utc(now)
    entry = PointEntry(
        key=key,
        team_id=original.team_id,
        rep_id=original.rep_id,
        rule=original.rule,
        amount=-Decimal(original.amount),
        period=original.period,
        event_id=f"reversal:{original.id}",
        lead_id=original.lead_id,
        reverses_id=original.id,
        reason=f"reversal of entry {original.id} by {actor}: {reason}",
        template_version_id=original.template_version_id,
        created_at=now_utc,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        at=now_utc,
        team_id=original.team_id,
        actor=actor,
        action="points.reverse",
        lead_id=original.lead_id,
        from_rep=original.rep_id,
        rule=original.rule,
        version_id=original.template_version_id,
        reason=reason,
        en=f"{actor} reversed {original.amount:f} points of {original.rep_id} (entry {original.id}, rule {original.rule}): {reason}",
        zh=f"{actor} 冲销了 {original.rep_id} 的 {original.amount:f} 分(记录 {original.id},规则 {original.rule}):{reason}",
    )
    return entry


def period_bounds(kind: str, key: str, tz: Any) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) of period ``key`` (``2026-11-23``, ``2026-W48``, ``2026-11``, ``2026-Q4``, ``2026``) in ``tz``."""
    try:
        if kind == "day":
            start = dt.date.fromisoformat(key)
            end = start + dt.timedelta(days=1)
        elif kind == "week":
            year, week = key.split("-W")
            start = dt.date.fromisocalendar(int(year), int(week), 1)
            end = start + dt.timedelta(days=7)
        elif kind == "month":
            year, month = (int(x) for x in key.split("-"))
            start = dt.date(year, month, 1)
            end = dt.date(year + month // 12, month % 12 + 1, 1)
        elif kind == "quarter":
            year, quarter = key.split("-Q")
            q = int(quarter)
            if not 1 <= q <= 4:
                raise ValueError(key)
            start = dt.date(int(year), 3 * q - 2, 1)
            end = dt.date(int(year) + q // 4, (3 * q) % 12 + 1, 1)
        else:
            start = dt.date(int(key), 1, 1)
            end = dt.date(int(key) + 1, 1, 1)
    except ValueError:
        examples = {"day": "2026-11-23", "week": "2026-W48", "month": "2026-11", "quarter": "2026-Q4", "year": "2026"}
        raise _refuse("points.period", "{p!r} is not a {kind} period (e.g. {ex})", "{p!r} 不是有效的{kind}周期(例如 {ex})", p=key, kind=kind, ex=examples.get(kind, "")) from None
    if period_key(kind, dt.datetime.combine(start, dt.time(0), tz), tz) != key:
        raise _refuse("points.period", "{p!r} is not a {kind} period", "{p!r} 不是有效的{kind}周期", p=key, kind=kind)
    return dt.datetime.combine(start, dt.time(0), tz), dt.datetime.combine(end, dt.time(0), tz)


def close_period(session: Session, team: Team, period: str, now: dt.datetime, *, job_id: int | None = None) -> int:
    """Score the ``period.ended`` event of ``period`` for every rep of the team; returns entries written.

    The entries belong to ``period`` (the event is dated at its last moment); rules read the reps'
    figures as of ``now``, and their target figures (``team.completion`` …) for ``period``. Refused
    before the period has ended. Safe to run twice: each rep's event
    id is ``period:<team>:<period>:<rep>``, so the second run finds every key already in the ledger.
    """
    version = get_version(session, team.template_name)
    template = compiled(version)
    if template.points is None:
        return 0
    _, end = period_bounds(template.points.period, period, template.timezone)
    if end > now:
        raise _refuse("points.open_period", "period {p} has not ended yet (it ends at {end})", "周期 {p} 尚未结束(结束于 {end})", p=period, end=end.isoformat())
    at = end - dt.timedelta(microseconds=1)
    roster = snapshot(session, team, template, now)
    if template.targets is not None:
        from configurator.services.targets import figures_at  # targets reads this module's period bounds

        roster = figures_at(session, team, template, at, roster)  # team.completion of the period that ended
    events = [Event("period.ended", event_id=f"period:{team.slug}:{period}:{r.id}", at=at, rep=r.id) for r in roster if r.status != "inactive"]
    rows = award(session, team, template, version, events, {r.id: r for r in roster}, now)
    return write_entries(session, rows)


@dataclass(frozen=True)
class Standing:
    """One line of a leaderboard."""

    rank: int
    rep_id: str
    name: str
    points: Decimal
    entries: int

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "rep": self.rep_id, "name": self.name, "points": float(self.points), "entries": self.entries}


def leaderboard(session: Session, team: Team, period: str | None = None, now: dt.datetime | None = None, *, limit: int | None = None) -> tuple[str, list[Standing]]:
    """The team's reps ranked by points in ``period`` (default: the current one); ties share a rank.

    Every active or paused rep appears, with 0 when they have no entries. Returns (period, standings).
    """
    if period is None:
        template = compiled(get_version(session, team.template_name))
        period = current_period(template, now or dt.datetime.now(dt.timezone.utc))
        if period is None:
            raise _refuse("points.none", "template {t!r} has no points rules", "模板 {t!r} 没有积分规则", t=team.template_name)
    sums: dict[str, tuple[Decimal, int]] = {
        rep_id: (Decimal(total or 0), int(n))
        for rep_id, total, n in session.execute(
            select(PointEntry.rep_id, func.sum(PointEntry.amount), func.count()).where(PointEntry.team_id == team.id, PointEntry.period == period).group_by(PointEntry.rep_id)
        )
    }
    reps = session.execute(select(Rep.id, Rep.name, Rep.status).where(Rep.team_id == team.id)).all()
    rows = [(rep_id, name or rep_id, *sums.get(rep_id, (Decimal(0), 0))) for rep_id, name, status in reps if status != "inactive" or rep_id in sums]
    rows.sort(key=lambda r: (-r[2], r[0]))
    out: list[Standing] = []
    for i, (rep_id, name, total, n) in enumerate(rows):
        rank = out[-1].rank if out and out[-1].points == total else i + 1
        out.append(Standing(rank, rep_id, name, total, n))
    return period, out[:limit] if limit is not None else out


def ledger_rows(session: Session, team: Team, *, rep_id: str | None = None, period: str | None = None, limit: int = 200) -> Sequence[PointEntry]:
    """The team's ledger entries, newest first, optionally for one rep and one period."""
    query = select(PointEntry).where(PointEntry.team_id == team.id)
    if rep_id is not None:
        query = query.where(PointEntry.rep_id == rep_id)
    if period is not None:
        query = query.where(PointEntry.period == period)
    return session.scalars(query.order_by(PointEntry.id.desc()).limit(limit)).all()

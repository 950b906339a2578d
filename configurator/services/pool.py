"""The public pool (公海) as a service: follow-ups, the reclaim sweep, claims and releases.

Who wins a race between a follow-up and the sweep is decided by the database, never by timing:

* :func:`log_followup` is one conditional ``UPDATE … WHERE state = 'owned' AND owner_id = :rep``.
  If the sweep took the lead first, nothing matches and the follow-up is refused with the reason
  ("reclaimed to the pool at … by rule …"); nothing is half-written.
* :func:`sweep_batch` reads its candidates with a row lock (``SELECT … FOR UPDATE`` on PostgreSQL;
  on SQLite the session holds the database write lock), so a follow-up either committed before
  the sweep read the lead — its new ``last_followup_at`` moves the deadline and the lead is not
  reclaimed — or waits and is then refused. A followed-up lead is never reclaimed.

The sweep is set-based: a SQL filter keeps only owned leads whose earliest reminder or deadline
has come (the rules' clocks are columns), the engine decides each candidate once, and the changes
are ``executemany`` statements per batch: leads to the pool, leads re-offered to the policies
(``action: reassign``; the previous owner excluded), reminder stamps, notifications (one per
person, rule and batch, naming every lead; unique keys), audit rows and ``lead.reclaimed``
points. The engine reads each candidate only as far as its verdict needs
(``CompiledTemplate.reclaim_reads``). It is idempotent: a second run at the same clock
finds nothing due and notifies nobody twice. Services never commit: the caller's unit of work
does (:func:`run_sweep` commits one transaction per batch).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import operator
from json.encoder import encode_basestring as json_text  # a JSON string, non-ASCII kept (what dumps(ensure_ascii=False) writes)
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import JSON, ColumnElement, CursorResult, Integer, String, Table, Text, and_, bindparam, column, false, func, insert, or_, select, type_coerce, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session, sessionmaker

from configurator.clock import stored as _aware
from configurator.db import session_scope
from configurator.jsoncodec import loads as json_loads
from configurator.models import AuditEvent, FollowUp, Lead, Notification, PoolClaim, Rep, Team, TemplateVersion
from configurator.services import audit
from configurator.services import points as points_service
from configurator.services import targets as targets_service
from configurator.services.assignment import audit_explanation, lock_rotation
from configurator.services.bulk import Memo, bulk_cache, collector_paused, dumps, insert_rows, stored
from configurator.services.dialect import dialect_name
from configurator.services.leads import FRESH_OWNERSHIP, grade_record, record_of, to_json
from configurator.services.roster import Figures, figures, snapshot, utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Event, InputError, Problem
from rule_engine import RotationState as EngineRotation
from rule_engine import assign as engine_assign
from rule_engine.conditions import And, Compare, Condition, Const, Name, Node, format_value
from rule_engine.reclaim import ReclaimRule, ReclaimVerdict, check_claim, verdict_for
from rule_engine.trace import Recorder

__all__ = [
    "SWEEP_BATCH",
    "SWEEP_BATCH_POSTGRESQL",
    "SweepCarry",
    "SweepResult",
    "claim",
    "inbox",
    "log_followup",
    "pool_leads",
    "reclaim_sweep",
    "release",
    "run_sweep",
    "sweep_batch",
    "sweep_batch_size",
]

LEADS = cast(Table, Lead.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
NOTES = cast(Table, Notification.__table__)

# Candidate leads per transaction: long sweeps keep their progress and let follow-ups through.
# On SQLite a batch holds the database's write lock, so batches stay small (about a second at
# 20,000 candidates). On PostgreSQL a batch locks only its own due leads, and a batch that
# re-offers leads reads every rep's load (a GROUP BY over the team's leads, a quarter of a second
# at 1,000,000 leads; SQLite reads it once per sweep and carries it on, see SweepCarry): bigger
# batches read it less often, for a few seconds' wait for a follow-up on one of those leads.
SWEEP_BATCH = 20000
SWEEP_BATCH_POSTGRESQL = 50000


def sweep_batch_size(session: Session) -> int:
    """The default batch size on the session's database."""
    return SWEEP_BATCH_POSTGRESQL if dialect_name(session) == "postgresql" else SWEEP_BATCH


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _note_key(lead_id: str, *parts: object) -> str:
    """A notification's unique key: a hash of what the notice is, after the lead's id when that is
    short. Keys then come in the order a sweep walks its leads, so one batch's new index entries
    land together instead of on every page of the index."""
    digest = _key(lead_id, *parts)
    return f"{lead_id}:{digest[: 63 - len(lead_id)]}" if len(lead_id) <= 22 else digest


def _shown(template: CompiledTemplate, moment: dt.datetime | None) -> str:
    return "" if moment is None else format_value(moment.astimezone(template.timezone).replace(microsecond=0))


# ------------------------------------------------------------------------------------------------
# Follow-ups
# ------------------------------------------------------------------------------------------------


def _followup_refusal(session: Session, template: CompiledTemplate, lead_id: str, rep_id: str) -> ServiceError:
    """Why a follow-up by ``rep_id`` did not apply: the lead as it is now."""
    row = session.execute(select(Lead.state, Lead.owner_id, Lead.previous_owner_id, Lead.reclaimed_at).where(Lead.id == lead_id)).one_or_none()
    if row is None:
        return _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    state, owner, previous, reclaimed_at = row
    if state == "pool" and previous == rep_id:
        rule = session.scalar(
            select(AuditEvent.rule).where(AuditEvent.lead_id == lead_id, AuditEvent.action.in_(("reclaim", "release"))).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(1)
        )
        return _refuse(
            "followup.reclaimed",
            "lead {id} was reclaimed to the pool at {at}{by}; the follow-up was not recorded — claim it from the pool to work it again",
            "线索 {id} 已于 {at}{by_zh}回收到公海,本次跟进未记录;如需继续跟进,请从公海重新领取",
            id=lead_id,
            at=_shown(template, _aware(reclaimed_at)),
            by=f" by rule {rule}" if rule else "",
            by_zh=f"按规则 {rule} " if rule else "",
        )
    if state == "pool":
        return _refuse("followup.pool", "lead {id} is in the pool; claim it before logging follow-ups", "线索 {id} 在公海中,请先领取再记录跟进", id=lead_id)
    if owner is not None and owner != rep_id:
        return _refuse("followup.owner", "lead {id} is owned by {owner}, not {rep}", "线索 {id} 的负责人是 {owner},不是 {rep}", id=lead_id, owner=owner, rep=rep_id)
    return _refuse("followup.state", "lead {id} has no owner yet ({state})", "线索 {id} 尚无负责人({state})", id=lead_id, state=state)


def log_followup(
    session: Session,
    lead_id: str,
    rep_id: str,
    data: Mapping[str, Any],
    now: dt.datetime,
    *,
    at: dt.datetime | None = None,
    text: bool = False,
) -> FollowUp:
    """Record a follow-up by the lead's owner; returns it.

    ``data`` is the template's ``followup`` form (validated: InputError with a problem per field;
    a template without that form stores ``data`` as given). Refused with a ServiceError when the
    lead is unknown, not owned by ``rep_id``, or was reclaimed meanwhile. ``at`` (default ``now``)
    may not be in the future. Earns the ``followup.logged`` points. On SQLite the session must
    hold the write lock (``session_scope(..., write_lock=True)``).
    """
    at = at or now
    if at > now + dt.timedelta(minutes=5):
        raise _refuse("followup.future", "a follow-up cannot be dated in the future", "跟进时间不能晚于当前时间")
    lead = session.execute(select(Lead.team_id, Lead.fields).where(Lead.id == lead_id)).one_or_none()
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    team = session.get(Team, lead.team_id)
    assert team is not None  # a foreign key
    version = get_version(session, team.template_name)
    template = compiled(version)
    if "followup" in template.forms:
        context, _ = template.lead_record(lead.fields or {})
        values, problems = template.form_record("followup", data, context, text=text)
        if problems:
            raise InputError(problems)
        stored = to_json(values)
    else:
        stored = {str(k): v for k, v in data.items()}
    at_utc = utc(at)
    change = (
        update(LEADS)
        .where(LEADS.c.id == lead_id, LEADS.c.state == "owned", LEADS.c.owner_id == rep_id)
        .values(
            followup_count=LEADS.c.followup_count + 1,
            first_followup_at=func.coalesce(LEADS.c.first_followup_at, at_utc),
            last_followup_at=at_utc,
            revision=LEADS.c.revision + 1,
        )
    )
    if cast("CursorResult[Any]", session.execute(change)).rowcount != 1:
        raise _followup_refusal(session, template, lead_id, rep_id)
    activity = targets_service.activity_of(template, stored, lead.fields)  # which activity target it counts for
    followup = FollowUp(lead_id=lead_id, rep_id=rep_id, at=at_utc, data=stored, activity=activity)
    session.add(followup)
    session.flush()
    stored_lead = session.get(Lead, lead_id)
    assert stored_lead is not None
    session.refresh(stored_lead)
    record = record_of(template, stored_lead)
    event = Event("followup.logged", event_id=f"followup:{followup.id}", at=at, rep=rep_id, lead=record)
    points_service.award_events(session, team, [event], now, version=version)
    return followup


# ------------------------------------------------------------------------------------------------
# The reclaim sweep
# ------------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep did (or, for a dry run, would do)."""

    team: str
    dry_run: bool = False
    template_version: int | None = None
    scanned: int = 0  # candidate leads the engine looked at
    reclaimed: list[dict[str, Any]] = field(default_factory=list)  # {lead, owner, rule, then, deadline, en, zh}
    reminded: list[dict[str, Any]] = field(default_factory=list)  # {lead, owner, rule, deadline, en, zh}
    reassigned: dict[str, str] = field(default_factory=dict)  # lead -> new owner (action: reassign)
    escalated: list[str] = field(default_factory=list)  # re-offered leads no rep could take and that wait for a manager
    errors: list[dict[str, Any]] = field(default_factory=list)  # leads the engine could not evaluate (left as they are)
    notifications: int = 0
    points: int = 0
    next_after: str | None = None  # the keyset cursor for the next batch (None: finished)

    def merge(self, other: SweepResult) -> None:
        self.scanned += other.scanned
        self.reclaimed += other.reclaimed
        self.reminded += other.reminded
        self.reassigned.update(other.reassigned)
        self.escalated += other.escalated
        self.errors += other.errors
        self.notifications += other.notifications
        self.points += other.points
        self.template_version = other.template_version or self.template_version
        self.next_after = other.next_after

    @property
    def pooled(self) -> list[str]:
        """Reclaimed leads now in the pool."""
        return [r["lead"] for r in self.reclaimed if r["lead"] not in self.reassigned and r["lead"] not in self.escalated]

    def to_json(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "dry_run": self.dry_run,
            "template_version": self.template_version,
            "scanned": self.scanned,
            "reclaimed": self.reclaimed,
            "reminded": self.reminded,
            "reassigned": self.reassigned,
            "escalated": self.escalated,
            "pooled": self.pooled,
            "errors": self.errors,
            "notifications": self.notifications,
            "points": self.points,
        }


# What the sweep reads of each candidate, in this order (sweep_batch reads the rows by position). The
# JSON and date-time columns come as the driver gives them (SQLite: text) and are read by the sweep
# (json.loads, datetime.fromisoformat), not value by value by SQLAlchemy's result processing.
_SWEEP_COLUMNS = (
    Lead.id,
    Lead.fields,
    Lead.revision,
    Lead.owner_id,
    Lead.previous_owner_id,
    Lead.created_at,
    Lead.assigned_at,
    Lead.first_followup_at,
    Lead.last_followup_at,
    Lead.reclaimed_at,
    Lead.reminded_at,
    Lead.followup_count,
    Lead.reclaim_count,
    Lead.weight,
    Lead.is_open,
    Lead.from_pool,
)
_RAW = frozenset({"fields", "created_at", "assigned_at", "first_followup_at", "last_followup_at", "reclaimed_at", "reminded_at"})
# record_of's date-time values, by their place in _SWEEP_COLUMNS
_RECORD_TIMES = (("created_at", 5), ("assigned_at", 6), ("first_followup_at", 7), ("last_followup_at", 8), ("reclaimed_at", 9))


def _candidate_query(template: CompiledTemplate, team: Team, now: dt.datetime, after: str | None, batch: int) -> Any:
    columns = [type_coerce(c, String()) if c.key in _RAW else c for c in _SWEEP_COLUMNS]
    query = select(*columns).where(Lead.team_id == team.id, Lead.state == "owned", Lead.owner_id.is_not(None), _due_filter(template, now))
    if after is not None:
        query = query.where(Lead.id > after)
    return query.order_by(Lead.id).limit(batch)


def _reader(sqlite: bool) -> Callable[[Any], Any]:
    """How a stored date-time comes back: aware (UTC) datetimes whatever the driver gives."""
    if not sqlite:
        return _aware
    parse, utc_zone = dt.datetime.fromisoformat, dt.timezone.utc

    def read(value: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.__class__ is str:
            try:  # stored as naive UTC text: read it as UTC (several times faster than replace())
                return parse(value + "+00:00")
            except ValueError:  # text with its own offset
                value = parse(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=utc_zone)

    return read


def _start_column(rule: ReclaimRule) -> ColumnElement[Any]:
    if rule.since == "assigned":
        return Lead.assigned_at
    if rule.since == "created":
        return Lead.created_at
    return func.coalesce(Lead.last_followup_at, Lead.assigned_at)


# Stored counters (NOT NULL columns) a rule's ``when`` may compare with a number; the engine reads
# the same values (record_of), so such a comparison means the same in SQL.
_COUNTERS = {"followup_count": Lead.followup_count, "reclaim_count": Lead.reclaim_count}
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _conjuncts(node: Node) -> Iterator[Node]:
    if isinstance(node, And):
        for item in node.items:
            yield from _conjuncts(item)
    else:
        yield node


def _required_counts(condition: Condition | None) -> tuple[tuple[str, str, float], ...]:
    """The parts of ``condition`` that compare a stored counter with a number and that must hold for
    it to hold (``followup_count == 0`` in ``followup_count == 0 and tier == "B"``)."""
    if condition is None:
        return ()
    terms = []
    for node in _conjuncts(condition.node):
        if not isinstance(node, Compare) or node.op not in _COMPARE:
            continue
        left, right, op = node.left, node.right, node.op
        if isinstance(left, Const):
            left, right, op = right, left, _MIRRORED[op]
        if isinstance(left, Name) and left.scope == "lead" and left.name in _COUNTERS and isinstance(right, Const) and type(right.value) in (int, float):
            terms.append((left.name, op, right.value))
    return tuple(sorted(set(terms)))


def _due_filter(template: CompiledTemplate, now: dt.datetime) -> ColumnElement[bool]:
    """Owned leads whose earliest reminder or deadline under some rule has come and whose counters
    do not rule that rule out (a superset of what is due; the engine decides each candidate)."""
    spec = template.reclaim
    if spec is None or not spec.rules:
        return false()
    now_utc = utc(now)
    clauses: dict[tuple[Any, ...], ColumnElement[bool]] = {}
    for rule in spec.rules:
        lead_days = rule.days - (rule.remind_before_days or 0.0)
        counts = _required_counts(rule.when)
        key = (rule.since, lead_days, counts)  # rules with the same clock and counters share a clause
        if key not in clauses:
            due = _start_column(rule) <= now_utc - dt.timedelta(days=lead_days)
            clauses[key] = and_(due, *(_COMPARE[op](_COUNTERS[name], value) for name, op, value in counts))
    return or_(*clauses.values())


class _Sentences:
    """Each reminder's or reclaim's sentences (en, zh) with its deadline as shown.

    The words around the deadline are the same for every verdict of one action, rule and outcome,
    so :meth:`ReclaimVerdict.explain` (the one source of these sentences) runs once per such kind
    and its words are reused with each verdict's own deadline; a sentence that does not show the
    deadline exactly once is always asked of ``explain``.
    """

    def __init__(self, template: CompiledTemplate) -> None:
        self.template = template
        self.zone = template.timezone
        self.known: dict[tuple[Any, ...], tuple[str, str, str, str] | None] = {}

    def __call__(self, verdict: ReclaimVerdict) -> tuple[str, str, str]:
        """The verdict's sentences (en, zh) and its deadline as shown ("" without one)."""
        if verdict.deadline is None:
            return verdict.explain(self.template, "en"), verdict.explain(self.template, "zh"), ""
        when = format_value(verdict.deadline.astimezone(self.zone))
        key = (verdict.action, verdict.rule, verdict.then)
        words = self.known.get(key, False)
        if words is False:
            en, zh = verdict.explain(self.template, "en"), verdict.explain(self.template, "zh")
            if en.count(when) == 1 and zh.count(when) == 1:
                (a, b), (c, d) = en.split(when), zh.split(when)
                self.known[key] = (a, b, c, d)
            else:
                self.known[key] = None
            return en, zh, when
        if words is None:
            return verdict.explain(self.template, "en"), verdict.explain(self.template, "zh"), when
        a, b, c, d = words
        return a + when + b, c + when + d, when


# The sweep's rows, in this column order (tuples: no per-row mapping work).
_AUDIT_COLUMNS = ("at", "team_id", "actor", "action", "lead_id", "from_rep_id", "to_rep_id", "rule", "template_version_id", "reason", "explanation", "job_id")
_NOTE_COLUMNS = ("key", "at", "team_id", "recipient", "role", "kind", "lead_id", "rule", "message_en", "message_zh", "lead_count", "leads")
NOTICE_SHOWN = 20  # leads a notice's message names; its ``leads`` holds them all


class _Notices:
    """A sweep batch's notices: one per recipient, role, kind and rule, naming every lead it
    reminded or reclaimed for that person (a rep's manager hears about all their reps' leads).

    One row per notice rather than per lead and person: a big sweep tells each person once per
    batch instead of thousands of times, and writes a few rows instead of one or two per lead.
    A notice about one lead reads as that lead's own sentence, as :meth:`ReclaimVerdict.explain` words it.
    """

    def __init__(self, template: CompiledTemplate, managers: Mapping[str, str | None]) -> None:
        self.titles = {r.name: r.title for r in template.reclaim.rules} if template.reclaim else {}
        self.managers = managers
        # (kind, rule, then, role, recipient) -> [(lead, owner, deadline as shown, en, zh)]
        self.groups: dict[tuple[str, str | None, str | None, str, str], list[tuple[str, str, str, str, str]]] = {}

    def add(self, kind: str, verdict: ReclaimVerdict, lead_id: str, owner: str, when: str, en: str, zh: str) -> None:
        item = (lead_id, owner, when, en, zh)
        for role in verdict.notify or ("owner",):
            recipient = owner if role == "owner" else self.managers.get(owner)
            if recipient:
                key = (kind, verdict.rule, verdict.then if kind == "reclaim" else None, role, recipient)
                group = self.groups.get(key)
                if group is None:
                    self.groups[key] = [item]
                else:
                    group.append(item)

    def messages(self, kind: str, rule: str | None, then: str | None, items: Sequence[tuple[str, str, str, str, str]]) -> tuple[str, str]:
        if len(items) == 1:
            lead_id, owner, _, en, zh = items[0]
            return f"lead {lead_id} ({owner}): {en}", f"线索 {lead_id}({owner}):{zh}"
        n, title = len(items), self.titles.get(rule or "")
        shown = items[:NOTICE_SHOWN]
        more_en = f"; and {n - len(shown)} more" if n > len(shown) else ""
        more_zh = f";另有 {n - len(shown)} 条" if n > len(shown) else ""
        list_en = "; ".join(f"{lead} ({owner}) {when}" for lead, owner, when, _, _ in shown) + more_en
        list_zh = ";".join(f"{lead}({owner}){when}" for lead, owner, when, _, _ in shown) + more_zh
        label_en, label_zh = (title.get("en"), title.get("zh")) if title is not None else ("", "")
        if kind == "remind":
            return (
                f"{n} leads: reminder: rule {rule} ({label_en}) reclaims them at these deadlines unless they are followed up: {list_en}",
                f"{n} 条线索:提醒:规则 {rule}({label_zh})将在以下期限回收,请及时跟进:{list_zh}",
            )
        then_en, then_zh = ("back to the pool", "回到公海") if then == "pool" else ("reassigned", "重新分配")
        return (
            f"{n} leads reclaimed by rule {rule} ({label_en}): deadlines passed; {then_en}: {list_en}",
            f"{n} 条线索按规则 {rule}({label_zh})回收:期限已过,{then_zh}:{list_zh}",
        )

    def rows(self, at: Any, team_id: int, now: dt.datetime) -> list[tuple[Any, ...]]:
        """The notices as rows in :data:`_NOTE_COLUMNS` order."""
        out = []
        clock = now.isoformat()
        for (kind, rule, then, role, recipient), items in self.groups.items():
            first = items[0][0]
            key = _note_key(first, team_id, clock, kind, rule or "", role, recipient, "\x1e".join(item[0] for item in items))
            en, zh = self.messages(kind, rule, then, items)
            leads = dumps([item[:3] for item in items])
            out.append((key, at, team_id, recipient, role, kind, first if len(items) == 1 else None, rule, en, zh, len(items), leads))
        return out


def _bulk(fn: Callable[..., SweepResult]) -> Callable[..., SweepResult]:
    """Run a sweep batch the way the other bulk writers do: Python's cycle collector paused while
    the batch holds its tens of thousands of small rows, and on SQLite a page cache that holds
    the pages the batch reads and writes (see :mod:`configurator.services.bulk`)."""

    @functools.wraps(fn)
    def batch(session: Session, *args: Any, **kwargs: Any) -> SweepResult:
        with collector_paused(), bulk_cache(session):
            return fn(session, *args, **kwargs)

    return batch


@_bulk
def sweep_batch(
    session: Session,
    team: Team,
    now: dt.datetime,
    *,
    after: str | None = None,
    batch: int | None = None,
    dry_run: bool = False,
    actor: str = "system",
    job_id: int | None = None,
    version: TemplateVersion | None = None,
    carry: SweepCarry | None = None,
) -> SweepResult:
    """Sweep one batch of the team's due leads with ids after ``after``; ``next_after`` says where to go on.

    On SQLite the session must hold the write lock (``session_scope(..., write_lock=True)``)
    unless ``dry_run``. ``carry``: the same object for every batch of one sweep, so that a batch
    can take the roster's figures from the one before instead of reading them (see :class:`SweepCarry`).
    """
    if batch is None:
        batch = sweep_batch_size(session)
    if batch < 1:
        raise _refuse("sweep.batch", "the batch size must be at least 1", "批量大小至少为 1")
    sqlite = dialect_name(session) == "sqlite"
    if sqlite and not dry_run and not session.connection().get_execution_options().get("fenpei_write_lock"):
        raise _refuse(
            "db.write_lock",
            "the reclaim sweep on SQLite needs a unit of work that holds the write lock (session_scope(..., write_lock=True))",
            "在 SQLite 上回收线索需要持有写锁的事务(session_scope(..., write_lock=True))",
        )
    version = version or get_version(session, team.template_name)
    template = compiled(version)
    result = SweepResult(team.slug, dry_run, version.version)
    spec = template.reclaim
    if spec is None or not spec.rules:
        return result
    now_utc = utc(now)
    query = _candidate_query(template, team, now, after, batch)
    if not sqlite and not dry_run:
        query = query.with_for_update(of=Lead)
    rows = session.connection().execute(query).fetchall()
    result.scanned = len(rows)
    result.next_after = rows[-1][0] if len(rows) == batch else None
    if not rows:
        return result

    # The roster's figures (loads, quotas, points) are a GROUP BY over all the team's leads: read
    # them only when a rule's condition or a points rule for the sweep's events can look at them.
    need_roster = any(rule.when is not None and rule.when.rep_names for rule in spec.rules) or _earns_points(template, "lead.reclaimed", "lead.assigned")
    carried = carry is not None and not dry_run and SweepCarry.usable(session, template)
    derived = carry.take(session, team, version, now) if carry is not None and carried else None
    if need_roster and derived is None:
        derived = _rounded(figures(session, team, template, now))
    roster = snapshot(session, team, template, now, derived) if need_roster else []
    day = now.astimezone(template.timezone).date()
    owners = {r.id: r.values(day) for r in roster}
    managers = {r.id: r.manager for r in roster} if need_roster else dict(session.execute(select(Rep.id, Rep.manager).where(Rep.team_id == team.id)).all())
    reclaim_points = _earns_points(template, "lead.reclaimed")
    clock = template.clock(now)
    at = stored(session, AUDIT.c.at, now_utc) if sqlite else now_utc  # the sweep's clock as the driver takes it
    version_id, team_id = version.id, team.id

    reclaim_params: list[dict[str, Any]] = []
    remind_params: list[dict[str, Any]] = []
    audit_rows: list[tuple[Any, ...]] = []
    notices = _Notices(template, managers)
    events: list[Event] = []
    reoffer: dict[str, list[dict[str, Any]]] = defaultdict(list)  # previous owner -> records
    gone: list[tuple[str, float, bool, bool]] = []  # the reclaimed leads' owners, weights, open and from-pool flags
    sentences = _Sentences(template)
    read_time = _reader(sqlite)
    loads, stored_values, lead_values = json_loads, template.stored_values, template.values

    def text(value: str | None) -> str:
        return "null" if value is None else json_text(value)

    # The verdict reads only some fields, times and tables of a lead (template.reclaim_reads):
    # each candidate is read that far, graded only once a condition reads a grade, and read whole
    # only when the reclaim passes it on (points events, re-offers).
    read_fields, read_names, tables = template.reclaim_reads
    read_times = tuple((name, i) for name, i in _RECORD_TIMES if name in read_names)
    graded = frozenset(name for name, _ in tables)

    def grade(L: dict[str, Any]) -> None:  # only when a condition reads a grade (verdict_for)
        for name, value in tables:
            L[name] = value(L)

    def lead_record(row: Any, doc: Any, only: frozenset[str] | None, times: Sequence[tuple[str, int]]) -> dict[str, Any]:
        """record_of, from the raw row: the fields, the built-in values, aware UTC date-times."""
        record = stored_values(doc, only)
        record["id"] = row[0]
        if row[3]:
            record["owner"] = row[3]
        if row[4]:
            record["previous_owner"] = row[4]
        for name, i in times:
            value = row[i]
            if value is not None:
                record[name] = read_time(value)
        record["followup_count"] = row[11]
        record["reclaim_count"] = row[12]
        return record

    for row in rows:
        lead_id, fields, revision, owner = row[0], row[1], row[2], row[3]
        doc = fields if fields is None or fields.__class__ is dict else loads(fields)
        try:
            L = lead_values(lead_record(row, doc, read_fields, read_times), now, clock)
            verdict = verdict_for(spec, L, now, owners.get(owner), grade=grade, graded=graded)
        except Exception as exc:  # noqa: BLE001 - one lead's bad data must not stop the sweep; it is reported
            result.errors.append({"lead": lead_id, "owner": owner, "en": f"not evaluated: {exc}", "zh": f"无法评估:{exc}"})
            continue
        action = verdict.action
        if action == "remind":
            reminded_at = read_time(row[10])
            if reminded_at is not None and verdict.since is not None and reminded_at >= verdict.since:
                continue  # already reminded for this deadline
            en, zh, when = sentences(verdict)
            deadline = verdict.deadline.isoformat() if verdict.deadline else None
            result.reminded.append({"lead": lead_id, "owner": owner, "rule": verdict.rule, "deadline": deadline, "en": en, "zh": zh})
            remind_params.append({"b_id": lead_id, "b_rev": revision})
            notices.add("remind", verdict, lead_id, owner, when, en, zh)
            continue
        if action != "reclaim":
            continue
        en, zh, when = sentences(verdict)
        deadline = verdict.deadline.isoformat() if verdict.deadline else None
        result.reclaimed.append({"lead": lead_id, "owner": owner, "rule": verdict.rule, "then": verdict.then, "deadline": deadline, "en": en, "zh": zh})
        reclaim_params.append({"b_id": lead_id, "b_rev": revision, "b_owner": owner})
        gone.append((owner, row[13], bool(row[14]), bool(row[15])))
        since = verdict.since.isoformat() if verdict.since else None
        # {"trace": null, "verdict": {rule, since, deadline, then}} as compact JSON, written directly; the
        # sentences are not stored: explain_lead renders them from the verdict and the template version
        explanation = f'{{"trace":null,"verdict":{{"rule":{text(verdict.rule)},"since":{text(since)},"deadline":{text(deadline)},"then":{text(verdict.then)}}}}}'
        audit_rows.append((at, team_id, actor, "reclaim", lead_id, owner, None, verdict.rule, version_id, None, explanation, job_id))
        notices.add("reclaim", verdict, lead_id, owner, when, en, zh)
        if not reclaim_points and verdict.then != "reassign":
            continue  # nothing reads the lead as it is after the reclaim
        after_record = lead_record(row, doc, None, _RECORD_TIMES)
        after_record.pop("owner", None)
        after_record.update(previous_owner=owner, reclaimed_at=now_utc, reclaim_count=int(row[12] or 0) + 1)
        if reclaim_points:
            events.append(Event("lead.reclaimed", event_id=f"reclaim:{lead_id}:{revision}", at=now, rep=None, previous_owner=owner, lead=after_record))
        if verdict.then == "reassign":
            reoffer[owner].append({k: v for k, v in after_record.items() if k not in FRESH_OWNERSHIP and k != "assigned_at"})
    if dry_run:
        return result

    # Reminder stamps first: on PostgreSQL they change no indexed column, so they can stay on
    # their page (a HOT update, see the leads table's fillfactor) before the reclaims' new row
    # versions take the page's free room.
    if remind_params:
        _update_leads(session, sqlite, remind_params, lambda b: {"reminded_at": now_utc})
    if reclaim_params:
        matched = _update_leads(
            session,
            sqlite,
            reclaim_params,
            lambda b: {
                "state": "pool",
                "owner_id": None,
                "previous_owner_id": b("b_owner"),
                "reclaimed_at": now_utc,
                "reclaim_count": LEADS.c.reclaim_count + 1,
                "from_pool": False,
                "revision": LEADS.c.revision + 1,
                **FRESH_OWNERSHIP,
            },
            LEADS.c.state == "owned",
        )
        if matched != len(reclaim_params):  # cannot happen under the row locks; never half-apply if it does
            raise _refuse(
                "sweep.conflict",
                "{n} leads changed while the sweep held them; nothing of this batch was applied, run the sweep again",
                "回收过程中有 {n} 条线索被修改;本批未做任何更改,请重新运行回收",
                n=len(reclaim_params) - matched,
            )
    insert_rows(session, AUDIT, _AUDIT_COLUMNS, audit_rows, converted=True)
    note_rows = notices.rows(at, team_id, now_utc)
    if note_rows:
        insert_rows(session, NOTES, _NOTE_COLUMNS, note_rows, converted=True, skip_conflicts=("key",))
        result.notifications = len(note_rows)
    # The figures as they are after the reclaims (the leads left their owners), then after the re-offer.
    after_reclaims = _move(derived, gone=gone) if carried and derived is not None else None
    if reoffer:
        after_reclaims = _reoffer(session, team, template, version, reoffer, now, actor, job_id, result, events, after_reclaims)
    if events and need_roster:  # without a points rule for these events nothing is earned
        reps = {r.id: r for r in roster}
        result.points = points_service.write_entries(session, points_service.award(session, team, template, version, events, reps, now))
    if carry is not None and carried and after_reclaims is not None:
        carry.keep(session, team, version, now, after_reclaims)
    return result


class SweepCarry:
    """The roster's derived figures (loads, quotas) carried from one batch of a sweep to the next.

    A re-offer needs every rep's load: a GROUP BY over all the team's leads, a second or more at
    a million leads, which read again for every batch cost more than the rest of the sweep. The
    figures a batch ends with (read once, then moved by the batch's own reclaims and re-offers)
    are exactly what that query would give the next batch as long as nothing else changed the
    team's leads in between. On SQLite every batch holds the database write lock, every change of
    a lead's owner, state, weight or openness (and every claim) writes an audit row, a new lead
    takes a new row id and points are new ledger rows: so the newest audit id, lead row id and
    ledger id, read when a batch ends and again when the next one starts, say whether anything
    else was written. When one moved, the next batch reads the figures again. On PostgreSQL (ids
    are not handed out in commit order) and when the sweep's own events earn points, every batch
    reads them, as without a carry.
    """

    def __init__(self) -> None:
        self._figures: Figures | None = None
        self._mark: tuple[Any, ...] | None = None

    @staticmethod
    def usable(session: Session, template: CompiledTemplate) -> bool:
        return dialect_name(session) == "sqlite" and not _earns_points(template, "lead.reclaimed", "lead.assigned")

    @staticmethod
    def _now(session: Session, team: Team, version: TemplateVersion, now: dt.datetime) -> tuple[Any, ...]:
        newest = session.connection().exec_driver_sql(
            "SELECT (SELECT max(id) FROM audit_events), (SELECT max(rowid) FROM leads), (SELECT max(id) FROM point_entries)"
        ).one()
        return (team.id, version.id, utc(now), *newest)

    def take(self, session: Session, team: Team, version: TemplateVersion, now: dt.datetime) -> Figures | None:
        """The figures the last batch left, if nothing else was written since (once: the caller keeps them again)."""
        kept, mark = self._figures, self._mark
        self._figures = self._mark = None
        if kept is None or mark != self._now(session, team, version, now):
            return None
        return kept

    def keep(self, session: Session, team: Team, version: TemplateVersion, now: dt.datetime, derived: Figures) -> None:
        """The figures as this batch leaves them (call after its last write)."""
        self._figures, self._mark = derived, self._now(session, team, version, now)


def _rounded(derived: Figures) -> Figures:
    """Loads to 1e-9, so that figures read from the database and figures moved lead by lead agree
    (a sum's last bits depend on its order; caps are compared with a 1e-9 tolerance)."""
    derived.loads = {rep: (round(load, 9), n, held) for rep, (load, n, held) in derived.loads.items()}
    return derived


def _move(derived: Figures, *, gone: Sequence[tuple[str, float, bool, bool]] = (), came: Sequence[tuple[str, float, bool]] = ()) -> Figures:
    """``derived`` after leads left their owners (owner, weight, open, from the pool) and after
    re-offered leads came to new owners (owner, weight, open), as the snapshot's queries count them."""
    loads, counts = derived.loads, derived.counts
    for owner, weight, is_open, from_pool in gone:
        load, n, held = loads.get(owner, (0.0, 0, 0))
        loads[owner] = (round(load - weight, 9), n - 1, held - from_pool) if is_open else (load, n, held - from_pool)
    for owner, weight, is_open in came:
        load, n, held = loads.get(owner, (0.0, 0, 0))
        loads[owner] = (round(load + weight, 9), n + 1, held) if is_open else (load, n, held)
        today, week = counts.get(owner, (0, 0))
        counts[owner] = (today + 1, week + 1)  # an ``assign`` audit row at the sweep's clock
    return derived


# The parameters of the keyed UPDATEs and their types (PostgreSQL reads them from JSON, see _update_leads).
_PARAM_TYPES: dict[str, Any] = {"b_id": String(), "b_rev": Integer(), "b_owner": String()}


def _earns_points(template: CompiledTemplate, *kinds: str) -> bool:
    """Does a points rule of the template listen to one of these event kinds?"""
    return template.points is not None and any(rule.on in kinds for rule in template.points.rules)


def _update_leads(
    session: Session,
    sqlite: bool,
    params: Sequence[Mapping[str, Any]],
    values: Callable[[Callable[[str], Any]], dict[str, Any]],
    *where: ColumnElement[bool],
) -> int:
    """``UPDATE leads SET values WHERE id = b_id AND revision = b_rev AND where`` for each of ``params``;
    returns the rows matched. ``values`` gets the accessor of the other parameters (``b("b_owner")``).

    SQLite runs it as an executemany; on PostgreSQL an executemany is a statement per row, so the
    parameters go as one JSON document in one ``UPDATE … FROM json_to_recordset(…)``.
    """
    if sqlite:
        statement = update(LEADS).where(LEADS.c.id == bindparam("b_id"), LEADS.c.revision == bindparam("b_rev"), *where).values(**values(bindparam))
        return _sqlite_executemany(session, statement, params)
    v = _recordset(params, {name: _PARAM_TYPES[name] for name in params[0]})
    statement = update(LEADS).where(LEADS.c.id == v.c.b_id, LEADS.c.revision == v.c.b_rev, *where).values(**values(lambda name: v.c[name]))
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


def _sqlite_executemany(session: Session, statement: Any, params: Sequence[Mapping[str, Any]]) -> int:
    """``statement`` for each of ``params`` as one driver-level executemany; returns the rows matched.

    The statement is compiled once, its fixed values converted once as their columns store them,
    and each row's parameters (text and integers, which SQLite takes as they are) put in order:
    none of SQLAlchemy's per-row parameter handling.
    """
    dialect = session.get_bind().dialect
    compiled = statement.compile(dialect=dialect)
    first = params[0]
    fixed = compiled.construct_params(first)
    names = list(compiled.positiontup or ())
    constants: dict[str, Any] = {}
    for name in names:
        if name not in first:
            value = fixed[name]
            process = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            constants[name] = process(value) if process is not None and value is not None else value
    rows = [tuple(p[n] if n not in constants else constants[n] for n in names) for p in params]
    return cast("CursorResult[Any]", session.connection().exec_driver_sql(compiled.string, rows)).rowcount


def _recordset(rows: Sequence[Mapping[str, Any]], types: Mapping[str, Any]) -> Any:
    """PostgreSQL: ``rows`` as one JSON parameter read back as typed columns ``v.<name>`` (one
    parameter whatever the number of rows; JSON-typed values stay documents)."""
    shown: dict[Any, str] = {}  # most timestamps are the sweep's clock: format each once

    def scalar(value: Any) -> str:
        if not isinstance(value, (dt.datetime, dt.date)):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        text = shown.get(value)
        if text is None:
            text = shown[value] = value.isoformat()
        return text

    document = json.dumps(rows, default=scalar, ensure_ascii=False, separators=(",", ":"))
    source = func.json_to_recordset(sql_cast(bindparam("rows", document, type_=Text()), JSON()))
    return source.table_valued(*(column(name, type_) for name, type_ in types.items())).render_derived(name="v", with_types=True)


def _reoffer(
    session: Session,
    team: Team,
    template: CompiledTemplate,
    version: TemplateVersion,
    reoffer: Mapping[str, list[dict[str, Any]]],
    now: dt.datetime,
    actor: str,
    job_id: int | None,
    result: SweepResult,
    events: list[Event],
    derived: Figures | None,
) -> Figures:
    """Run the policies again for reclaimed leads whose rule says ``reassign``, never back to the previous owner.

    ``derived``: the roster's figures without the reclaimed leads when the caller has them (see
    :class:`SweepCarry`), else they are read. Returns them as they are after the re-offer.
    """

    rotation = lock_rotation(session, team)
    if derived is None:
        derived = _rounded(figures(session, team, template, now))  # loads without the reclaimed leads
    roster = snapshot(session, team, template, now, derived)
    state = EngineRotation.from_dict(rotation.state)
    now_utc = utc(now)
    sqlite = dialect_name(session) == "sqlite"
    at = stored(session, AUDIT.c.at, now_utc) if sqlite else now_utc  # the clock as the driver takes it
    assigned_at = stored(session, LEADS.c.assigned_at, now_utc) if sqlite else now_utc
    outputs_json = Memo()  # re-offered leads share few combinations of grades
    params: list[dict[str, Any]] = []
    audit_rows: list[tuple[Any, ...]] = []
    recorder = Recorder(template)  # one for the batch: what the decisions share is encoded once
    for previous, records in sorted(reoffer.items()):
        outcome = engine_assign(template, records, roster, state, now, explain=True, exclude=frozenset({previous}))
        roster, state = list(outcome.roster), outcome.state
        for record, d in zip(records, outcome.decisions, strict=True):
            if d.outcome == "pool":
                continue  # it stays where the reclaim put it
            owner = d.owner if d.outcome == "assigned" else None
            is_open = bool(template.load.counts(d.values))
            params.append(
                {
                    "b_id": record["id"],
                    "b_owner": owner,
                    "b_state": "owned" if owner else "escalated",
                    "b_assigned_at": assigned_at if owner else None,
                    "b_weight": d.weight,
                    "b_outputs": outputs_json(d.outputs) if sqlite else d.outputs,
                    "b_open": is_open,
                }
            )
            audit_rows.append(
                (at, team.id, actor, "assign" if owner else "escalate", record["id"], None, owner, d.policy, version.id, "re-offered after reclaim", dumps(audit_explanation(template, d, recorder)), job_id)
            )
            if owner:
                _move(derived, came=[(owner, d.weight, is_open)])
                result.reassigned[record["id"]] = owner
                events.append(Event("lead.assigned", event_id=f"reoffer:{record['id']}:{now_utc.isoformat()}", at=now, rep=owner, lead=dict(record, owner=owner, assigned_at=now_utc)))
            else:
                result.escalated.append(record["id"])
    if params:
        statement = (
            update(LEADS)
            .where(LEADS.c.id == bindparam("b_id"), LEADS.c.state == "pool")
            .values(
                owner_id=bindparam("b_owner"),
                state=bindparam("b_state"),
                assigned_at=bindparam("b_assigned_at"),
                weight=bindparam("b_weight"),
                outputs=bindparam("b_outputs"),
                is_open=bindparam("b_open"),
                template_version_id=version.id,
                revision=LEADS.c.revision + 1,
            )
        )
        if sqlite:  # the values are what SQLite stores already: no per-row parameter handling
            _sqlite_executemany(session, statement, params)
        else:
            session.execute(statement, params)
        insert_rows(session, AUDIT, _AUDIT_COLUMNS, audit_rows, converted=True)
    rotation.state = state.to_dict()
    rotation.revision = rotation.revision + 1
    session.flush()
    return derived


def reclaim_sweep(
    session: Session,
    team: Team,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    actor: str = "system",
    job_id: int | None = None,
    limit: int | None = None,
    batch: int | None = None,
) -> SweepResult:
    """The whole sweep for ``team`` in the caller's transaction (at most ``limit`` candidates)."""
    version = get_version(session, team.template_name)
    total = SweepResult(team.slug, dry_run, version.version)
    after: str | None = None
    carry = SweepCarry()
    batch = batch or sweep_batch_size(session)
    while True:
        size = batch if limit is None else min(batch, limit - total.scanned)
        if size < 1:
            break
        part = sweep_batch(session, team, now, after=after, batch=size, dry_run=dry_run, actor=actor, job_id=job_id, version=version, carry=carry)
        total.merge(part)
        if part.next_after is None:
            break
        after = part.next_after
    total.next_after = None
    return total


def run_sweep(
    sessions: sessionmaker[Session],
    team_slug: str,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    actor: str = "system",
    job_id: int | None = None,
    batch: int | None = None,
    progress: Callable[[SweepResult], None] | None = None,
) -> SweepResult:
    """The whole sweep, one committed transaction per batch, all on the version the first batch used."""
    with session_scope(sessions) as session:
        team = _team(session, team_slug)
        version_id = get_version(session, team.template_name).id
    total: SweepResult | None = None
    after: str | None = None
    carry = SweepCarry()
    while True:
        with session_scope(sessions, write_lock=not dry_run) as session:
            team = _team(session, team_slug)
            version = session.get(TemplateVersion, version_id)
            part = sweep_batch(session, team, now, after=after, batch=batch, dry_run=dry_run, actor=actor, job_id=job_id, version=version, carry=carry)
        if total is None:
            total = part
        else:
            total.merge(part)
        if progress is not None:
            progress(total)
        if part.next_after is None:
            break
        after = part.next_after
    assert total is not None
    total.next_after = None
    return total


def _team(session: Session, slug: str) -> Team:
    team = session.scalar(select(Team).where(Team.slug == slug))
    if team is None:
        raise _refuse("team.unknown", "no team {t!r}", "没有团队 {t!r}", t=slug)
    return team


# ------------------------------------------------------------------------------------------------
# Claims and releases
# ------------------------------------------------------------------------------------------------


def claim(session: Session, lead_id: str, rep_id: str, now: dt.datetime) -> Lead:
    """``rep_id`` takes a lead from the pool, within the template's daily limit, maximum held,
    cooldown, cap and eligibility; refused with the reason in en and zh otherwise.

    Takes the team's rotation lock (claims move load between reps like assignment does).
    """
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    team = session.get(Team, lead.team_id)
    assert team is not None
    lock_rotation(session, team)
    session.refresh(lead)
    rep = session.get(Rep, rep_id)
    if rep is None or rep.team_id != team.id:
        raise _refuse("rep.unknown", "no rep {r!r} in team {t!r}", "团队 {t!r} 中没有销售 {r!r}", r=rep_id, t=team.slug)
    if lead.state != "pool":
        raise _refuse("pool.not_in_pool", "lead {id} is not in the pool", "线索 {id} 不在公海中", id=lead_id)
    version = get_version(session, team.template_name)
    template = compiled(version)
    target = next(r for r in snapshot(session, team, template, now) if r.id == rep_id)
    record = record_of(template, lead)
    verdict = check_claim(template, record, target, now)
    if not verdict.allowed:
        raise ServiceError(Problem(f"pool.{verdict.reason}", verdict.en, verdict.zh))
    grade = grade_record(template, record, now)
    now_utc = utc(now)
    change = (
        update(LEADS)
        .where(LEADS.c.id == lead_id, LEADS.c.state == "pool", LEADS.c.revision == lead.revision)
        .values(
            state="owned",
            owner_id=rep_id,
            from_pool=True,
            assigned_at=now_utc,
            weight=grade.weight,
            outputs=grade.outputs,
            is_open=grade.is_open,
            template_version_id=version.id,
            revision=LEADS.c.revision + 1,
            **FRESH_OWNERSHIP,
        )
    )
    if cast("CursorResult[Any]", session.execute(change)).rowcount != 1:
        raise _refuse("lead.changed", "lead {id} changed meanwhile; reload it and try again", "线索 {id} 已被他人修改,请刷新后重试", id=lead_id)
    session.add(PoolClaim(lead_id=lead_id, rep_id=rep_id, at=now_utc))
    name = rep.name or rep_id
    audit.record(session, at=now_utc, team_id=team.id, actor=rep_id, action="claim", lead_id=lead_id, to_rep=rep_id, version_id=version.id, en=f"claimed from the pool by {name}", zh=f"{name} 从公海领取")
    session.flush()
    session.expire(lead)
    return lead


def release(session: Session, lead_id: str, rep_id: str, reason: str, now: dt.datetime) -> Lead:
    """The owner gives a lead back to the pool, with a reason. The cooldown applies as after a reclaim."""
    reason = (reason or "").strip()
    if not reason:
        raise _refuse("release.reason", "giving a lead back to the pool needs a reason", "退回公海需要填写原因")
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    if lead.state != "owned" or lead.owner_id != rep_id:
        raise _refuse("release.owner", "only the owner can give lead {id} back to the pool", "只有负责人可以将线索 {id} 退回公海", id=lead_id)
    team = session.get(Team, lead.team_id)
    assert team is not None
    version = get_version(session, team.template_name)
    now_utc = utc(now)
    change = (
        update(LEADS)
        .where(LEADS.c.id == lead_id, LEADS.c.state == "owned", LEADS.c.owner_id == rep_id, LEADS.c.revision == lead.revision)
        .values(state="pool", owner_id=None, previous_owner_id=rep_id, reclaimed_at=now_utc, from_pool=False, revision=LEADS.c.revision + 1, **FRESH_OWNERSHIP)
    )
    if cast("CursorResult[Any]", session.execute(change)).rowcount != 1:
        raise _refuse("lead.changed", "lead {id} changed meanwhile; reload it and try again", "线索 {id} 已被他人修改,请刷新后重试", id=lead_id)
    audit.record(
        session, at=now_utc, team_id=team.id, actor=rep_id, action="release", lead_id=lead_id, from_rep=rep_id, version_id=version.id, reason=reason,
        en=f"given back to the pool by {rep_id}: {reason}", zh=f"{rep_id} 退回公海:{reason}",
    )
    session.flush()
    session.expire(lead)
    return lead


def pool_leads(session: Session, team: Team, *, limit: int = 100, offset: int = 0) -> Sequence[Lead]:
    """The team's pool, most recently reclaimed first."""
    return session.scalars(
        select(Lead).where(Lead.team_id == team.id, Lead.state == "pool").order_by(Lead.reclaimed_at.desc().nulls_last(), Lead.id).limit(limit).offset(offset)
    ).all()


def inbox(session: Session, recipient: str, *, unread_only: bool = False, limit: int = 100, mark_read: dt.datetime | None = None) -> Sequence[Notification]:
    """``recipient``'s notifications, newest first; with ``mark_read`` those returned are marked read at that time."""
    query = select(Notification).where(Notification.recipient == recipient)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    notes = session.scalars(query.order_by(Notification.at.desc(), Notification.id.desc()).limit(limit)).all()
    if mark_read is not None:
        unread = [n.id for n in notes if n.read_at is None]
        if unread:
            session.execute(update(NOTES).where(NOTES.c.id.in_(unread)).values(read_at=utc(mark_read)))
    return notes

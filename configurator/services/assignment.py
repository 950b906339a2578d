"""Assignment as a service: the engine's decisions applied in one transaction, safely under concurrency.

:func:`assign_pending` runs one batch for one team:

1. it locks the team's rotation-state row (``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite the
   caller's session must already hold the database write lock, i.e. it was opened with
   ``session_scope(factory, write_lock=True)``, which issues ``BEGIN IMMEDIATE``). Batches of
   one team are therefore serial, and each starts from what the previous one committed, so caps,
   quotas and the rotation are exact whatever the number of workers;
2. it reads the pending leads (state ``new``, oldest first) and the roster snapshot, and runs the
   engine once for the batch with explanations on;
3. it applies everything set-based, in the same transaction: the leads' conditional ``UPDATE``
   (by revision; a row whose state or revision changed meanwhile makes the whole batch roll back
   with a :class:`ServiceError`, never half-applied), one bulk ``INSERT`` of audit rows, each with
   the decision's record (:class:`rule_engine.trace.Recorder`: the rows, reps and values its
   explanation needs), the new rotation state, and the ``lead.assigned`` points entries
   (``INSERT … ON CONFLICT DO NOTHING`` on the idempotency key). See "Writing a batch" below for
   the statements each database gets.

Services never commit: the caller's unit of work does. :func:`reassign` (a manager's override)
takes the same lock, and :func:`explain_lead` reads a lead's audit trail back as sentences: an
engine decision is rendered from its record and the template version the row names, in the
reader's language (the sentences are not stored).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import CursorResult, Table, literal_column, select, text, update
from sqlalchemy.orm import Session

from configurator.models import (
    AuditEvent,
    Job,
    Lead,
    Rep,
    RotationState,
    Team,
    TemplateVersion,
)
from configurator.services import audit
from configurator.services import handovers as handovers_service
from configurator.services import points as points_service
from configurator.services.bulk import (
    Memo,
    bulk_cache,
    collector_paused,
    dumps,
    insert_rows,
    stored,
)
from configurator.services.dialect import dialect_name, insert_ignoring
from configurator.services.leads import FRESH_OWNERSHIP, RECORD_COLUMNS, grade_record, record_of
from configurator.services.roster import snapshot, utc
from configurator.services.templates import ServiceError, compiled, get_version
from rule_engine import CompiledTemplate, Decision, Event, Problem
from rule_engine import RotationState as EngineRotation
from rule_engine import assign as engine_assign
from rule_engine.assignment import LoadSpec
from rule_engine.conditions import NOW_KEY
from rule_engine.errors import closest
from rule_engine.reclaim import ReclaimVerdict
from rule_engine.trace import Recorder, render

__all__ = ["ASSIGN_BATCH", "AssignResult", "TrailEntry", "assign_pending", "audit_explanation", "explain_lead", "lock_rotation", "reassign"]

# Leads per transaction when a run assigns every pending lead (`fenpei assign`, assignment jobs):
# each batch commits on its own, so a long run keeps its progress and other writers get turns.
# Each batch first finds the oldest pending leads (a sort of all of them) and the roster's figures,
# which at 100,000 pending leads costs about as much as assigning a few thousand: batches of 500
# spent most of their time there. 10,000 leads take about a second to assign and write.
ASSIGN_BATCH = 10_000

# Audit action per engine outcome ("error": the engine could not evaluate the lead; a manager decides).
# The tables, typed as Core tables for set-based statements (executemany), bypassing the ORM.
LEADS = cast(Table, Lead.__table__)
AUDIT = cast(Table, AuditEvent.__table__)
ROTATIONS = cast(Table, RotationState.__table__)

_ACTIONS = {"assigned": "assign", "pool": "pool", "escalated": "escalate", "error": "escalate"}
_STATES = {"assigned": "owned", "pool": "pool", "escalated": "escalated", "error": "escalated"}


def _refuse(code: str, en: str, zh: str, **params: Any) -> ServiceError:
    return ServiceError(Problem.make(code, en, zh, **params))


@dataclass
class AssignResult:
    """What one batch did: lead ids per outcome, in the order they were decided."""

    team: str
    template_version: int | None = None  # the version number the batch used
    template_version_id: int | None = None
    assigned: dict[str, str] = field(default_factory=dict)  # lead id -> rep id
    pool: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # could not be evaluated (also escalated)
    points: int = 0  # ledger entries written

    @property
    def counts(self) -> dict[str, int]:
        """Leads per outcome."""
        return {"assigned": len(self.assigned), "pool": len(self.pool), "escalated": len(self.escalated), "error": len(self.errors)}

    @property
    def per_rep(self) -> dict[str, int]:
        """Leads assigned per rep, by rep id."""
        return dict(sorted(Counter(self.assigned.values()).items()))

    @property
    def total(self) -> int:
        """Leads decided by the batch."""
        return len(self.assigned) + len(self.pool) + len(self.escalated) + len(self.errors)

    def merge(self, other: AssignResult) -> None:
        """Add another batch's outcome to this one (for callers that loop over batches)."""
        self.assigned.update(other.assigned)
        self.pool += other.pool
        self.escalated += other.escalated
        self.errors += other.errors
        self.points += other.points
        if other.template_version is not None:
            self.template_version, self.template_version_id = other.template_version, other.template_version_id


# ------------------------------------------------------------------------------------------------
# Locking
# ------------------------------------------------------------------------------------------------


def lock_rotation(session: Session, team: Team) -> RotationState:
    """Lock the team's rotation-state row (creating it if missing) for the rest of the transaction.

    Every change that moves leads between a team's reps takes this lock first, so they are
    serial per team. On PostgreSQL the row is locked with ``SELECT … FOR UPDATE``; SQLite has no
    row locks, so the session must hold the database write lock (``session_scope(factory,
    write_lock=True)``): a ServiceError says so otherwise.
    """
    if dialect_name(session) == "sqlite" and not session.connection().get_execution_options().get("fenpei_write_lock"):
        raise _refuse(
            "db.write_lock",
            "assignment on SQLite needs a unit of work that holds the write lock (session_scope(..., write_lock=True))",
            "在 SQLite 上分配线索需要持有写锁的事务(session_scope(..., write_lock=True))",
        )
    query = select(RotationState).where(RotationState.team_id == team.id).with_for_update().execution_options(populate_existing=True)
    row = session.scalars(query).first()
    if row is None:
        # Two first batches at once: one inserts, the other waits for it and then inserts nothing.
        session.execute(insert_ignoring(session, ROTATIONS, ["team_id"]).values(team_id=team.id, state={}, revision=0))
        row = session.scalars(query).one()
    return row


def _forget(session: Session, lead_ids: Sequence[str]) -> None:
    """Expire loaded Lead objects whose rows were changed by a Core statement."""
    if not session.identity_map:
        return
    changed = set(lead_ids)
    for key in list(session.identity_map.keys()):
        if key[0] is Lead and key[1][0] in changed:
            obj = session.identity_map.get(key)
            if obj is not None:
                session.expire(obj)


def _version_for(session: Session, team: Team, version: TemplateVersion | None, job_id: int | None) -> TemplateVersion:
    """The version a batch runs on: the one given, else the job's, else the latest published."""
    if version is None and job_id is not None:
        job = session.get(Job, job_id)
        if job is not None and job.template_version_id is not None:
            version = session.get(TemplateVersion, job.template_version_id)
    if version is None:
        version = get_version(session, team.template_name)
    if version.name != team.template_name:
        raise _refuse(
            "template.team",
            "team {t!r} uses template {want!r}, not {got!r}",
            "团队 {t!r} 使用模板 {want!r},而不是 {got!r}",
            t=team.slug,
            want=team.template_name,
            got=version.name,
        )
    return version


# ------------------------------------------------------------------------------------------------
# Bulk assignment
# ------------------------------------------------------------------------------------------------

# What a pending lead's record is read from (record_of reads these names), by Core: no ORM objects.
_PENDING_COLUMNS = (*RECORD_COLUMNS, LEADS.c.revision, LEADS.c.template_version_id)


def audit_explanation(template: CompiledTemplate, d: Decision, recorder: Recorder | None = None) -> dict[str, Any]:
    """The audit explanation of an engine decision: its record (see :class:`rule_engine.trace.Recorder`).

    The sentences are not stored: :func:`explain_lead` renders them from the record and the
    template version the audit row names, in the reader's language. Pass the batch's ``recorder``
    when explaining many decisions of one template.
    """
    out: dict[str, Any] = {"decision": (recorder or Recorder(template)).record(d)}
    if d.error is not None:
        out["error"] = d.error.code
    return out


class _Change(NamedTuple):
    """One lead's decision as its row will hold it."""

    lead_id: str
    revision: int
    owner: str | None
    state: str
    weight: float
    outputs: str  # JSON
    is_open: bool
    slot: int  # SQLite: the row's rowid (where it is stored); 0 elsewhere
    # Only the state and grades change (no owner before or after, the same template version): the
    # common case, written without the columns whose indexes and foreign keys cost SQLite most.
    lean: bool


@dataclass
class _Batch:
    """Everything one batch writes, ready for the dialect's bulk statements."""

    team_id: int
    version_id: int
    actor: str
    job_id: int | None
    now_utc: dt.datetime
    changes: list[_Change] = field(default_factory=list)  # graded leads
    failed: list[tuple[str, int]] = field(default_factory=list)  # (id, revision): could not be evaluated
    audit: list[tuple[str, str, str | None, str | None, str]] = field(default_factory=list)  # action, lead, to rep, rule, explanation JSON


def assign_pending(
    session: Session,
    team: Team,
    now: dt.datetime,
    *,
    limit: int | None = None,
    actor: str = "system",
    job_id: int | None = None,
    version: TemplateVersion | None = None,
    only: Collection[str] | None = None,
) -> AssignResult:
    """Assign the team's pending leads (at most ``limit``, oldest first; with ``only``, just those
    of these ids that are still pending) in the caller's transaction.

    Runs on ``version`` if given, else on the job's version, else on the latest published one.
    Raises ServiceError, leaving nothing applied, if a lead changed while the batch ran.
    On SQLite the session must hold the write lock (see :func:`lock_rotation`).
    """
    if limit is not None and limit < 1:
        raise _refuse("assign.limit", "the limit must be at least 1", "数量上限至少为 1")
    with collector_paused(), bulk_cache(session):
        return _assign_batch(session, team, now, limit, actor, job_id, version, only)


def _assign_batch(
    session: Session, team: Team, now: dt.datetime, limit: int | None, actor: str, job_id: int | None, version: TemplateVersion | None, only: Collection[str] | None = None
) -> AssignResult:
    now_utc = utc(now)
    rotation = lock_rotation(session, team)
    version = _version_for(session, team, version, job_id)
    template = compiled(version)
    result = AssignResult(team.slug, version.version, version.id)

    sqlite = dialect_name(session) == "sqlite"
    columns: tuple[Any, ...] = (*_PENDING_COLUMNS, literal_column("rowid").label("slot")) if sqlite else _PENDING_COLUMNS
    query = select(*columns).where(LEADS.c.team_id == team.id, LEADS.c.state == "new").order_by(LEADS.c.created_at, LEADS.c.id)
    if only is not None:
        query = query.where(LEADS.c.id.in_(sorted(set(only))))
    if limit is not None:
        query = query.limit(limit)
    pending = session.execute(query).all()
    if not pending:
        return result
    # A Row carries the same attribute names as a Lead, which is all record_of reads.
    records = [record_of(template, cast(Lead, row)) for row in pending]
    roster = snapshot(session, team, template, now)
    outcome = engine_assign(template, records, roster, EngineRotation.from_dict(rotation.state), now, explain=True)

    recorder = Recorder(template)
    counts = template.load.counts
    outputs_json = Memo()  # a batch's leads share few combinations of grades
    batch = _Batch(team.id, version.id, actor, job_id, now_utc)
    changes, audit = batch.changes, batch.audit
    events: list[Event] = []
    for row, record, d in zip(pending, records, outcome.decisions, strict=True):
        lead_id = row.id
        kind = d.outcome
        owner = d.owner if kind == "assigned" else None
        if d.error is None:
            lean = owner is None and row.owner_id is None and row.assigned_at is None and row.template_version_id == version.id
            changes.append(_Change(lead_id, row.revision, owner, _STATES[kind], d.weight, outputs_json(d.outputs), counts(d.values), row.slot if sqlite else 0, lean))
            explanation = f'{{"decision":{recorder.record_json(d)}}}'  # the same as audit_explanation(), serialised
        else:
            batch.failed.append((lead_id, row.revision))
            explanation = dumps(audit_explanation(template, d, recorder))
        audit.append((_ACTIONS[kind], lead_id, owner, d.policy, explanation))
        if owner is not None:
            result.assigned[lead_id] = owner
            after = dict(record, owner=owner, assigned_at=now_utc)
            events.append(Event("lead.assigned", event_id=f"assign:{lead_id}:{row.revision}", at=now, rep=owner, lead=after))
        elif kind == "pool":
            result.pool.append(lead_id)
        elif kind == "escalated":
            result.escalated.append(lead_id)
        else:
            result.errors.append(lead_id)

    points_rows = points_service.award(session, team, template, version, events, {r.id: r for r in outcome.roster}, now)

    # A savepoint: if any lead changed meanwhile, nothing of the batch stays, even if the caller
    # catches the error and commits what else it did.
    savepoint = session.begin_nested()
    try:
        matched = (_write_sqlite if sqlite else _write_postgresql)(session, batch)
        if matched != len(pending):
            raise _refuse(
                "assign.conflict",
                "{n} of {total} leads changed while they were being assigned; nothing was applied, run the assignment again",
                "{total} 条线索中有 {n} 条在分配过程中被修改;本批未做任何更改,请重新运行分配",
                n=len(pending) - matched,
                total=len(pending),
            )
        points_service.write_entries(session, points_rows)
        rotation.state = outcome.state.to_dict()
        rotation.revision = rotation.revision + 1
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    _forget(session, [row.id for row in pending])
    result.points = len(points_rows)
    return result


# ------------------------------------------------------------------------------------------------
# Writing a batch
#
# A batch writes one row per lead twice (the lead, its audit row): at 100,000 leads the per-row
# parameter handling of an ORM or Core executemany costs more than the database does. So the
# values are prepared once here, in the form the column stores, and each dialect gets the bulk
# statement it runs best: SQLite an executemany in the order the rows are stored (a batch in
# lead-id order would touch the table's pages at random and spill its cache), setting the owner,
# assigned_at and version columns (indexed, or foreign keys SQLite checks on every row) only where
# they change; PostgreSQL one UPDATE joined to the decisions passed as arrays. Audit rows go
# through :func:`~configurator.services.bulk.insert_rows` (COPY on PostgreSQL).
# ------------------------------------------------------------------------------------------------

_AUDIT_COLUMNS = ("at", "team_id", "actor", "action", "lead_id", "from_rep_id", "to_rep_id", "rule", "template_version_id", "reason", "explanation", "job_id")
_SQLITE_UPDATE = (
    "UPDATE leads SET owner_id = ?, state = ?, assigned_at = ?, template_version_id = ?, weight = ?, outputs = ?, is_open = ?,"
    " revision = revision + 1 WHERE rowid = ? AND id = ? AND state = 'new' AND revision = ?"
)
_SQLITE_LEAN = "UPDATE leads SET state = ?, weight = ?, outputs = ?, is_open = ?, revision = revision + 1 WHERE rowid = ? AND id = ? AND state = 'new' AND revision = ?"
_SQLITE_FAILED = "UPDATE leads SET owner_id = NULL, state = 'escalated', assigned_at = NULL, template_version_id = ?, revision = revision + 1 WHERE id = ? AND state = 'new' AND revision = ?"
_PG_UPDATE = text(
    "UPDATE leads SET owner_id = v.owner, state = v.state,"
    " assigned_at = CASE WHEN v.owner IS NULL THEN NULL ELSE CAST(:at AS timestamptz) END, template_version_id = :version,"
    " weight = v.weight, outputs = CAST(v.outputs AS jsonb), is_open = v.is_open, revision = leads.revision + 1"
    " FROM unnest(CAST(:ids AS text[]), CAST(:revisions AS integer[]), CAST(:owners AS text[]), CAST(:states AS text[]),"
    " CAST(:weights AS double precision[]), CAST(:outputs AS text[]), CAST(:open AS boolean[]))"
    " AS v(id, revision, owner, state, weight, outputs, is_open)"
    " WHERE leads.id = v.id AND leads.revision = v.revision AND leads.state = 'new'"
)
_PG_FAILED = text(
    "UPDATE leads SET owner_id = NULL, state = 'escalated', assigned_at = NULL, template_version_id = :version, revision = leads.revision + 1"
    " FROM unnest(CAST(:ids AS text[]), CAST(:revisions AS integer[])) AS v(id, revision)"
    " WHERE leads.id = v.id AND leads.revision = v.revision AND leads.state = 'new'"
)


def _write_sqlite(session: Session, batch: _Batch) -> int:
    """Apply a batch on SQLite; returns the leads matched (each must still be ``new`` at its revision)."""
    conn = session.connection()
    at = stored(session, LEADS.c.assigned_at, batch.now_utc)
    version = batch.version_id
    changes = sorted(batch.changes, key=lambda c: c.slot)
    lean = [(c.state, c.weight, c.outputs, c.is_open, c.slot, c.lead_id, c.revision) for c in changes if c.lean]
    full = [(c.owner, c.state, at if c.owner is not None else None, version, c.weight, c.outputs, c.is_open, c.slot, c.lead_id, c.revision) for c in changes if not c.lean]
    matched = 0
    for sql, params in ((_SQLITE_LEAN, lean), (_SQLITE_UPDATE, full)):
        if params:
            matched += conn.exec_driver_sql(sql, params).rowcount
    if batch.failed:
        matched += conn.exec_driver_sql(_SQLITE_FAILED, [(version, lead_id, revision) for lead_id, revision in batch.failed]).rowcount
    if matched == len(batch.changes) + len(batch.failed):
        _write_audit(session, batch)
    return matched


def _write_postgresql(session: Session, batch: _Batch) -> int:
    """Apply a batch on PostgreSQL; returns the leads matched (each must still be ``new`` at its revision)."""
    changes = batch.changes
    matched = 0
    if changes:
        params = {
            "at": batch.now_utc,
            "version": batch.version_id,
            "ids": [c.lead_id for c in changes],
            "revisions": [c.revision for c in changes],
            "owners": [c.owner for c in changes],
            "states": [c.state for c in changes],
            "weights": [c.weight for c in changes],
            "outputs": [c.outputs for c in changes],
            "open": [c.is_open for c in changes],
        }
        matched += cast("CursorResult[Any]", session.execute(_PG_UPDATE, params)).rowcount
    if batch.failed:
        params = {"version": batch.version_id, "ids": [i for i, _ in batch.failed], "revisions": [r for _, r in batch.failed]}
        matched += cast("CursorResult[Any]", session.execute(_PG_FAILED, params)).rowcount
    if matched == len(changes) + len(batch.failed):
        _write_audit(session, batch)
    return matched


def _write_audit(session: Session, batch: _Batch) -> None:
    at, team, actor, version, job = batch.now_utc, batch.team_id, batch.actor, batch.version_id, batch.job_id
    rows = [(at, team, actor, action, lead_id, None, to_rep, rule, version, None, explanation, job) for action, lead_id, to_rep, rule, explanation in batch.audit]
    insert_rows(session, AUDIT, _AUDIT_COLUMNS, rows)


# ------------------------------------------------------------------------------------------------
# A manager's reassignment
# ------------------------------------------------------------------------------------------------

_UNAVAILABLE = {
    "paused": ("paused", "已暂停接单"),
    "inactive": ("inactive", "已停用"),
    "on_leave": ("on leave", "休假中"),
}


def reassign(
    session: Session,
    lead_id: str,
    to_rep_id: str,
    reason: str,
    actor: str,
    now: dt.datetime,
    *,
    expected_revision: int | None = None,
) -> Lead:
    """Give ``lead_id`` to ``to_rep_id`` (a manager's decision, with a reason); returns the lead.

    Refused with a ServiceError when the reason is empty, the lead or rep is unknown, the rep is
    in another team, unavailable (paused, inactive, on leave), already owns the lead, or would pass
    the cap or a quota; or when the lead changed meanwhile (``expected_revision``: the revision
    the manager saw). The change is conditional on the lead's revision and audited as
    ``reassign`` with the reason. Takes the team's rotation lock like :func:`assign_pending`.
    """
    reason = (reason or "").strip()
    if not reason:
        raise _refuse("reassign.reason", "a reassignment needs a reason", "改派需要填写原因")
    now_utc = utc(now)
    lead = session.get(Lead, lead_id)
    if lead is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    team = session.get(Team, lead.team_id)
    assert team is not None  # a foreign key
    lock_rotation(session, team)
    session.refresh(lead)  # what the lead is now that no batch of its team can run
    if expected_revision is not None and lead.revision != expected_revision:
        raise _changed(lead_id)
    rep = session.get(Rep, to_rep_id)
    if rep is None or rep.team_id != team.id:
        known = list(session.scalars(select(Rep.id).where(Rep.team_id == team.id)))
        if rep is None:
            raise ServiceError(Problem.make("rep.unknown", "no rep {r!r} in team {t!r}", "团队 {t!r} 中没有销售 {r!r}", suggestion=closest(to_rep_id, known), r=to_rep_id, t=team.slug))
        raise _refuse("rep.team", "rep {r!r} is not in team {t!r}", "销售 {r!r} 不属于团队 {t!r}", r=to_rep_id, t=team.slug)
    if lead.state == "owned" and lead.owner_id == to_rep_id:
        raise _refuse("reassign.same", "{r} already owns lead {id}", "线索 {id} 已由 {r} 负责", r=to_rep_id, id=lead_id)
    version = get_version(session, team.template_name)
    template = compiled(version)
    target = next(r for r in snapshot(session, team, template, now) if r.id == to_rep_id)
    day = now.astimezone(template.timezone).date()
    why = target.unavailable_reason(day)
    if why is not None:
        en, zh = _UNAVAILABLE.get(why, (why, why))
        raise _refuse("rep.unavailable", "{r} cannot take leads: {why}", "{r} 无法接收线索:{why_zh}", r=to_rep_id, why=en, why_zh=zh)
    grade = grade_record(template, record_of(template, lead), now)
    weight = grade.weight
    R = target.values(day)
    L0 = {NOW_KEY: now}
    cap = LoadSpec.per_rep(template.load.cap, R, L0)
    if cap is not None and target.load + weight > cap + 1e-9:
        raise _refuse(
            "reassign.cap",
            "{r} would pass the cap: load {load:g} + {w:g} > {cap:g}",
            "{r} 将超过负载上限:{load:g} + {w:g} > {cap:g}",
            r=to_rep_id,
            load=target.load,
            w=weight,
            cap=cap,
        )
    for count, quota, en, zh in (
        (target.assigned_today, LoadSpec.per_rep(template.load.daily_quota, R, L0), "daily", "日"),
        (target.assigned_week, LoadSpec.per_rep(template.load.weekly_quota, R, L0), "weekly", "周"),
    ):
        if quota is not None and count >= quota:
            raise _refuse("reassign.quota", "{r} has reached the {p} quota ({n:g})", "{r} 已达到{pz}配额({n:g})", r=to_rep_id, p=en, pz=zh, n=quota)
    previous = lead.owner_id
    revision = lead.revision
    leads = LEADS
    change = (
        update(leads)
        .where(leads.c.id == lead_id, leads.c.revision == revision)
        .values(
            owner_id=to_rep_id,
            previous_owner_id=previous if previous is not None else leads.c.previous_owner_id,
            state="owned",
            assigned_at=now_utc,
            from_pool=False,
            weight=weight,
            outputs=grade.outputs,
            is_open=grade.is_open,
            template_version_id=version.id,
            revision=leads.c.revision + 1,
            **FRESH_OWNERSHIP,  # the new owner's follow-up clock
        )
    )
    matched = cast("CursorResult[Any]", session.execute(change)).rowcount
    if matched != 1:
        raise _changed(lead_id)
    # The previous owner hands the lead over (the template's checklist); an open handover of an
    # earlier move is cancelled. The lead stays locked for the new owner until acknowledged.
    opened = handovers_service.transfer(session, template, version, [handovers_service.Transfer(lead_id, previous, to_rep_id, previous is not None, None, reason)], now)
    locked, _ = opened[lead_id]
    session.execute(update(leads).where(leads.c.id == lead_id).values(locked=locked))
    names: dict[str, str] = {rid: name for rid, name in session.execute(select(Rep.id, Rep.name).where(Rep.id.in_([to_rep_id] + ([previous] if previous else []))))}
    to_name = names.get(to_rep_id) or to_rep_id
    from_name = (names.get(previous) or previous) if previous else None
    en = f"reassigned by {actor} from {from_name} to {to_name}: {reason}" if from_name else f"assigned by {actor} to {to_name}: {reason}"
    zh = f"{actor} 将线索从 {from_name} 改派给 {to_name}:{reason}" if from_name else f"{actor} 将线索分配给 {to_name}:{reason}"
    audit.record(session, at=now_utc, team_id=team.id, actor=actor, action="reassign", lead_id=lead_id, from_rep=previous, to_rep=to_rep_id, version_id=version.id, reason=reason, en=en, zh=zh)
    session.expire(lead)
    return lead


def _changed(lead_id: str) -> ServiceError:
    return _refuse("lead.changed", "lead {id} changed meanwhile; reload it and try again", "线索 {id} 已被他人修改,请刷新后重试", id=lead_id)


# ------------------------------------------------------------------------------------------------
# Explaining a lead
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrailEntry:
    """One audited change of a lead, with its explanation in the requested language."""

    at: dt.datetime
    action: str
    actor: str
    from_rep: str | None
    to_rep: str | None
    rule: str | None
    template_version: int | None
    reason: str | None
    sentence: str
    trace: Mapping[str, Any] | None = None

    def line(self, lang: str = "en") -> str:
        """``2026-11-23T01:00:00+00:00 assign (v1, rotation) by system: sentence`` (or in Chinese)."""
        tags = ", ".join(x for x in (f"v{self.template_version}" if self.template_version is not None else None, self.rule) if x)
        when = self.at.isoformat(timespec="seconds")
        if lang.startswith("zh"):
            return f"{when} {self.action}{f'({tags})' if tags else ''} 操作人 {self.actor}:{self.sentence}"
        return f"{when} {self.action}{f' ({tags})' if tags else ''} by {self.actor}: {self.sentence}"


def _reclaim_sentence(template: CompiledTemplate, event: AuditEvent, verdict: Mapping[str, Any], lang: str) -> str:
    """A reclaim's sentence, from the verdict its audit row keeps (rule, clock start, deadline,
    where the lead went) and the template version that decided it."""

    def moment(value: Any) -> dt.datetime | None:
        return dt.datetime.fromisoformat(value) if isinstance(value, str) else None

    decided = ReclaimVerdict(
        event.lead_id or "", event.from_rep_id, "reclaim", verdict.get("rule"), moment(verdict.get("deadline")), verdict.get("then"), (), moment(verdict.get("since"))
    )
    return decided.explain(template, lang)


def explain_lead(session: Session, lead_id: str, lang: str = "en") -> list[TrailEntry]:
    """The audit trail of ``lead_id``, oldest first, each with its sentence in ``lang`` (en or zh).

    An engine decision is stored as its record and explained here from the record and the
    template version that made it, a reclaim as its verdict; other changes carry their sentences.
    """
    rows = session.execute(
        select(AuditEvent, TemplateVersion)
        .outerjoin(TemplateVersion, TemplateVersion.id == AuditEvent.template_version_id)
        .where(AuditEvent.lead_id == lead_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    if not rows and session.get(Lead, lead_id) is None:
        raise _refuse("lead.unknown", "no lead {id!r}", "没有线索 {id!r}", id=lead_id)
    zh = lang.startswith("zh")
    recorders: dict[int, Recorder] = {}
    out = []
    for event, version in rows:
        explanation = event.explanation or {}
        record = explanation.get("decision")
        sentence: str | None = None
        trace = explanation.get("trace")
        if record is not None and version is not None:
            recorder = recorders.get(version.id)
            if recorder is None:
                recorder = recorders[version.id] = Recorder(compiled(version))
            decision = recorder.decision(record, lead_id)
            sentence = render(recorder.template, decision, "zh" if zh else "en")
            trace = decision.trace.to_dict() if decision.trace is not None else None
        if sentence is None:
            sentence = explanation.get("zh" if zh else "en")
        verdict = explanation.get("verdict")
        if sentence is None and isinstance(verdict, dict) and version is not None:
            sentence = _reclaim_sentence(compiled(version), event, verdict, "zh" if zh else "en")
        if sentence is None:
            sentence = event.reason or ""
        at = event.at.astimezone(dt.timezone.utc) if event.at.tzinfo else event.at.replace(tzinfo=dt.timezone.utc)  # SQLite keeps UTC without an offset
        number = version.version if version is not None else None
        out.append(TrailEntry(at, event.action, event.actor, event.from_rep_id, event.to_rep_id, event.rule, number, event.reason, sentence, trace))
    return out

"""What each kind of job does, how to ask for one, and the periodic and recovery passes.

Nothing here knows Celery: a message is sent through a ``send(job_id)`` callable, and a worker
calls :func:`execute` with a job id (:mod:`configurator.tasks` wires both to Celery). Tests call
the same functions in-process.

Every kind is safe to run twice and to resume after a worker died part way, by construction:

- ``assign``: batches of ``assign_pending``, one transaction each; a batch takes only leads still
  ``new`` (conditional update by revision), and its ``lead.assigned`` points go in with
  ``ON CONFLICT DO NOTHING``. A batch that was cut off rolled back whole; the next run goes on
  from the leads still new, so the outcome is that of one clean run.
- ``import``: the import service resumes by job id (rows already stored by the job are found by
  their content hash and not stored again).
- ``reclaim``: the sweep is conditional, and reminders are stamped per deadline.
- ``points_period``: ledger entries have unique keys (``ON CONFLICT DO NOTHING``).
- ``webhooks``: deliveries have unique event keys per webhook, the dispatcher holds the webhook's
  row, and each attempt is claimed by a conditional update (see :mod:`configurator.services.webhooks`).

Each batch records the job's progress and renews its lease in the batch's own transaction
(:func:`configurator.jobs.checkpoint`), so progress never runs ahead of the work, and a worker that
lost its lease cannot apply another batch.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from configurator import jobs
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.inputs import InputProblems, read_table
from configurator.models import Job, Lead, Team, TemplateVersion
from configurator.services import assignment as assignment_service
from configurator.services import imports as imports_service
from configurator.services.assignment import ASSIGN_BATCH
from configurator.services.teams import get_team
from configurator.services.templates import ServiceError, compiled, current_version, get_version
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = [
    "ASSIGN_BATCH",
    "RUNNERS",
    "SWEEP_EVERY",
    "WEBHOOKS_EVERY",
    "JobRun",
    "Send",
    "Transient",
    "execute",
    "period_before",
    "recover",
    "schedule_periodic",
    "schedule_webhooks",
    "submit_assign",
    "submit_import",
    "submit_health",
    "submit_points",
    "submit_reclaim",
    "submit_webhooks",
    "webhooks_key",
]

log = logging.getLogger(__name__)

Send = Callable[[int], None]

# One reclaim sweep per team per hour, however many schedulers ask.
SWEEP_EVERY = dt.timedelta(hours=1)
# At most one webhook pass per minute from the schedulers and requests (a retry asks for its own);
# a pass makes at most this many delivery attempts (the next one goes on).
WEBHOOKS_EVERY = dt.timedelta(minutes=1)
WEBHOOK_ATTEMPTS = 500
# A batch whose leads changed under it rolls back whole; it is tried again this many times.
_CONFLICT_RETRIES = 3


class Transient(Exception):
    """The database was briefly unavailable (locked, restarting): the job went back to pending."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.isoformat()


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _refuse(code: str, en: str, zh: str, **params: Any) -> jobs.JobError:
    return jobs.JobError(Problem.make(code, en, zh, **params))


# ------------------------------------------------------------------------------------------------
# Running one job
# ------------------------------------------------------------------------------------------------


@dataclass
class JobRun:
    """One leased run of a job: what a runner needs, and the way to record progress."""

    ws: Workspace
    job_id: int
    kind: str
    params: dict[str, Any]
    owner: str
    lease_seconds: float
    progress: int = 0
    result: dict[str, Any] | None = None
    closed: bool = False  # the runner closed the job itself (in its last transaction)
    outcome: str = "done"  # how it closed it: done, or failed (an all-or-nothing import with a bad row)

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One unit of work holding the write lock (SQLite) that commits on success."""
        with session_scope(self.ws.sessions, write_lock=True) as session:
            yield session

    def checkpoint(self, session: Session, *, progress: int | None = None, total: int | None = None, result: dict[str, Any] | None = None) -> None:
        """Progress and a renewed lease in the caller's transaction; LeaseLost rolls the batch back."""
        jobs.checkpoint(session, self.job_id, _now(), self.lease_seconds, owner=self.owner, progress=progress, total=total, result=result)
        if progress is not None:
            self.progress = progress
        if result is not None:
            self.result = result

    def finish(self, session: Session, result: dict[str, Any]) -> None:
        """Close the job as done in the caller's transaction (with the last batch of its work)."""
        jobs.finish(session, self.job_id, _now(), result, owner=self.owner)
        self.closed = True


Runner = Callable[[JobRun], dict[str, Any]]


def _transient(exc: BaseException) -> bool:
    """Errors worth trying again: SQLite's lock timeouts, PostgreSQL restarts and serialisation failures."""
    if isinstance(exc, OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        return "could not serialize" in text or "deadlock" in text or exc.connection_invalidated
    return False


def execute(ws: Workspace, job_id: int, *, lease_seconds: float, owner: str | None = None) -> str:
    """Run job ``job_id`` if its lease can be taken; the outcome: ``done``, ``failed``, ``lost``, or why it did not run.

    Raises :class:`Transient` when the database failed in a way worth trying again (the job is
    pending again); any other error fails the job with its message.
    """
    owner = owner or jobs.holder()
    with session_scope(ws.sessions, write_lock=True) as session:
        got = jobs.lease(session, job_id, _now(), lease_seconds, owner=owner)
        job = got.job
        if job is None:
            log.info("job %s: not run (%s)", job_id, got.reason)
            return got.reason
        run = JobRun(ws, job.id, job.kind, dict(job.params or {}), owner, lease_seconds, job.progress or 0, job.result)
    runner = RUNNERS.get(run.kind)
    try:
        if runner is None:
            raise _refuse("job.kind", "unknown job kind {k!r}", "未知的任务类型 {k!r}", k=run.kind)
        result = runner(run)
        if not run.closed:
            with run.unit() as session:
                jobs.finish(session, job_id, _now(), result, owner=owner, progress=run.progress)
        log.info("job %s (%s): %s", job_id, run.kind, run.outcome)
        return run.outcome
    except jobs.LeaseLost:
        log.warning("job %s: another worker took it over; this run stops", job_id)
        return "lost"
    except (FenpeiError, InputProblems) as exc:
        problems = [{"code": p.code, "en": p.message("en"), "zh": p.message("zh")} for p in exc.problems] if isinstance(exc, FenpeiError) else None
        message = exc.format("en")
        _close_failed(run, message, {"problems": problems} if problems else {"problems": [{"code": "input", "en": message, "zh": exc.format("zh")}]})
        return "failed"
    except Exception as exc:
        if _transient(exc):
            with run.unit() as session:
                jobs.release(session, job_id, f"{type(exc).__name__}: {exc}", owner=owner)
            raise Transient(f"job {job_id}: {exc}") from exc
        log.exception("job %s (%s) failed", job_id, run.kind)
        _close_failed(run, f"{type(exc).__name__}: {exc}", None)
        return "failed"


def _close_failed(run: JobRun, message: str, result: dict[str, Any] | None) -> None:
    with run.unit() as session:
        if not jobs.fail(session, run.job_id, _now(), message, owner=run.owner, result=result):
            job = session.get(Job, run.job_id)
            if job is None or job.status != "failed":  # (the import service records its own failures)
                log.warning("job %s: failed, but another worker holds it now: left to that worker", run.job_id)


# ------------------------------------------------------------------------------------------------
# The kinds
# ------------------------------------------------------------------------------------------------


def _add_batch(total: dict[str, Any], batch: assignment_service.AssignResult) -> dict[str, Any]:
    out = dict(total)
    for key, n in batch.counts.items():
        out[key] = int(out.get(key, 0)) + n
    out["points"] = int(out.get("points", 0)) + batch.points
    per_rep = dict(out.get("per_rep") or {})
    for rep_id, n in batch.per_rep.items():
        per_rep[rep_id] = int(per_rep.get(rep_id, 0)) + n
    out["per_rep"] = dict(sorted(per_rep.items()))
    if batch.template_version is not None:
        out["template_version"] = batch.template_version
    return out


def run_assign(run: JobRun) -> dict[str, Any]:
    """Assign the team's pending leads in batches (each its own transaction, with progress)."""
    p = run.params
    now = _parse(p["now"])
    batch = int(p.get("batch") or ASSIGN_BATCH)
    limit = p.get("limit")
    result: dict[str, Any] = dict(run.result or {"team": p["team"], "assigned": 0, "pool": 0, "escalated": 0, "error": 0, "points": 0, "per_rep": {}})
    with run.unit() as session:
        team = get_team(session, p["team"])
        waiting = session.scalar(select(func.count()).select_from(Lead).where(Lead.team_id == team.id, Lead.state == "new")) or 0
        total = run.progress + int(waiting)
        run.checkpoint(session, total=min(total, int(limit)) if limit is not None else total)
    while True:
        size = batch if limit is None else min(batch, int(limit) - run.progress)
        if size <= 0:
            break
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                with run.unit() as session:
                    done = assignment_service.assign_pending(session, get_team(session, p["team"]), now, limit=size, actor=p.get("actor") or "system", job_id=run.job_id)
                    run.checkpoint(session, progress=run.progress + done.total, result=(result := _add_batch(result, done)))
                break
            except ServiceError as exc:  # a lead changed under the batch: nothing applied, try again
                if exc.problems[0].code != "assign.conflict" or attempt == _CONFLICT_RETRIES:
                    raise
        if done.total < size:
            break
    return result


def run_import(run: JobRun) -> dict[str, Any]:
    """Import the job's file, resuming by job id; the import service closes the job itself."""
    p = run.params
    options = imports_service.ImportOptions(mode=p["mode"], dry_run=False, mapping=dict(p.get("mapping") or {}), ignore=tuple(p.get("ignore") or ()), sheet=p.get("sheet"))

    def heartbeat(_done: int) -> None:
        with run.unit() as session:
            run.checkpoint(session)

    result = imports_service.run_import(
        run.ws.sessions, p["team"], p["file"], options=options, job_id=run.job_id, chunk_size=int(p.get("chunk_size") or imports_service.CHUNK_SIZE), after_chunk=heartbeat
    )
    run.closed = True  # the service wrote the job's status, progress and result
    run.outcome = "failed" if result.failed else "done"
    return result.to_json()


_SWEEP_COUNTS = ("scanned", "reclaimed", "reminded", "reassigned", "escalated", "notifications", "points")


def run_reclaim(run: JobRun) -> dict[str, Any]:
    """A reclaim sweep (reminders and reclaims) at the job's ``now``, one transaction per batch.

    The result keeps counts (the leads are in the audit trail) and the keyset cursor, so a run
    that was cut off goes on after the last committed batch.
    """
    try:
        from configurator.services import pool
    except ImportError:
        raise _refuse("job.unavailable", "the reclaim sweep is not available in this version", "此版本尚不支持回收扫描") from None
    p = run.params
    now = _parse(p["now"])
    batch = int(p.get("batch") or 0) or None  # None: the database's default (pool.sweep_batch_size)
    result: dict[str, Any] = dict(run.result or {"team": p["team"], **{key: 0 for key in _SWEEP_COUNTS}, "next_after": None})
    carry = pool.SweepCarry()  # the roster's figures from batch to batch
    while True:
        with run.unit() as session:
            team = get_team(session, p["team"])
            version = _job_version(session, run) or get_version(session, team.template_name)
            part = pool.sweep_batch(session, team, now, after=result.get("next_after"), batch=batch, actor=p.get("actor") or "system", job_id=run.job_id, version=version, carry=carry)
            result = dict(result, template_version=part.template_version, next_after=part.next_after)
            for key in _SWEEP_COUNTS:
                value = getattr(part, key)
                result[key] = int(result.get(key, 0)) + (value if isinstance(value, int) else len(value))
            if part.next_after is None:
                run.progress = result["scanned"]
                run.finish(session, result)
                return result
            run.checkpoint(session, progress=result["scanned"], result=result)


def _job_version(session: Session, run: JobRun) -> TemplateVersion | None:
    """The template version the job was submitted on, if it records one."""
    job = session.get(Job, run.job_id)
    return session.get(TemplateVersion, job.template_version_id) if job is not None and job.template_version_id is not None else None


def run_points(run: JobRun) -> dict[str, Any]:
    """Period-end points for one period, closed in the same transaction."""
    from configurator.services import points

    p = run.params
    with run.unit() as session:
        team = get_team(session, p["team"])
        written = points.close_period(session, team, p["period"], _parse(p["now"]), job_id=run.job_id)
        result = {"team": p["team"], "period": p["period"], "entries": int(written)}
        run.progress = int(written)
        run.finish(session, result)
    return result


def run_redistribute(run: JobRun) -> dict[str, Any]:
    """Move the open leads of reps unavailable at the job's ``now`` (paused, deactivated, on leave
    from today) by the template's ``rep_unavailable`` trigger, in one transaction. Idempotent: a
    second run finds nothing left to move."""
    from configurator.services import changes

    p = run.params
    with run.unit() as session:
        team = get_team(session, p["team"])
        done = changes.redistribute_unavailable(session, team, _parse(p["now"]), actor=p.get("actor") or "system", job_id=run.job_id)
        result = {
            "team": p["team"],
            "trigger": done.trigger,
            "template_version": done.template_version,
            "reps": done.reps,
            "moved": len(done.moved),
            "pooled": len(done.pooled),
            "escalated": len(done.escalated),
            "handovers": len(done.handovers),
        }
        run.progress = done.total
        run.finish(session, result)
    return result


def run_webhooks(run: JobRun) -> dict[str, Any]:
    """A webhook pass: new events into deliveries for each active webhook (the ``webhooks`` of the
    job, or all), one transaction per batch, then one attempt at each due delivery (at most
    :data:`WEBHOOK_ATTEMPTS`; the next pass goes on). Safe twice or at once: the dispatcher holds
    the webhook's row and inserts deliveries by unique event key; each attempt is claimed by a
    conditional update, so a delivered event is never sent again."""
    from configurator.services import webhooks

    only = run.params.get("webhooks")
    result: dict[str, Any] = dict(run.result or {"dispatched": 0, "delivered": 0, "retry": 0, "failed": 0, "skipped": 0, "lost": 0})
    with run.unit() as session:
        hook_ids = webhooks.active_ids(session, only)
    for hook_id in hook_ids:
        more = True
        while more:
            with run.unit() as session:
                done = webhooks.dispatch(session, hook_id, _now())
                result["dispatched"] = int(result.get("dispatched", 0)) + done.created
                run.checkpoint(session, result=result)
            more = done.more
    tried: set[int] = set()
    while len(tried) < WEBHOOK_ATTEMPTS:
        with session_scope(run.ws.sessions) as session:
            due = [i for i in webhooks.due(session, _now(), limit=50, webhooks=only) if i not in tried]
        if not due:
            break
        for delivery_id in due[: WEBHOOK_ATTEMPTS - len(tried)]:
            tried.add(delivery_id)
            state = webhooks.deliver(run.ws.sessions, delivery_id)
            result[state] = int(result.get(state, 0)) + 1
            with run.unit() as session:
                run.checkpoint(session, progress=len(tried), result=result)
    return result


def run_health(run: JobRun) -> dict[str, Any]:
    """The weekly health reports of one team and week, in one transaction (one per rep and week:
    a second run, or a second scheduler's job, writes nothing more)."""
    from configurator.services import kpis

    p = run.params
    with run.unit() as session:
        team = get_team(session, p["team"])
        written = kpis.write_health(session, team, p["week"], _parse(p["now"]), job_id=run.job_id)
        result = {"team": p["team"], "week": p["week"], "reports": int(written)}
        run.progress = int(written)
        run.finish(session, result)
    return result


RUNNERS: dict[str, Runner] = {
    "assign": run_assign,
    "import": run_import,
    "reclaim": run_reclaim,
    "points_period": run_points,
    "redistribute": run_redistribute,
    "webhooks": run_webhooks,
    "kpi_health": run_health,
}


# ------------------------------------------------------------------------------------------------
# Asking for jobs
# ------------------------------------------------------------------------------------------------


def submit_assign(session: Session, team_slug: str, now: dt.datetime, send: Send, *, actor: str = "system", batch: int = ASSIGN_BATCH, limit: int | None = None) -> int:
    """An assignment job for the team's pending leads, on the template version published now; sent after commit."""
    team = get_team(session, team_slug)
    version = get_version(session, team.template_name)
    params = {"team": team.slug, "now": _iso(now), "actor": actor, "batch": batch, "limit": limit}
    waiting = int(session.scalar(select(func.count()).select_from(Lead).where(Lead.team_id == team.id, Lead.state == "new")) or 0)
    job_id, _ = jobs.submit(session, "assign", params, template_version_id=version.id, total=waiting if limit is None else min(waiting, limit))
    jobs.enqueue_after_commit(session, job_id, send)
    return job_id


def submit_reclaim(
    session: Session, team_slug: str, now: dt.datetime, send: Send, *, actor: str = "system", dedup: str | None = None, batch: int | None = None
) -> tuple[int, bool]:
    """A reclaim sweep of the team at ``now`` (``batch`` leads per transaction); with ``dedup``, at
    most one job per key. Sent after commit when created."""
    team = get_team(session, team_slug)
    version = get_version(session, team.template_name)
    params = {"team": team.slug, "now": _iso(now), "actor": actor, "batch": batch}
    job_id, created = jobs.submit(session, "reclaim", params, dedup=dedup, template_version_id=version.id)
    if created:
        jobs.enqueue_after_commit(session, job_id, send)
    return job_id, created


def submit_redistribute(session: Session, team_slug: str, now: dt.datetime, send: Send, *, actor: str = "system", dedup: str | None = None) -> tuple[int, bool]:
    """A pass moving unavailable reps' open leads at ``now``; with ``dedup``, at most one job per key."""
    team = get_team(session, team_slug)
    job_id, created = jobs.submit(session, "redistribute", {"team": team.slug, "now": _iso(now), "actor": actor}, dedup=dedup)
    if created:
        jobs.enqueue_after_commit(session, job_id, send)
    return job_id, created


def submit_health(session: Session, team_slug: str, week: str, now: dt.datetime, send: Send) -> tuple[int, bool]:
    """The weekly health reports of ``week`` (one job per team and week). Sent after commit when created."""
    team = get_team(session, team_slug)
    job_id, created = jobs.submit(session, "kpi_health", {"team": team.slug, "week": week, "now": _iso(now)}, dedup=f"health:{team.slug}:{week}")
    if created:
        jobs.enqueue_after_commit(session, job_id, send)
    return job_id, created


def submit_points(session: Session, team_slug: str, period: str, now: dt.datetime, send: Send) -> tuple[int, bool]:
    """Period-end points for ``period`` (one job per team and period). Sent after commit when created."""
    team = get_team(session, team_slug)
    job_id, created = jobs.submit(session, "points_period", {"team": team.slug, "period": period, "now": _iso(now)}, dedup=f"points:{team.slug}:{period}")
    if created:
        jobs.enqueue_after_commit(session, job_id, send)
    return job_id, created


def submit_webhooks(session: Session, now: dt.datetime, send: Send, *, webhooks: list[int] | None = None, dedup: str | None = None) -> tuple[int, bool]:
    """A webhook pass (of the ``webhooks`` given, or every active one); with ``dedup``, at most one
    job per key. Sent after commit when created."""
    params = {"now": _iso(now), "webhooks": webhooks}
    job_id, created = jobs.submit(session, "webhooks", params, dedup=dedup)
    if created:
        jobs.enqueue_after_commit(session, job_id, send)
    return job_id, created


def webhooks_key(now: dt.datetime) -> str:
    """The dedup key of the webhook pass for the minute ``now`` falls in."""
    return f"webhooks:{_bucket(now, WEBHOOKS_EVERY)}"


def _sha256(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def submit_import(
    session: Session,
    team_slug: str,
    path: str | os.PathLike[str],
    send: Send,
    *,
    options: imports_service.ImportOptions = imports_service.ImportOptions(),
    chunk_size: int = imports_service.CHUNK_SIZE,
) -> int:
    """An import job of ``path`` into the team (a file every worker can read); sent after commit.

    The file and its header are checked now (InputProblems; nothing stored); the rows are checked
    by the worker. A dry run is not a job: it runs in the foreground (``fenpei leads import --dry-run``).
    """
    if options.dry_run:
        raise _refuse("job.dry_run", "a dry run is not run in the background: use `fenpei leads import --dry-run`", "试运行不在后台执行:请使用 `fenpei leads import --dry-run`")
    if options.mode not in imports_service.MODES:
        raise _refuse("import.mode", "unknown mode {m!r} (one of: {all})", "未知的模式 {m!r}(可选:{all})", m=options.mode, all=", ".join(imports_service.MODES))
    team = get_team(session, team_slug)
    version = get_version(session, team.template_name)
    table = read_table(path, sheet=options.sheet)
    imports_service.map_columns(compiled(version), table, options.mapping, options.ignore)
    params = {"team": team.slug, "file": str(Path(path).resolve()), "sha256": _sha256(path), **options.params(), "chunk_size": chunk_size}
    job_id, _ = jobs.submit(session, "import", params, template_version_id=version.id, total=len(table.rows))
    jobs.enqueue_after_commit(session, job_id, send)
    return job_id


# ------------------------------------------------------------------------------------------------
# Periodic jobs and recovery
# ------------------------------------------------------------------------------------------------


def _bucket(now: dt.datetime, every: dt.timedelta) -> str:
    """The start of the period of length ``every`` that ``now`` falls in, in UTC, to the minute."""
    utc = now.astimezone(dt.timezone.utc)
    epoch = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    start = epoch + ((utc - epoch) // every) * every
    return start.strftime("%Y-%m-%dT%H:%MZ")


def period_before(period: str, now: dt.datetime, tz: Any) -> tuple[str, dt.datetime]:
    """The period before the one ``now`` falls in (``day``, ``week``, ``month``, ``quarter``, ``year``):
    its key, and the moment the current period began."""
    from rule_engine.points import period_key

    day = now.astimezone(tz).date()
    if period == "day":
        first = day
    elif period == "week":
        first = day - dt.timedelta(days=day.weekday())
    elif period == "month":
        first = day.replace(day=1)
    elif period == "quarter":
        first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    else:
        first = day.replace(month=1, day=1)
    began = dt.datetime.combine(first, dt.time(0), tz)
    return period_key(period, began - dt.timedelta(hours=12), tz), began


@dataclass
class Scheduled:
    """What one scheduling pass asked for: job ids created, and those another scheduler had created."""

    created: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)


def schedule_periodic(ws: Workspace, now: dt.datetime, send: Send) -> Scheduled:
    """Ask for this period's jobs for every team: a reclaim sweep per hour (when the template
    reclaims), a pass moving unavailable reps' leads per hour (when the template has a
    ``rep_unavailable`` trigger: leaves start without anyone pressing a button), and period-end
    points for the period that just ended (when the template scores ``period.ended``). Keys make
    them unique, so any number of schedulers may call this."""
    out = Scheduled()
    bucket = _bucket(now, SWEEP_EVERY)
    with session_scope(ws.sessions, write_lock=True) as session:
        for team in session.scalars(select(Team).order_by(Team.id)):
            version = current_version(session, team.template_name)
            if version is None:
                continue
            template = compiled(version)
            asked: list[tuple[int, bool]] = []
            if template.reclaim is not None and template.reclaim.rules:
                asked.append(submit_reclaim(session, team.slug, now, send, dedup=f"reclaim:{team.slug}:{bucket}"))
            if any(t.on == "rep_unavailable" for t in template.triggers):
                asked.append(submit_redistribute(session, team.slug, now, send, dedup=f"redistribute:{team.slug}:{bucket}"))
            if template.points is not None and any(rule.on == "period.ended" for rule in template.points.rules):
                period, began = period_before(template.points.period, now, template.timezone)
                created_at = team.created_at if team.created_at.tzinfo else team.created_at.replace(tzinfo=dt.timezone.utc)
                if created_at < began:  # the team existed during that period
                    asked.append(submit_points(session, team.slug, period, now, send))
            if template.targets is not None:  # the weekly health report of the week that ended
                from configurator.services.kpis import previous_week

                week = previous_week(now, template.timezone)
                week_began = now.astimezone(template.timezone) - dt.timedelta(days=now.astimezone(template.timezone).weekday() + 7)
                created_at = team.created_at if team.created_at.tzinfo else team.created_at.replace(tzinfo=dt.timezone.utc)
                if created_at < week_began + dt.timedelta(days=7):  # the team existed during that week
                    asked.append(submit_health(session, team.slug, week, now, send))
            for job_id, created in asked:
                (out.created if created else out.existing).append(job_id)
    return out


def schedule_webhooks(ws: Workspace, now: dt.datetime, send: Send) -> Scheduled:
    """Ask for this minute's webhook pass when there is something to do (a webhook behind its
    sources, or a delivery due): one job per minute however many schedulers ask, and no job at
    all in a quiet minute."""
    from configurator.services import webhooks

    out = Scheduled()
    with session_scope(ws.sessions) as session:
        if not webhooks.has_work(session, now):
            return out
    with session_scope(ws.sessions, write_lock=True) as session:
        job_id, created = submit_webhooks(session, now, send, dedup=webhooks_key(now))
    (out.created if created else out.existing).append(job_id)
    return out


def recover(ws: Workspace, now: dt.datetime, send: Send, *, pending_after: float) -> list[int]:
    """Send again the jobs whose worker died or whose message may be lost (see :func:`configurator.jobs.recoverable`)."""
    with session_scope(ws.sessions, write_lock=True) as session:
        ids = jobs.recoverable(session, now, pending_after=pending_after)
        for job_id in ids:
            jobs.enqueue_after_commit(session, job_id, send)
    if ids:
        log.info("sent again: jobs %s", ", ".join(map(str, ids)))
    return ids

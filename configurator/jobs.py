"""Jobs, the durable side of background work: submit, lease, checkpoint, finish, recover.

A Celery message only carries a job id; the :class:`~configurator.models.Job` row is the truth.

- **Submit** (:func:`submit`) inserts the row with ``INSERT … ON CONFLICT (dedup) DO NOTHING``:
  asking twice for the same ``dedup`` key (two schedulers, a double click) gives the one job.
- **Enqueue after commit** (:func:`enqueue_after_commit`): the message is sent only once the
  unit of work that created the job has committed, so a worker never looks for a job that does
  not exist yet, and a rolled-back job is never sent.
- **Lease** (:func:`lease`): a worker runs a job only while it holds the lease. Taking it is one
  conditional ``UPDATE`` (compare-and-swap on ``attempts``) from ``pending``, or from ``running``
  when the lease ran out or its holder died on this machine; a job that is done or failed,
  leased by a live worker, or run in the foreground by a command (it has no holder), is left
  alone. A delivery that finds no lease to take does nothing.
- **Checkpoint** (:func:`checkpoint`), in the same transaction as each batch of work: progress,
  partial result and a renewed lease, on condition that this worker still holds the lease;
  otherwise :class:`LeaseLost` rolls the batch back. So a worker that was presumed dead and
  comes back cannot apply one more batch over the worker that took its job.
- **Finish** and **fail** close the job (same condition).
- **Recover** (:func:`recoverable`): running jobs whose lease ran out or whose holder died here,
  and pending jobs whose message is overdue (it may have been lost: the broker was down when it
  was sent, or the broker dropped it with a killed worker), to be sent again.

A lease holder is named ``machine:pid:token``. ``machine`` is the host name and boot id, so a
worker can tell that a holder on the same machine has died (no such process) without waiting for
the lease to run out; a holder elsewhere is presumed alive until its lease runs out. Timestamps
are the workers' clocks (keep them in sync, as for any cluster) and are stored in UTC.

Services never commit; these functions neither: the caller's unit of work does (on SQLite it must
hold the write lock: ``session_scope(factory, write_lock=True)``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import CursorResult, and_, event, func, insert, or_, select, update
from sqlalchemy.orm import Session

from configurator.clock import stored as _aware, utc as _utc
from configurator.models import Job
from rule_engine import Problem
from rule_engine.errors import FenpeiError

__all__ = [
    "KINDS",
    "MAX_ATTEMPTS",
    "STATUSES",
    "JobError",
    "Lease",
    "LeaseLost",
    "checkpoint",
    "counts",
    "enqueue_after_commit",
    "fail",
    "finish",
    "get_job",
    "holder",
    "holder_is_dead",
    "lease",
    "list_jobs",
    "mark_enqueued",
    "recoverable",
    "release",
    "submit",
]

log = logging.getLogger(__name__)

KINDS = ("import", "assign", "reclaim", "points_period", "redistribute", "webhooks", "kpi_health")
STATUSES = ("pending", "running", "done", "failed")

# A job whose worker stopped this many times (killed, out of memory…) is failed, not run again.
MAX_ATTEMPTS = 5


class JobError(FenpeiError):
    """A job that does not exist, or a request about jobs that cannot be met."""


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: another worker took the job over."""


def _problem(code: str, en: str, zh: str, **params: Any) -> Problem:
    return Problem.make(code, en, zh, **params)


# ------------------------------------------------------------------------------------------------
# Who holds a lease
# ------------------------------------------------------------------------------------------------


@cache
def _machine() -> str:
    """This machine: its host name, and its boot id where the system has one (a reboot is a new machine)."""
    name = socket.gethostname() or "localhost"
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            name += "/" + fh.read().strip()[:8]
    except OSError:
        pass
    return name.replace(":", "_")


_token = uuid.uuid4().hex[:8]


def _new_token() -> None:
    global _token
    _token = uuid.uuid4().hex[:8]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_token)  # a forked pool process is a holder of its own


def holder() -> str:
    """This process as a lease holder: ``machine:pid:token``."""
    return f"{_machine()}:{os.getpid()}:{_token}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: presume alive, the lease will run out
    try:  # a zombie has exited; it only waits for its parent to collect it
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def holder_is_dead(owner: str) -> bool:
    """True when ``owner`` ran on this machine and its process is gone (or was an earlier life of this pid)."""
    machine, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    if machine != _machine() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token != _token
    return not _pid_alive(pid)


# ------------------------------------------------------------------------------------------------
# Submit and enqueue
# ------------------------------------------------------------------------------------------------


def _insert(session: Session) -> Any:
    """The dialect's INSERT construct (it has ``on_conflict_do_nothing``)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def submit(
    session: Session,
    kind: str,
    params: dict[str, Any],
    *,
    dedup: str | None = None,
    template_version_id: int | None = None,
    total: int | None = None,
) -> tuple[int, bool]:
    """A pending job of ``kind``; returns ``(id, created)``.

    With ``dedup``, a job already submitted under that key is returned instead (``created`` is
    False), whatever its status: the key names one run (``reclaim:east:2026-11-23T09``).
    """
    if kind not in KINDS:
        raise JobError(_problem("job.kind", "unknown job kind {k!r} (one of: {all})", "未知的任务类型 {k!r}(可选:{all})", k=kind, all=", ".join(KINDS)))
    values = {
        "kind": kind,
        "dedup": dedup,
        "params": params,
        "status": "pending",
        "progress": 0,
        "total": total,
        "attempts": 0,
        "template_version_id": template_version_id,
        "created_at": dt.datetime.now(dt.timezone.utc),
    }
    if dedup is None:
        return int(session.execute(insert(Job).values(**values).returning(Job.id)).scalar_one()), True
    stmt = _insert(session)(Job).values(**values).on_conflict_do_nothing(index_elements=["dedup"]).returning(Job.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return int(new_id), True
    # The other submitter's row is committed (PostgreSQL waited for it) or in our own transaction.
    return int(session.execute(select(Job.id).where(Job.dedup == dedup)).scalar_one()), False


_PENDING_KEY = "fenpei.enqueue"


def enqueue_after_commit(session: Session, job_id: int, send: Callable[[int], None]) -> None:
    """Call ``send(job_id)`` once the session's transaction commits (never if it rolls back).

    The job's ``enqueued_at`` is set in the same transaction. A failure to send is logged, not
    raised: the job stays pending and recovery sends it again later.
    """
    session.execute(update(Job).where(Job.id == job_id).values(enqueued_at=dt.datetime.now(dt.timezone.utc)))
    pending: list[tuple[int, Callable[[int], None]]] | None = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = []
        event.listen(session, "after_commit", _send_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append((job_id, send))


def _send_pending(session: Session) -> None:
    todo = list(session.info.get(_PENDING_KEY) or [])
    session.info[_PENDING_KEY] = []
    for job_id, send in todo:
        try:
            send(job_id)
        except Exception:  # the broker is unreachable: the job stays pending, recovery sends it later
            log.warning("job %s: its message could not be sent now; it will be sent again", job_id, exc_info=True)


def _drop_pending(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info[_PENDING_KEY] = []


def mark_enqueued(session: Session, job_ids: Sequence[int], now: dt.datetime) -> None:
    """Record that a message for each job was sent at ``now``."""
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(list(job_ids))).values(enqueued_at=_utc(now)))


# ------------------------------------------------------------------------------------------------
# Lease, checkpoint, finish
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease:
    """The outcome of asking for a job: ``job`` when leased, else why not (``reason``)."""

    job: Job | None
    reason: str  # leased | missing | done | failed | busy | exhausted


def _rowcount(result: Any) -> int:
    return int(cast("CursorResult[Any]", result).rowcount)


def lease(session: Session, job_id: int, now: dt.datetime, seconds: float, *, owner: str | None = None) -> Lease:
    """Take job ``job_id`` for ``seconds`` if it is pending, or running under a lease that ran out
    or whose holder died on this machine."""
    owner = owner or holder()
    now = _utc(now)
    job = session.execute(select(Job).where(Job.id == job_id).execution_options(populate_existing=True)).scalar_one_or_none()
    if job is None:
        return Lease(None, "missing")
    if job.status in ("done", "failed"):
        return Lease(None, job.status)
    if job.status == "running":
        if job.lease_owner is None:
            return Lease(None, "busy")  # run in the foreground (``fenpei leads import``), not by a worker
        until = _aware(job.lease_until)
        expired = until is None or until <= now
        if not expired and not (job.lease_owner != owner and holder_is_dead(job.lease_owner)):
            return Lease(None, "busy")
    seen = job.attempts
    if seen >= MAX_ATTEMPTS:
        gave_up = f"gave up after {seen} attempts: the worker running it stopped each time"
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.attempts == seen, Job.status.in_(("pending", "running")))
            .values(status="failed", error=gave_up, lease_owner=None, lease_until=None, finished_at=now)
        )
        return Lease(None, "exhausted")
    taken = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.attempts == seen, Job.status.in_(("pending", "running")))
        .values(status="running", lease_owner=owner, lease_until=now + dt.timedelta(seconds=seconds), attempts=seen + 1, started_at=func.coalesce(Job.started_at, now))
    )
    if _rowcount(taken) != 1:
        return Lease(None, "busy")  # another worker took it between our read and our update
    session.refresh(job)
    return Lease(job, "leased")


def _held(job_id: int, owner: str) -> Any:
    return and_(Job.id == job_id, Job.lease_owner == owner, Job.status == "running")


def checkpoint(
    session: Session,
    job_id: int,
    now: dt.datetime,
    seconds: float,
    *,
    owner: str | None = None,
    progress: int | None = None,
    total: int | None = None,
    result: dict[str, Any] | None = None,
) -> None:
    """Record progress and renew the lease, in the caller's transaction; LeaseLost if another worker holds it now."""
    owner = owner or holder()
    values: dict[str, Any] = {"lease_until": _utc(now) + dt.timedelta(seconds=seconds)}
    if progress is not None:
        values["progress"] = progress
    if total is not None:
        values["total"] = total
    if result is not None:
        values["result"] = result
    if _rowcount(session.execute(update(Job).where(_held(job_id, owner)).values(**values))) != 1:
        raise LeaseLost(job_id)


def finish(session: Session, job_id: int, now: dt.datetime, result: dict[str, Any] | None, *, owner: str | None = None, progress: int | None = None) -> None:
    """Mark the job done with its result; LeaseLost if another worker holds it now."""
    values: dict[str, Any] = {"status": "done", "result": result, "error": None, "lease_until": None, "finished_at": _utc(now)}
    if progress is not None:
        values["progress"] = progress
    if _rowcount(session.execute(update(Job).where(_held(job_id, owner or holder())).values(**values))) != 1:
        raise LeaseLost(job_id)


def fail(session: Session, job_id: int, now: dt.datetime, error: str, *, owner: str | None = None, result: dict[str, Any] | None = None) -> bool:
    """Mark the job failed with a message; False (and nothing changed) if this worker no longer holds it."""
    values: dict[str, Any] = {"status": "failed", "error": error[:4000], "lease_until": None, "finished_at": _utc(now)}
    if result is not None:
        values["result"] = result
    return _rowcount(session.execute(update(Job).where(_held(job_id, owner or holder())).values(**values))) == 1


def release(session: Session, job_id: int, error: str, *, owner: str | None = None) -> bool:
    """Give the job back (pending, to be tried again), keeping why; False if this worker no longer holds it."""
    values: dict[str, Any] = {"status": "pending", "error": error[:4000], "lease_owner": None, "lease_until": None}
    return _rowcount(session.execute(update(Job).where(_held(job_id, owner or holder())).values(**values))) == 1


# ------------------------------------------------------------------------------------------------
# Recovery and reading
# ------------------------------------------------------------------------------------------------


def recoverable(session: Session, now: dt.datetime, *, pending_after: float) -> list[int]:
    """Jobs to send again: running ones whose lease ran out or whose holder died on this machine,
    and pending ones not sent, or sent more than ``pending_after`` seconds ago."""
    now = _utc(now)
    overdue = now - dt.timedelta(seconds=pending_after)
    # Only jobs a worker leased: a job run in the foreground (no holder) is its process's business.
    expired = session.scalars(select(Job.id).where(Job.status == "running", Job.lease_owner.is_not(None), or_(Job.lease_until.is_(None), Job.lease_until <= now)))
    ids = set(expired)
    for job_id, owner in session.execute(select(Job.id, Job.lease_owner).where(Job.status == "running", Job.lease_owner.is_not(None))):
        if job_id not in ids and owner and holder_is_dead(owner):
            ids.add(job_id)
    pending = session.scalars(
        select(Job.id).where(Job.status == "pending", or_(Job.enqueued_at.is_(None), Job.enqueued_at <= overdue), or_(Job.enqueued_at.is_not(None), Job.created_at <= overdue))
    )
    ids.update(pending)
    return sorted(ids)


def get_job(session: Session, job_id: int) -> Job:
    """Job ``job_id``; JobError when there is none."""
    job = session.get(Job, job_id)
    if job is None:
        raise JobError(_problem("job.missing", "no job {id}", "没有任务 {id}", id=job_id))
    return job


def list_jobs(session: Session, *, status: str | None = None, kind: str | None = None, limit: int = 50) -> list[Job]:
    """The most recent jobs first, optionally of one status or kind."""
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Job.status == status)
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query))


def counts(session: Session) -> dict[str, int]:
    """Jobs per status (every status present, zero when none)."""
    found = {status: n for status, n in session.execute(select(Job.status, func.count()).group_by(Job.status))}
    return {status: int(found.get(status, 0)) for status in STATUSES}

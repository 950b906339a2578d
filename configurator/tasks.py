"""Background jobs on Celery: the app factory, four tasks, the beat schedule.

:func:`make_celery` builds a Celery app from :class:`~configurator.settings.Settings`; nothing is
created at import time. The tasks take a job id (or nothing), never objects:

- ``fenpei.run_job(job_id)``: :func:`configurator.runners.execute`: lease the job, run its batches,
  close it. A delivery for a job that is done, failed or leased by a live worker does nothing.
- ``fenpei.schedule_periodic()``: this period's reclaim sweeps and period-end points for every
  team, unique by key, so two schedulers (two ``fenpei worker --beat``) make one job each.
- ``fenpei.schedule_webhooks()``: this minute's webhook pass (new events into signed deliveries,
  due attempts sent), unique by key, and only when there is something to deliver; every minute.
- ``fenpei.recover_jobs()``: send again the jobs whose worker died or whose message may be lost.
  It runs on the beat every minute and when a worker starts.

Messages are acknowledged late (after the task returns) and given back when a pool process dies
(``task_reject_on_worker_lost``), one at a time per process (``worker_prefetch_multiplier=1``),
serialised as JSON. There is no result backend: a job's status, progress, result and error live
in its row (``fenpei jobs show ID``).

The broker is ``FENPEI_BROKER_URL``: by default the embedded SQLite file broker
(:mod:`configurator.broker`); ``redis://…`` or ``amqp://…`` for workers on several machines.
``celery -A configurator.tasks …`` also works (``inspect``, ``purge``): the module builds its app
from the environment on first use.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from celery import Celery, Task
from celery.schedules import schedule as every

from configurator import broker, jobs, runners
from configurator.context import Workspace
from configurator.settings import Settings

__all__ = ["RECOVER", "RUN_JOB", "SCHEDULE", "WEBHOOKS", "FenpeiCelery", "broker_kind", "celery_config", "make_celery", "recover", "workspace_for"]

log = logging.getLogger(__name__)

RUN_JOB = "fenpei.run_job"
SCHEDULE = "fenpei.schedule_periodic"
RECOVER = "fenpei.recover_jobs"
WEBHOOKS = "fenpei.schedule_webhooks"

# The beat asks for periodic jobs this often (a job per period is created once, whoever asks),
# and looks for jobs to recover this often.
SCHEDULE_EVERY = dt.timedelta(minutes=5)
RECOVER_EVERY = dt.timedelta(minutes=1)
# A pending job whose message was sent this long ago and not yet taken is sent again (its
# message may be lost; a duplicate is harmless).
PENDING_RESEND = 600.0
# A transient database error gives the job back and tries again after this many seconds.
RETRY_DELAY = 5


class FenpeiCelery(Celery):
    """A Celery app that knows the settings it was built from."""

    settings: Settings

    def send_job(self, job_id: int) -> None:
        """Send the message that runs job ``job_id`` (call it after the job's commit)."""
        self.send_task(RUN_JOB, args=[job_id], queue=self.settings.queue)


def broker_kind(url: str) -> str:
    """The broker's kind for people: ``sqlite`` (embedded), ``redis``, ``amqp``…, never its credentials."""
    scheme = url.split("://", 1)[0].lower().split("+", 1)[0] if "://" in url else "unknown"
    return {"rediss": "redis", "pyamqp": "amqp", "amqps": "amqp", "sqla": "sqlalchemy"}.get(scheme, scheme)


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings for Fenpei's jobs."""
    options: dict[str, Any] = {}
    kind = broker_kind(settings.broker_url)
    if kind == broker.SCHEME:
        options = {"polling_interval": 0.2, "visibility_timeout": broker.VISIBILITY_TIMEOUT}
    elif kind == "redis":
        options = {"visibility_timeout": broker.VISIBILITY_TIMEOUT}
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": options,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_queue": settings.queue,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_scheduler": "celery.beat:Scheduler",  # in memory: periodic jobs are unique by key, a lost tick is made up
        "beat_schedule": {
            "fenpei-schedule-periodic": {"task": SCHEDULE, "schedule": every(SCHEDULE_EVERY), "options": {"queue": settings.queue}},
            "fenpei-recover-jobs": {"task": RECOVER, "schedule": every(RECOVER_EVERY), "options": {"queue": settings.queue}},
            "fenpei-webhooks": {"task": WEBHOOKS, "schedule": every(runners.WEBHOOKS_EVERY), "options": {"queue": settings.queue}},
        },
    }


_workspaces: dict[tuple[int, str], Workspace] = {}


def _forget_inherited() -> None:
    # A forked pool process must not use its parent's pooled connections (SQLAlchemy's advice:
    # dispose without closing them, the parent still uses them).
    for ws in list(_workspaces.values()):
        if "engine" in ws.__dict__:
            ws.engine.dispose(close=False)
    _workspaces.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


def workspace_for(settings: Settings) -> Workspace:
    """This process's workspace for ``settings`` (one engine per process and database)."""
    key = (os.getpid(), settings.database_url)
    ws = _workspaces.get(key)
    if ws is None:
        ws = _workspaces[key] = Workspace(settings)
    return ws


def _app(task: Task) -> FenpeiCelery:
    app = task.app
    assert isinstance(app, FenpeiCelery)
    return app


def run_job(task: Task, job_id: int) -> str:
    """Run job ``job_id`` (see :func:`configurator.runners.execute`)."""
    app = _app(task)
    try:
        return runners.execute(workspace_for(app.settings), int(job_id), lease_seconds=app.settings.job_lease)
    except runners.Transient as exc:
        raise task.retry(countdown=RETRY_DELAY, exc=exc, max_retries=jobs.MAX_ATTEMPTS) from exc


def schedule_periodic(task: Task) -> list[int]:
    """Ask for this period's jobs for every team; returns the ids of the jobs it created."""
    app = _app(task)
    return runners.schedule_periodic(workspace_for(app.settings), dt.datetime.now(dt.timezone.utc), app.send_job).created


def schedule_webhooks(task: Task) -> list[int]:
    """Ask for this minute's webhook pass; returns the id of the job it created (none when another
    scheduler made it, or when nothing waits)."""
    app = _app(task)
    return runners.schedule_webhooks(workspace_for(app.settings), dt.datetime.now(dt.timezone.utc), app.send_job).created


def recover_jobs(task: Task) -> list[int]:
    """Send again the jobs whose worker died or whose message may be lost."""
    app = _app(task)
    return recover(app)


def recover(app: FenpeiCelery) -> list[int]:
    """The recovery pass, in this process (``fenpei worker`` runs it before it starts consuming)."""
    return runners.recover(workspace_for(app.settings), dt.datetime.now(dt.timezone.utc), app.send_job, pending_after=max(PENDING_RESEND, app.settings.job_lease))


def make_celery(settings: Settings | None = None) -> FenpeiCelery:
    """A Celery app for ``settings`` (default: from the environment) with Fenpei's tasks."""
    settings = settings or Settings.from_env()
    app = FenpeiCelery("fenpei", set_as_current=False)
    app.settings = settings
    app.conf.update(celery_config(settings))
    app.task(name=RUN_JOB, bind=True)(run_job)
    app.task(name=SCHEDULE, bind=True)(schedule_periodic)
    app.task(name=RECOVER, bind=True)(recover_jobs)
    app.task(name=WEBHOOKS, bind=True)(schedule_webhooks)
    return app


def __getattr__(name: str) -> Any:
    """``celery -A configurator.tasks``: the app, built from the environment on first use."""
    if name == "app":
        app = make_celery()
        globals()["app"] = app
        return app
    raise AttributeError(name)

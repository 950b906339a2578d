"""Real workers, real faults: ``fenpei worker`` processes killed with SIGKILL in the middle of a bulk
job and started again, and a job delivered several times. The outcome must equal one clean run.

Two backends: the embedded defaults (SQLite database, SQLite file broker) and the scale-out one
(PostgreSQL and Redis on this machine; each test uses a queue of its own, so runs of the suite at
the same time do not take each other's messages). In CI both must be reachable; elsewhere a
missing server skips its backend.

"One clean run" is the same job run once in-process on a fresh SQLite database: each lead with the
same owner or in the pool, one decision per lead in the audit trail, the same points ledger (no
duplicate key) and the same rotation state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jobs_support import NOW as CLOCK
from jobs_support import TEAM, assert_one_clean_run, build, fenpei_env, job_row, kill_worker, start_worker, state, wait_for
from sqlalchemy import create_engine, func, select, text

from configurator import runners
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.models import Lead
from configurator.services.imports import ImportOptions
from configurator.settings import Settings
from configurator.tasks import make_celery

REDIS_URL = os.environ.get("FENPEI_TEST_REDIS", "redis://127.0.0.1:6379/0")
LEADS = 2000
BATCH = 20
WAIT = 90  # a safety net against a hang, not a speed target


def _redis_problem() -> str | None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any failure to connect means: not available here
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class Backend:
    name: str
    settings: Settings
    workers: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.settings.database_url

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        return fenpei_env({"FENPEI_INSTANCE": str(s.instance), "FENPEI_DATABASE_URL": s.database_url, "FENPEI_BROKER_URL": s.broker_url, "FENPEI_QUEUE": s.queue, "FENPEI_JOB_LEASE": str(s.job_lease)})

    def worker(self, *args: str) -> Any:
        proc = start_worker(self.env, self.settings.instance / "worker.log", "--concurrency", "1", *args)
        self.workers.append(proc)
        return proc

    def log(self) -> str:
        path = self.settings.instance / "worker.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


@pytest.fixture(params=["embedded", "postgresql-redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    instance = tmp_path / "instance"
    instance.mkdir()
    queue = f"fenpei-test-{uuid.uuid4().hex[:10]}"
    if request.param == "embedded":
        settings = Settings(instance=instance, database_url=f"sqlite:///{instance / 'fenpei.sqlite3'}", broker_url=f"sqlite:///{instance / 'broker.sqlite3'}", queue=queue, job_lease=60)
        yield from _run(Backend("embedded", settings))
        return
    why = _redis_problem()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and is not reachable at {REDIS_URL}: {why}")
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {why}")
    pg_url = request.getfixturevalue("db_url_postgresql")
    settings = Settings(instance=instance, database_url=pg_url, broker_url=REDIS_URL, queue=queue, job_lease=60)
    try:
        yield from _run(Backend("postgresql-redis", settings))
    finally:
        _forget_queue(queue)


def _run(b: Backend) -> Iterator[Backend]:
    try:
        yield b
    finally:
        for proc in b.workers:  # the checks are done: no need to wait for a warm shutdown
            kill_worker(proc)


def _forget_queue(queue: str) -> None:
    """Remove the test queue's keys, and its messages a killed worker left unacknowledged."""
    import json

    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.delete(queue)
    for tag, raw in client.hgetall("unacked").items():
        try:
            routing_key = json.loads(raw)[2]
        except (ValueError, IndexError, TypeError):
            continue
        if routing_key == queue:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture
def db_url_postgresql(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database (the ``db_url`` fixture's, for a test that is not parametrised by it)."""
    name = f"fenpei_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clean_run(tmp_path: Path, leads: int) -> dict[str, Any]:
    """The same assignment job, run once and undisturbed, in a fresh SQLite database."""
    ws = Workspace(Settings(instance=tmp_path, database_url=f"sqlite:///{tmp_path / 'clean.sqlite3'}", broker_url="sqlite:////dev/null"))
    try:
        build(ws.settings.database_url, leads)
        with session_scope(ws.sessions, write_lock=True) as s:
            job_id = runners.submit_assign(s, TEAM, CLOCK, lambda _id: None, batch=BATCH)
        assert runners.execute(ws, job_id, lease_seconds=60) == "done"
        return state(ws.settings.database_url)
    finally:
        ws.engine.dispose()


def _submit_assign(b: Backend) -> int:
    ws = Workspace(b.settings)
    app = make_celery(b.settings)
    try:
        with session_scope(ws.sessions, write_lock=True) as s:
            return runners.submit_assign(s, TEAM, CLOCK, app.send_job, batch=BATCH)
    finally:
        ws.engine.dispose()


def _status(b: Backend, job_id: int) -> tuple[str, int, int | None, int]:
    job = job_row(b.url, job_id)
    return job.status, job.progress, job.total, job.attempts


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_bulk_assignment_and_started_again_ends_as_one_clean_run(backend: Backend, tmp_path: Path) -> None:
    build(backend.url, LEADS)
    first = backend.worker()
    job_id = _submit_assign(backend)
    wait_for(lambda: _status(backend, job_id)[1] >= 3 * BATCH, WAIT, "the job's first batches")
    kill_worker(first)
    status, progress, total, attempts = _status(backend, job_id)
    assert status == "running" and 0 < progress < LEADS and total == LEADS and attempts == 1, (status, progress, total, attempts)
    ws = Workspace(backend.settings)
    with session_scope(ws.sessions) as s:
        # Committed batches stayed; the batch in hand when the worker died left nothing behind.
        assert s.scalar(select(func.count()).select_from(Lead).where(Lead.state != "new")) == progress
    ws.engine.dispose()

    backend.worker()  # takes the job over at start: its holder is gone
    wait_for(lambda: _status(backend, job_id)[0] != "running", WAIT, f"the job to end\n{backend.log()}", interval=0.1)
    status, progress, _total, attempts = _status(backend, job_id)
    assert (status, progress, attempts) == ("done", LEADS, 2), backend.log()
    assert_one_clean_run(state(backend.url), _clean_run(tmp_path, LEADS))


@pytest.mark.slow
def test_the_same_job_delivered_three_times_runs_once(backend: Backend, tmp_path: Path) -> None:
    leads = 400
    build(backend.url, leads)
    job_id = _submit_assign(backend)
    app = make_celery(backend.settings)
    app.send_job(job_id)  # two more deliveries of the same job, waiting before any worker runs
    app.send_job(job_id)
    backend.worker("--concurrency", "2")  # two at once: one takes the lease, the other finds it held
    wait_for(lambda: backend.log().count("succeeded in") >= 3, WAIT, f"three deliveries\n{backend.log()}", interval=0.1)
    assert _status(backend, job_id) == ("done", leads, leads, 1)
    once = state(backend.url)
    app.send_job(job_id)  # and once more after it is done
    wait_for(lambda: backend.log().count("succeeded in") >= 4, WAIT, f"a fourth delivery\n{backend.log()}", interval=0.1)
    assert _status(backend, job_id)[3] == 1
    assert state(backend.url) == once
    log = backend.log()
    assert log.count(f"job {job_id} (assign): done") == 1, log  # one run; the other deliveries found it held or done
    assert log.count(": 'busy'") + log.count(": 'done'") == 4, log
    assert_one_clean_run(once, _clean_run(tmp_path, leads))


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_an_import_and_started_again_stores_each_row_once(backend: Backend, tmp_path: Path) -> None:
    rows = 3000
    build(backend.url, 0)
    csv = tmp_path / "leads.csv"
    csv.write_text("id,company,size\n" + "".join(f"I{i:05d},Imported {i},{i}\n" for i in range(rows)), encoding="utf-8")
    ws = Workspace(backend.settings)
    app = make_celery(backend.settings)
    with session_scope(ws.sessions, write_lock=True) as s:
        job_id = runners.submit_import(s, TEAM, csv, app.send_job, options=ImportOptions(mode="keep_good"), chunk_size=100)
    first = backend.worker()
    wait_for(lambda: _status(backend, job_id)[1] >= 300, WAIT, "the import's first chunks")
    kill_worker(first)
    status, progress, _total, _attempts = _status(backend, job_id)
    assert status == "running" and 0 < progress < rows, (status, progress)

    backend.worker()
    wait_for(lambda: _status(backend, job_id)[0] != "running", WAIT, f"the import to end\n{backend.log()}", interval=0.1)
    job = job_row(backend.url, job_id)
    assert job.status == "done" and job.result is not None, backend.log()
    assert (job.result["rows"], job.result["stored"], job.result["duplicates"], job.result["bad"]) == (rows, rows, 0, 0)
    assert 0 < job.result["resumed"] < rows  # the rows the killed worker had committed were found, not stored again
    with session_scope(ws.sessions) as s:
        ids = list(s.scalars(select(Lead.id)))
        hashes = list(s.scalars(select(Lead.import_hash)))
    ws.engine.dispose()
    assert sorted(ids) == [f"I{i:05d}" for i in range(rows)]
    assert len(set(hashes)) == rows

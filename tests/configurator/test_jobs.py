"""Jobs without a broker: submit with a key, lease, checkpoint, enqueue after commit, recovery,
the runners in-process, and two schedulers at once (two OS processes), on SQLite and PostgreSQL.

The same code runs in a Celery worker (``tests/configurator/test_worker_faults.py``); here a
"delivery" is a call to :func:`configurator.runners.execute` and "sending" appends to a list.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_support import NOW, TEAM, assert_one_clean_run, build, job_row, state
from sqlalchemy import func, select, update

from configurator import jobs, runners
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.models import Job, Lead, Team
from configurator.settings import Settings

LEADS = 400
BATCH = 40


@pytest.fixture
def ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    settings = Settings(instance=tmp_path, database_url=db_url, broker_url=f"sqlite:///{tmp_path / 'broker.sqlite3'}", job_lease=30)
    workspace = Workspace(settings)
    yield workspace
    workspace.engine.dispose()


def _unit(ws: Workspace) -> Any:
    return session_scope(ws.sessions, write_lock=True)


def _submit(ws: Workspace, sent: list[int], **kwargs: Any) -> int:
    with _unit(ws) as s:
        return runners.submit_assign(s, TEAM, NOW, sent.append, batch=BATCH, **kwargs)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been collected)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------------------
# Submit and enqueue after commit
# ------------------------------------------------------------------------------------------------


def test_a_key_names_one_job(ws: Workspace) -> None:
    build(ws.settings.database_url, 0)
    with _unit(ws) as s:
        first = jobs.submit(s, "reclaim", {"team": TEAM}, dedup="reclaim:crowd:2026-11-23T01:00Z")
        again = jobs.submit(s, "reclaim", {"team": TEAM, "other": 1}, dedup="reclaim:crowd:2026-11-23T01:00Z")
    with _unit(ws) as s:
        later = jobs.submit(s, "reclaim", {"team": TEAM}, dedup="reclaim:crowd:2026-11-23T01:00Z")
        other = jobs.submit(s, "reclaim", {"team": TEAM}, dedup="reclaim:crowd:2026-11-23T02:00Z")
        assert s.scalar(select(func.count()).select_from(Job)) == 2
    assert first[1] and not again[1] and not later[1] and other[1]
    assert first[0] == again[0] == later[0] != other[0]


def test_an_unknown_kind_is_refused(ws: Workspace) -> None:
    build(ws.settings.database_url, 0)
    with pytest.raises(jobs.JobError) as err, _unit(ws) as s:
        jobs.submit(s, "reindex", {})
    assert "unknown job kind 'reindex'" in err.value.format("en") and "未知的任务类型" in err.value.format("zh")


def test_a_message_is_sent_after_commit_and_never_for_a_rolled_back_job(ws: Workspace) -> None:
    build(ws.settings.database_url, 10)
    sent: list[int] = []
    with _unit(ws) as s:
        job_id = runners.submit_assign(s, TEAM, NOW, sent.append)
        s.flush()
        assert sent == []  # not before the job is committed
    assert sent == [job_id]
    assert job_row(ws.settings.database_url, job_id).enqueued_at is not None

    class Boom(Exception):
        pass

    with pytest.raises(Boom), _unit(ws) as s:
        runners.submit_assign(s, TEAM, NOW, sent.append)
        raise Boom
    assert sent == [job_id]
    with _unit(ws) as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_a_broker_that_refuses_the_message_leaves_the_job_pending_for_recovery(ws: Workspace, caplog: pytest.LogCaptureFixture) -> None:
    build(ws.settings.database_url, 10)

    def refuse(_job_id: int) -> None:
        raise ConnectionError("broker down")

    with _unit(ws) as s:
        job_id = runners.submit_assign(s, TEAM, NOW, refuse)
    assert "could not be sent now" in caplog.text
    assert job_row(ws.settings.database_url, job_id).status == "pending"
    resent: list[int] = []
    now = dt.datetime.now(dt.timezone.utc)
    assert runners.recover(ws, now, resent.append, pending_after=60) == []  # sent a moment ago: wait
    assert runners.recover(ws, now + dt.timedelta(seconds=61), resent.append, pending_after=60) == [job_id]
    assert resent == [job_id]


# ------------------------------------------------------------------------------------------------
# Leases
# ------------------------------------------------------------------------------------------------


def _set(ws: Workspace, job_id: int, **values: Any) -> None:
    with _unit(ws) as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))


def _lease(ws: Workspace, job_id: int, now: dt.datetime, owner: str) -> jobs.Lease:
    with _unit(ws) as s:
        return jobs.lease(s, job_id, now, 30, owner=owner)


def test_a_lease_is_taken_once_and_taken_over_only_when_its_holder_is_gone(ws: Workspace) -> None:
    build(ws.settings.database_url, 10)
    now = dt.datetime.now(dt.timezone.utc)
    job_id = _submit(ws, [])
    me = jobs.holder()
    elsewhere = "other-host/1234abcd:4242:feedface"

    first = _lease(ws, job_id, now, me)
    assert first.reason == "leased" and first.job is not None and first.job.attempts == 1 and first.job.status == "running"
    # a second delivery while the holder lives: nothing to do, whoever asks
    assert _lease(ws, job_id, now, elsewhere).reason == "busy"
    # a holder on another machine is presumed alive until its lease runs out
    _set(ws, job_id, lease_owner=elsewhere)
    assert _lease(ws, job_id, now + dt.timedelta(seconds=29), me).reason == "busy"
    taken = _lease(ws, job_id, now + dt.timedelta(seconds=31), me)
    assert taken.reason == "leased" and taken.job is not None and taken.job.attempts == 2 and taken.job.lease_owner == me
    # a holder on this machine whose process is gone: taken over at once
    dead = f"{me.split(':')[0]}:{_dead_pid()}:00000000"
    _set(ws, job_id, lease_owner=dead)
    assert jobs.holder_is_dead(dead) and not jobs.holder_is_dead(me) and not jobs.holder_is_dead(elsewhere)
    assert _lease(ws, job_id, now, me).reason == "leased"
    # an earlier life of this very pid (another token) is gone too
    _set(ws, job_id, lease_owner=me.rsplit(":", 1)[0] + ":00000000")
    assert _lease(ws, job_id, now, me).reason == "leased"


@pytest.mark.parametrize("status", ["done", "failed"])
def test_a_closed_job_is_never_run_again(ws: Workspace, status: str) -> None:
    build(ws.settings.database_url, 10)
    job_id = _submit(ws, [])
    _set(ws, job_id, status=status)
    assert _lease(ws, job_id, dt.datetime.now(dt.timezone.utc), jobs.holder()).reason == status
    assert _lease(ws, 999_999, dt.datetime.now(dt.timezone.utc), jobs.holder()).reason == "missing"


def test_a_job_whose_worker_keeps_dying_is_failed_after_the_last_attempt(ws: Workspace) -> None:
    build(ws.settings.database_url, 10)
    job_id = _submit(ws, [])
    _set(ws, job_id, status="running", attempts=jobs.MAX_ATTEMPTS, lease_owner="other-host:1:x", lease_until=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    assert runners.execute(ws, job_id, lease_seconds=30) == "exhausted"
    job = job_row(ws.settings.database_url, job_id)
    assert job.status == "failed" and job.error is not None and "gave up after 5 attempts" in job.error


def test_a_worker_that_lost_its_lease_cannot_apply_another_batch(ws: Workspace) -> None:
    build(ws.settings.database_url, 10)
    job_id = _submit(ws, [])
    now = dt.datetime.now(dt.timezone.utc)
    me = jobs.holder()
    assert _lease(ws, job_id, now, me).reason == "leased"
    _set(ws, job_id, lease_owner="other-host:1:x")  # another worker took it over meanwhile
    with pytest.raises(jobs.LeaseLost), _unit(ws) as s:
        s.execute(update(Lead).values(state="pool"))  # this batch's work…
        jobs.checkpoint(s, job_id, now, 30, owner=me, progress=10)  # …rolls back with the checkpoint
    with _unit(ws) as s:
        assert set(s.scalars(select(Lead.state))) == {"new"}
        assert jobs.fail(s, job_id, now, "late", owner=me) is False
        with pytest.raises(jobs.LeaseLost):
            jobs.finish(s, job_id, now, {}, owner=me)
    assert job_row(ws.settings.database_url, job_id).status == "running"


def test_a_job_run_in_the_foreground_is_left_to_its_command(ws: Workspace, tmp_path: Path) -> None:
    """``fenpei leads import`` runs its job itself: no worker takes it, even when it seems stale."""
    build(ws.settings.database_url, 0)
    from configurator.services.imports import ImportOptions, run_import

    csv = _leads_csv(tmp_path / "leads.csv", 5)
    seen: list[str] = []

    def meanwhile(_done: int) -> None:
        job_id = 1
        seen.append(_lease(ws, job_id, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1), jobs.holder()).reason)
        seen.extend(map(str, runners.recover(ws, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1), lambda _id: None, pending_after=60)))

    result = run_import(ws.sessions, TEAM, csv, options=ImportOptions(mode="keep_good"), chunk_size=2, after_chunk=meanwhile)
    assert result.stored == 5 and seen == ["busy", "busy", "busy"]
    assert job_row(ws.settings.database_url, 1).attempts == 1


def test_recovery_sends_jobs_whose_worker_died_or_whose_message_is_overdue(ws: Workspace) -> None:
    build(ws.settings.database_url, 10)
    now = dt.datetime.now(dt.timezone.utc)
    machine = jobs.holder().split(":")[0]
    ids = [_submit(ws, []) for _ in range(7)]
    fresh_pending, old_pending, live, expired, dead, done, foreground = ids
    _set(ws, foreground, status="running", lease_owner=None, lease_until=None)
    _set(ws, old_pending, enqueued_at=now - dt.timedelta(hours=1))
    _set(ws, live, status="running", lease_owner=jobs.holder(), lease_until=now + dt.timedelta(seconds=30))
    _set(ws, expired, status="running", lease_owner="other-host:1:x", lease_until=now - dt.timedelta(seconds=1))
    _set(ws, dead, status="running", lease_owner=f"{machine}:{_dead_pid()}:x", lease_until=now + dt.timedelta(seconds=30))
    _set(ws, done, status="done")
    sent: list[int] = []
    assert runners.recover(ws, now, sent.append, pending_after=600) == [old_pending, expired, dead]
    assert sent == [old_pending, expired, dead]
    assert fresh_pending not in sent and live not in sent and foreground not in sent


# ------------------------------------------------------------------------------------------------
# The runners, in-process
# ------------------------------------------------------------------------------------------------


def _clean_run(tmp_path: Path) -> dict[str, Any]:
    """The same job run once, undisturbed, in a database of its own."""
    other = Workspace(Settings(instance=tmp_path, database_url=f"sqlite:///{tmp_path / 'clean.sqlite3'}", broker_url="sqlite:////dev/null", job_lease=30))
    try:
        build(other.settings.database_url, LEADS)
        assert runners.execute(other, _submit(other, []), lease_seconds=30) == "done"
        return state(other.settings.database_url)
    finally:
        other.engine.dispose()


def test_an_assignment_job_equals_one_clean_run_and_a_second_delivery_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    url = ws.settings.database_url
    build(url, LEADS)
    sent: list[int] = []
    job_id = _submit(ws, sent)
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    after_one = state(url)
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"  # the lease says: already done
    assert state(url) == after_one
    job = job_row(url, job_id)
    assert (job.status, job.progress, job.total, job.attempts) == ("done", LEADS, LEADS, 1)
    assert job.result is not None and job.result["assigned"] + job.result["pool"] == LEADS and job.result["template_version"] == 1
    assert_one_clean_run(after_one, _clean_run(tmp_path))


def test_an_assignment_job_stopped_after_some_batches_goes_on_from_there(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = ws.settings.database_url
    build(url, LEADS)
    job_id = _submit(ws, [])
    # A worker that stops during its fourth batch, and whose process is then gone.
    gone = f"{jobs.holder().split(':')[0]}:{_dead_pid()}:x"
    with _unit(ws) as s:
        lease = jobs.lease(s, job_id, dt.datetime.now(dt.timezone.utc), 30, owner=gone)
        assert lease.job is not None
        run = runners.JobRun(ws, job_id, "assign", dict(lease.job.params), gone, 30)
    original = runners.assignment_service.assign_pending
    calls = 0

    def three_batches(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        result = original(*args, **kwargs)
        if calls > 3:
            raise KeyboardInterrupt  # killed after the batch's work, before its commit
        return result

    monkeypatch.setattr(runners.assignment_service, "assign_pending", three_batches)
    with pytest.raises(KeyboardInterrupt):
        runners.run_assign(run)
    monkeypatch.undo()
    job = job_row(url, job_id)
    assert (job.status, job.progress) == ("running", 3 * BATCH)
    with _unit(ws) as s:
        assert s.scalar(select(func.count()).select_from(Lead).where(Lead.state == "new")) == LEADS - 3 * BATCH

    assert runners.execute(ws, job_id, lease_seconds=30) == "done"  # its holder is gone: taken over at once
    job = job_row(url, job_id)
    assert (job.status, job.progress, job.attempts) == ("done", LEADS, 2)
    assert_one_clean_run(state(url), _clean_run(tmp_path))


def _leads_csv(path: Path, rows: int) -> Path:
    path.write_text("id,company,size\n" + "".join(f"I{i:05d},Imported {i},{i}\n" for i in range(rows)), encoding="utf-8")
    return path


def test_an_import_job_stores_every_row_once_and_a_second_delivery_changes_nothing(ws: Workspace, tmp_path: Path) -> None:
    url = ws.settings.database_url
    build(url, 0)
    csv = _leads_csv(tmp_path / "leads.csv", 250)
    from configurator.services.imports import ImportOptions

    sent: list[int] = []
    with _unit(ws) as s:
        job_id = runners.submit_import(s, TEAM, csv, sent.append, options=ImportOptions(mode="keep_good"))
    assert sent == [job_id] and job_row(url, job_id).total == 250
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    with _unit(ws) as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 250
    job = job_row(url, job_id)
    assert job.status == "done" and job.result is not None and job.result["stored"] == 250


def test_an_import_job_whose_file_is_gone_fails_with_a_message(ws: Workspace, tmp_path: Path) -> None:
    url = ws.settings.database_url
    build(url, 0)
    csv = _leads_csv(tmp_path / "leads.csv", 5)
    with _unit(ws) as s:
        job_id = runners.submit_import(s, TEAM, csv, lambda _id: None)
    csv.unlink()
    assert runners.execute(ws, job_id, lease_seconds=30) == "failed"
    job = job_row(url, job_id)
    assert job.status == "failed" and job.error and "leads.csv" in job.error
    assert job.result is not None and job.result["problems"][0]["zh"]


def test_a_dry_run_is_not_a_job(ws: Workspace, tmp_path: Path) -> None:
    build(ws.settings.database_url, 0)
    from configurator.services.imports import ImportOptions

    with pytest.raises(jobs.JobError) as err, _unit(ws) as s:
        runners.submit_import(s, TEAM, _leads_csv(tmp_path / "x.csv", 1), lambda _id: None, options=ImportOptions(dry_run=True))
    assert "fenpei leads import --dry-run" in err.value.format("en")


# ------------------------------------------------------------------------------------------------
# Periodic jobs, and two schedulers at once
# ------------------------------------------------------------------------------------------------


def test_periodic_jobs_are_one_per_team_and_period(ws: Workspace) -> None:
    url = ws.settings.database_url
    build(url, 0, teams=("east", "west"))
    with _unit(ws) as s:  # teams that existed before this month
        s.execute(update(Team).values(created_at=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)))
    at = dt.datetime(2026, 11, 23, 1, 10, tzinfo=dt.timezone.utc)
    sent: list[int] = []
    first = runners.schedule_periodic(ws, at, sent.append)
    again = runners.schedule_periodic(ws, at + dt.timedelta(minutes=40), sent.append)
    later = runners.schedule_periodic(ws, at + dt.timedelta(hours=1), sent.append)
    assert len(first.created) == 4 and first.existing == []  # a sweep and last month's points per team
    assert again.created == [] and sorted(again.existing) == sorted(first.created)
    assert len(later.created) == 2  # the next hour's sweeps; last month's points exist already
    assert sent == first.created + later.created
    with _unit(ws) as s:
        keys = sorted(s.scalars(select(Job.dedup)))
    assert keys == [
        "points:east:2026-10",
        "points:west:2026-10",
        "reclaim:east:2026-11-23T01:00Z",
        "reclaim:east:2026-11-23T02:00Z",
        "reclaim:west:2026-11-23T01:00Z",
        "reclaim:west:2026-11-23T02:00Z",
    ]


def test_period_before_each_kind_of_period() -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    at = dt.datetime(2026, 1, 1, 0, 30, tzinfo=tz)  # just after midnight on New Year's day
    assert runners.period_before("day", at, tz)[0] == "2025-12-31"
    assert runners.period_before("week", at, tz)[0] == "2025-W52"
    assert runners.period_before("month", at, tz)[0] == "2025-12"
    assert runners.period_before("quarter", at, tz)[0] == "2025-Q4"
    assert runners.period_before("year", at, tz) == ("2025", dt.datetime(2026, 1, 1, tzinfo=tz))


ROUNDS = 5


def _scheduler(url: str, instance: str, barrier: Any, results: Any) -> None:
    """One scheduler process: at each round, every scheduler asks for the same hour's jobs at once."""
    ws = Workspace(Settings(instance=Path(instance), database_url=url, broker_url="sqlite:////dev/null", job_lease=30))
    created: list[int] = []
    sent: list[int] = []
    try:
        for round_ in range(ROUNDS):
            barrier.wait(60)
            at = dt.datetime(2026, 11, 23, round_, 5, tzinfo=dt.timezone.utc)
            created += runners.schedule_periodic(ws, at, sent.append).created
        results.put(("ok", os.getpid(), created, sent))
    except BaseException:
        results.put(("error", os.getpid(), traceback.format_exc(), []))
    finally:
        ws.engine.dispose()


def test_two_schedulers_at_once_make_one_job_per_team_and_period(db_url: str, tmp_path: Path) -> None:
    build(db_url, 0, teams=("east", "west", "north"))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_scheduler, args=(db_url, str(tmp_path), barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [r[2] for r in reports if r[0] == "error"]
    assert not errors, "\n".join(errors)
    created = [job_id for r in reports for job_id in r[2]]
    sent = [job_id for r in reports for job_id in r[3]]
    assert len(created) == len(set(created)) == 3 * ROUNDS  # one sweep per team per hour, made by one of the two
    assert sorted(sent) == sorted(created)  # each sent once, by the scheduler that made it
    ws = Workspace(Settings(instance=tmp_path, database_url=db_url, broker_url="sqlite:////dev/null"))
    try:
        with _unit(ws) as s:
            keys = list(s.scalars(select(Job.dedup)))
        assert len(keys) == len(set(keys)) == 3 * ROUNDS
    finally:
        ws.engine.dispose()


def test_period_end_points_are_written_once_however_often_the_job_runs(ws: Workspace) -> None:
    from configurator.models import PointEntry

    url = ws.settings.database_url
    build(url, 0)
    with _unit(ws) as s:
        s.execute(update(Team).values(created_at=dt.datetime(2026, 9, 1, tzinfo=dt.timezone.utc)))
    at = dt.datetime(2026, 11, 23, 1, 10, tzinfo=dt.timezone.utc)
    scheduled = runners.schedule_periodic(ws, at, lambda _id: None)
    with _unit(ws) as s:
        points_job = s.scalar(select(Job.id).where(Job.kind == "points_period"))
        assert points_job in scheduled.created
    assert runners.execute(ws, points_job, lease_seconds=30) == "done"
    assert runners.execute(ws, points_job, lease_seconds=30) == "done"
    assert job_row(url, points_job).result == {"team": TEAM, "period": "2026-10", "entries": 10}
    # even a second job for the same period (asked for by hand) writes nothing twice
    with _unit(ws) as s:
        again, _ = jobs.submit(s, "points_period", {"team": TEAM, "period": "2026-10", "now": at.isoformat()})
    assert runners.execute(ws, again, lease_seconds=30) == "done"
    assert job_row(url, again).result == {"team": TEAM, "period": "2026-10", "entries": 0}
    with _unit(ws) as s:
        keys = list(s.scalars(select(PointEntry.key)))
    assert len(keys) == len(set(keys)) == 10


def test_an_all_or_nothing_import_job_with_a_bad_row_fails_and_stores_nothing(ws: Workspace, tmp_path: Path) -> None:
    url = ws.settings.database_url
    build(url, 0)
    csv = tmp_path / "leads.csv"
    csv.write_text("id,company,size\nA1,Acme,10\nA2,Beta,many\n", encoding="utf-8")
    from configurator.services.imports import ImportOptions

    with _unit(ws) as s:
        job_id = runners.submit_import(s, TEAM, csv, lambda _id: None, options=ImportOptions(mode="all_or_nothing"))
    assert runners.execute(ws, job_id, lease_seconds=30) == "failed"
    job = job_row(url, job_id)
    assert job.status == "failed" and job.error == "1 bad rows: nothing stored (all or nothing)"
    with _unit(ws) as s:
        assert s.scalar(select(func.count()).select_from(Lead)) == 0

"""Reclaim sweeps as jobs, in-process: reminders and reclaims once, however often the job runs or
is asked for, and a sweep cut off part way goes on from its last committed batch to the outcome of
one clean run (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs_support import NOW, TEAM, build, job_row, state
from sqlalchemy import select

from configurator import jobs, runners
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.models import AuditEvent
from configurator.services import pool
from configurator.settings import Settings

LEADS = 300
BATCH = 40


def _workspace(url: str, instance: Path) -> Workspace:
    return Workspace(Settings(instance=instance, database_url=url, broker_url="sqlite:////dev/null", job_lease=30))


@pytest.fixture
def ws(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = _workspace(db_url, tmp_path)
    _assigned(workspace)
    yield workspace
    workspace.engine.dispose()


def _assigned(ws: Workspace) -> None:
    """The team's leads assigned at NOW (an assignment job)."""
    build(ws.settings.database_url, LEADS)
    with session_scope(ws.sessions, write_lock=True) as s:
        job_id = runners.submit_assign(s, TEAM, NOW, lambda _id: None)
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"


def _sweep(ws: Workspace, at: dt.datetime, **kwargs: Any) -> dict[str, Any]:
    with session_scope(ws.sessions, write_lock=True) as s:
        job_id, _ = runners.submit_reclaim(s, TEAM, at, lambda _id: None, batch=BATCH, **kwargs)
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    result = job_row(ws.settings.database_url, job_id).result
    assert result is not None
    return result


def _owned(ws: Workspace) -> int:
    return sum(1 for st, _ in state(ws.settings.database_url)["leads"].values() if st == "owned")


def test_a_sweep_reminds_once_then_reclaims_once(ws: Workspace) -> None:
    owned = _owned(ws)
    reminded = _sweep(ws, NOW + dt.timedelta(days=2, hours=6))  # a day before the 3-day deadline
    assert (reminded["reminded"], reminded["reclaimed"], reminded["next_after"]) == (owned, 0, None)
    assert _sweep(ws, NOW + dt.timedelta(days=2, hours=6))["reminded"] == 0  # asked for again: stamped already
    before = state(ws.settings.database_url)
    reclaimed = _sweep(ws, NOW + dt.timedelta(days=4))
    assert reclaimed["reclaimed"] == owned and reclaimed["scanned"] == owned
    assert _sweep(ws, NOW + dt.timedelta(days=4))["reclaimed"] == 0
    after = state(ws.settings.database_url)
    assert Counter(st for st, _ in after["leads"].values())["owned"] == 0
    assert after["decisions"] - before["decisions"] == Counter({(lead, "reclaim"): 1 for lead, (st, _) in before["leads"].items() if st == "owned"})


def test_the_scheduled_sweep_of_one_hour_runs_once(ws: Workspace) -> None:
    at = NOW + dt.timedelta(days=4)
    first = runners.schedule_periodic(ws, at, lambda _id: None)
    second = runners.schedule_periodic(ws, at + dt.timedelta(minutes=30), lambda _id: None)
    (job_id,) = [j for j in first.created if job_row(ws.settings.database_url, j).kind == "reclaim"]
    assert job_id in second.existing
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    assert runners.execute(ws, job_id, lease_seconds=30) == "done"  # delivered again: nothing new
    assert job_row(ws.settings.database_url, job_id).attempts == 1
    assert _owned(ws) == 0


def test_a_sweep_cut_off_after_some_batches_goes_on_to_one_clean_runs_outcome(ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = NOW + dt.timedelta(days=4)
    with session_scope(ws.sessions, write_lock=True) as s:
        job_id, _ = runners.submit_reclaim(s, TEAM, at, lambda _id: None, batch=BATCH)
    original = pool.sweep_batch
    calls = 0

    def two_batches(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        result = original(*args, **kwargs)
        if calls > 2:
            raise KeyboardInterrupt  # the worker dies in its third batch, before the commit
        return result

    monkeypatch.setattr(pool, "sweep_batch", two_batches)
    with pytest.raises(KeyboardInterrupt):
        runners.execute(ws, job_id, lease_seconds=30, owner=f"{jobs.holder().split(':')[0]}:999999999:gone")
    monkeypatch.undo()
    job = job_row(ws.settings.database_url, job_id)
    assert job.status == "running" and job.progress == 2 * BATCH and job.result is not None and job.result["next_after"]
    with session_scope(ws.sessions) as s:  # two batches committed, the third rolled back
        reclaimed = sorted(s.scalars(select(AuditEvent.lead_id).where(AuditEvent.action == "reclaim")))
    assert len(reclaimed) == 2 * BATCH and reclaimed[-1] == job.result["next_after"]

    assert runners.execute(ws, job_id, lease_seconds=30) == "done"
    job = job_row(ws.settings.database_url, job_id)
    assert job.status == "done" and job.attempts == 2 and job.result is not None and job.result["reclaimed"] == job.result["scanned"]

    clean = _workspace(f"sqlite:///{tmp_path / 'clean.sqlite3'}", tmp_path)
    try:
        _assigned(clean)
        _sweep(clean, at)
        got, want = state(ws.settings.database_url), state(clean.settings.database_url)
    finally:
        clean.engine.dispose()
    assert got["leads"] == want["leads"] and got["decisions"] == want["decisions"] and got["ledger"] == want["ledger"]
    with session_scope(ws.sessions) as s:
        reclaims = Counter(s.scalars(select(AuditEvent.lead_id).where(AuditEvent.action == "reclaim")))
    assert set(reclaims.values()) == {1}

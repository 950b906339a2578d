"""Shared by the background-job tests: a team with many pending leads, and the state to compare.

``build`` makes a database with one team (``crowd``), ten reps (five with a small cap, five with
a larger one, so round robin fills some and the rest of the leads go to the pool) and ``leads``
pending leads. ``state`` reads back everything a run changes, in a form two databases can be
compared by: each lead's state and owner, the decisions recorded per lead, the points ledger, the
rotation state.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from support import pending_lead_rows

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.migrate import upgrade
from configurator.models import AuditEvent, Job, Lead, PointEntry, RotationState
from configurator.services import teams as teams_svc
from configurator.services import templates as tmpl_svc
from rule_engine import Rep as EngineRep

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
TEAM = "crowd"
REPS = 10

TEMPLATE = """\
fenpei: 1
name: jobs
title: {zh: 后台任务, en: Background jobs}
timezone: Asia/Shanghai
fields:
  company: {type: string}
  size: {type: integer}
rep_fields:
  capacity: {type: number}
load:
  default_weight: 1
  cap: 'rep.capacity'
assignment:
  policies:
    - {name: rotation, strategy: round_robin, on_no_candidate: pool}
  otherwise: pool
reclaim:
  rules:
    - {name: idle, since: assigned, days: 3, remind_before_days: 1, action: pool}
points:
  period: month
  rules:
    - {name: took, "on": lead.assigned, amount: 1, once: per_lead}
    - {name: busy, "on": lead.assigned, amount: 1, cap: 150}
    - {name: month_end, "on": period.ended, amount: 5}
"""


def capacities(leads: int) -> list[int]:
    """Caps that hold about five sixths of ``leads``: the rest go to the pool."""
    small, large = leads // 30, leads // 7
    return [small] * (REPS // 2) + [large] * (REPS - REPS // 2)


def build(url: str, leads: int, *, teams: tuple[str, ...] = (TEAM,)) -> None:
    """A fresh schema, the template published, ``teams`` with their reps, ``leads`` pending leads in the first."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine), write_lock=True) as s:
            tmpl_svc.import_draft(s, TEMPLATE)
            version = tmpl_svc.publish(s, "jobs")
            for slug in teams:
                team = teams_svc.create_team(s, slug, slug.title(), "jobs")
                teams_svc.upsert_reps(s, team, [EngineRep(f"{slug}-r{i:02d}", f"Rep {i}", {"capacity": c}) for i, c in enumerate(capacities(leads))])
                if slug != teams[0] or not leads:
                    continue
                start = NOW.astimezone(dt.timezone.utc) - dt.timedelta(days=1)
                s.execute(insert(Lead), pending_lead_rows(team.id, version.id, leads, start, digits=5))
    finally:
        engine.dispose()


def state(url: str) -> dict[str, Any]:
    """Everything an assignment run changes, comparable between two databases."""
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            leads = {row.id: (row.state, row.owner_id) for row in s.execute(select(Lead.id, Lead.state, Lead.owner_id))}
            decisions = Counter((lead_id, action) for lead_id, action in s.execute(select(AuditEvent.lead_id, AuditEvent.action)))
            ledger = sorted((e.key, e.rep_id, e.rule, str(e.amount), e.lead_id) for e in s.scalars(select(PointEntry)))
            rotation = [r.state for r in s.scalars(select(RotationState))]
        return {"leads": leads, "decisions": decisions, "ledger": ledger, "rotation": rotation}
    finally:
        engine.dispose()


def assert_one_clean_run(got: dict[str, Any], clean: dict[str, Any]) -> None:
    """The outcome equals one clean run: same owner or pool per lead, one decision per lead, the same ledger."""
    assert got["leads"] == clean["leads"]
    states = Counter(s for s, _ in got["leads"].values())
    assert states["new"] == 0 and states["owned"] > 0 and states["pool"] > 0, states
    assert all((s == "owned") == (owner is not None) for s, owner in got["leads"].values())
    per_lead = Counter(lead_id for lead_id, _action in got["decisions"].elements())
    assert set(per_lead.values()) == {1}, [lead for lead, n in per_lead.items() if n != 1][:10]
    assert got["decisions"] == clean["decisions"]
    keys = [entry[0] for entry in got["ledger"]]
    assert len(keys) == len(set(keys)), "duplicate ledger keys"
    assert got["ledger"] == clean["ledger"]
    assert got["rotation"] == clean["rotation"]


def job_row(url: str, job_id: int) -> Job:
    engine = make_engine(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            job = s.get(Job, job_id)
            assert job is not None
            s.expunge(job)
            return job
    finally:
        engine.dispose()


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``check`` until it is true; fail with ``what`` after ``timeout`` seconds (a safety net)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def fenpei_env(settings_env: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENPEI_") and k not in ("LANG", "LC_ALL", "LC_MESSAGES")}
    env.update({"FENPEI_LANG": "en", "PYTHONIOENCODING": "utf-8", **settings_env})
    return env


def start_worker(env: Mapping[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``fenpei worker ARGS`` in its own process group (so the test can kill it and its pool at once)."""
    out = open(log, "ab")  # noqa: SIM115 - the child writes to it; closed by stop_worker
    proc = subprocess.Popen([sys.executable, "-m", "configurator", "worker", "--loglevel", "info", *args], env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    proc._fenpei_log = out  # type: ignore[attr-defined]
    return proc


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and every process of its group (its pool), as a machine or OOM kill would."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)
    wait_for(lambda: not _group_alive(proc.pid), 10, "the worker's pool processes to exit")
    proc._fenpei_log.close()  # type: ignore[attr-defined]


def stop_worker(proc: subprocess.Popen[bytes]) -> int:
    """Ask the worker to stop (SIGTERM: warm shutdown), then insist; its exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            kill_worker(proc)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a pool process left behind, if any
    except ProcessLookupError:
        pass
    proc._fenpei_log.close()  # type: ignore[attr-defined]
    return int(proc.returncode)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Orphaned pool processes are collected by init; they may linger as zombies for a moment.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False

"""``fenpei jobs …`` and ``fenpei worker`` from the command line: messages, never tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jobs_support import TEAM, build

from configurator import runners
from configurator.context import Workspace
from configurator.settings import Settings


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    instance = tmp_path / "instance"
    instance.mkdir()
    build(f"sqlite:///{instance / 'fenpei.sqlite3'}", 30)
    return {"FENPEI_INSTANCE": str(instance)}


def test_queue_list_show_and_wait(fenpei: Any, env: dict[str, str], tmp_path: Path) -> None:
    assert fenpei("jobs", "list", env=env).lines == ["no jobs"]
    queued = fenpei("jobs", "assign", TEAM, "--batch", "10", "--now", "2026-11-23T09:00:00+08:00", env=env)
    queued.assert_clean()
    assert queued.returncode == 0 and queued.lines == ["job 1 queued: assign crowd's pending leads"], queued

    listed = fenpei("jobs", "list", env=env)
    assert listed.returncode == 0 and len(listed.lines) == 1
    assert listed.lines[0].split()[:4] == ["1", "assign", "pending", "0/30"], listed

    shown = fenpei("jobs", "show", "1", "--json", env=env)
    data = json.loads(shown.stdout)
    assert (data["kind"], data["status"], data["total"], data["params"]["batch"], data["params"]["now"]) == ("assign", "pending", 30, 10, "2026-11-23T09:00:00+08:00")
    assert data["enqueued_at"] is not None and data["template_version_id"] == 1

    waited = fenpei("jobs", "wait", "1", "--timeout", "0.3", env=env)
    assert waited.returncode == 1 and "job 1: still pending after 0.3 s" in waited.stdout, waited

    # a worker runs it (here in-process), and the job tells what it did
    ws = Workspace(Settings.from_env(env))
    assert runners.execute(ws, 1, lease_seconds=30) == "done"
    ws.engine.dispose()
    assert fenpei("jobs", "wait", "1", env=env).lines == ["job 1: done (30/30)"]
    text = fenpei("jobs", "show", "1", env=env)
    assert "  status: done" in text.lines and "  progress: 30/30" in text.lines and "  attempts: 1" in text.lines, text
    zh = fenpei("--lang", "zh", "jobs", "show", "1", env=env)
    assert "  状态: 已完成" in zh.lines and "  类型: 分配" in zh.lines, zh


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("jobs", "show", "99"), "no job 99"),
        (("--lang", "zh", "jobs", "show", "99"), "没有任务 99"),
        (("jobs", "assign", "nosuch"), "nosuch"),
        (("jobs", "reclaim", "nosuch"), "nosuch"),
        (("jobs", "assign", TEAM, "--now", "2026-11-23T09:00:00"), "needs a UTC offset"),
    ],
)
def test_a_refusal_is_a_message(fenpei: Any, env: dict[str, str], args: tuple[str, ...], message: str) -> None:
    result = fenpei(*args, env=env)
    result.assert_invalid()
    assert message in result.stdout, result


def test_an_import_with_a_bad_file_is_refused_before_anything_is_queued(fenpei: Any, env: dict[str, str], tmp_path: Path) -> None:
    missing = fenpei("jobs", "import", TEAM, str(tmp_path / "missing.csv"), env=env)
    missing.assert_invalid()
    assert "missing.csv" in missing.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("id,company,colour\nA1,Acme,red\n", encoding="utf-8")
    header = fenpei("jobs", "import", TEAM, str(bad), env=env)
    header.assert_invalid()
    assert "colour" in header.stdout, header
    assert fenpei("jobs", "list", env=env).lines == ["no jobs"]


def test_a_broker_that_is_down_leaves_the_job_pending_with_a_note(fenpei: Any, env: dict[str, str]) -> None:
    down = {**env, "FENPEI_BROKER_URL": "redis://127.0.0.1:1/0"}
    result = fenpei("jobs", "assign", TEAM, env=down)
    result.assert_clean()
    assert result.returncode == 0 and result.lines == ["job 1 queued: assign crowd's pending leads"]
    assert "the broker did not take its message now" in result.stderr and "a worker sends it again when it starts" in result.stderr
    assert fenpei("jobs", "list", "--status", "pending", env=env).lines[0].split()[:3] == ["1", "assign", "pending"]


def test_worker_refuses_with_a_message_when_it_cannot_start(fenpei: Any, env: dict[str, str], tmp_path: Path) -> None:
    down = fenpei("worker", env={**env, "FENPEI_BROKER_URL": "redis://127.0.0.1:1/0"})
    down.assert_invalid()
    assert "the redis broker is not reachable" in down.stdout, down
    fresh = fenpei("worker", env={"FENPEI_INSTANCE": str(tmp_path / "fresh")})
    fresh.assert_invalid()
    assert "run `fenpei init` first" in fresh.stdout, fresh
    lease = fenpei("jobs", "list", env={**env, "FENPEI_JOB_LEASE": "soon"})
    lease.assert_invalid()
    assert "FENPEI_JOB_LEASE: 'soon' is not a number of seconds above 0" in lease.stdout, lease


def test_recover_with_nothing_to_do(fenpei: Any, env: dict[str, str]) -> None:
    assert fenpei("jobs", "recover", env=env).lines == ["no job to send again"]

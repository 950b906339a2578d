"""The app factory and ``GET /healthz``; ``fenpei serve`` started and stopped like a user does."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from jobs_support import TEAM, build, fenpei_env, wait_for
from sqlalchemy import update

from configurator import jobs
from configurator.app import create_app, workspace_of
from configurator.context import Workspace
from configurator.db import session_scope
from configurator.migrate import alembic_config, upgrade
from configurator.models import Job
from configurator.settings import Settings


def _settings(tmp_path: Path, db_url: str, broker_url: str | None = None) -> Settings:
    return Settings(instance=tmp_path, database_url=db_url, broker_url=broker_url or f"sqlite:///{tmp_path / 'broker.sqlite3'}")


def _get(app: Any, path: str) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get(path)
    return response.status_code, response.get_json()


def test_healthz_reports_the_database_its_schema_the_broker_and_the_jobs(db_url: str, tmp_path: Path) -> None:
    upgrade(db_url)
    app = create_app({"TESTING": True, "FENPEI_SETTINGS": _settings(tmp_path, db_url)})
    ws = workspace_of(app)
    try:
        with session_scope(ws.sessions, write_lock=True) as s:
            for _ in range(3):
                jobs.submit(s, "assign", {"team": "x"})
            s.execute(update(Job).where(Job.id == 1).values(status="running"))
        status, body = _get(app, "/healthz")
        head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
        assert status == 200
        assert body == {
            "status": "ok",
            "database": {"ok": True, "kind": db_url.split(":")[0].split("+")[0], "schema": head},
            "broker": {"kind": "sqlite", "embedded": True},
            "jobs": {"pending": 2, "running": 1},
        }
    finally:
        ws.engine.dispose()


def test_healthz_is_503_when_the_database_is_not_initialised(tmp_path: Path) -> None:
    app = create_app({"FENPEI_SETTINGS": _settings(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}")})
    status, body = _get(app, "/healthz")
    workspace_of(app).engine.dispose()
    assert status == 503 and body["status"] == "unavailable"
    assert body["database"] == {"ok": True, "kind": "sqlite", "schema": None} and body["jobs"] is None


def test_healthz_is_503_not_a_crash_when_the_database_is_unreachable_and_names_no_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "postgresql+psycopg://fenpei:s3cret@127.0.0.1:1/fenpei?connect_timeout=2", "redis://:hunter2@127.0.0.1:1/0")
    app = create_app({"FENPEI_SETTINGS": settings})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"]["ok"] is False and body["database"]["kind"] == "postgresql" and body["broker"] == {"kind": "redis", "embedded": False}
    assert "s3cret" not in response.get_data(as_text=True) and "hunter2" not in response.get_data(as_text=True)


def test_create_app_is_a_factory_and_importing_creates_nothing(tmp_path: Path) -> None:
    probe = "import configurator.app, configurator.tasks, sys; print('app' in vars(configurator.tasks), 'flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]
    one = create_app({"FENPEI_SETTINGS": _settings(tmp_path / "one", "sqlite:///one.sqlite3")})
    two = create_app({"FENPEI_SETTINGS": _settings(tmp_path / "two", "sqlite:///two.sqlite3")})
    assert one is not two and workspace_of(one) is not workspace_of(two)
    assert one.extensions["celery"].settings.instance == tmp_path / "one"


@pytest.mark.slow
def test_serve_starts_the_app_and_a_worker_restarts_a_worker_that_died_and_stops_both_on_sigterm(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = fenpei_env({"FENPEI_INSTANCE": str(instance)})
    url = f"sqlite:///{instance / 'fenpei.sqlite3'}"
    instance.mkdir()
    build(url, 120)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "configurator", "serve", "--port", "0"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "serving on http://" in log.read_text(), 30, "the server to listen", interval=0.1)
        text = log.read_text()
        base = re.search(r"serving on (http://\S+)", text)
        worker = re.search(r"worker and scheduler started \(process (\d+)\)", text)
        assert base is not None and worker is not None, text
        with urllib.request.urlopen(base.group(1) + "/healthz", timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "ok" and body["broker"] == {"kind": "sqlite", "embedded": True}

        # a worker that dies is started again, and the embedded worker runs jobs
        _kill_tree(int(worker.group(1)))
        wait_for(lambda: "the worker stopped (exit -9): started again" in log.read_text(), 30, "the worker to be started again", interval=0.1)
        again = re.search(r"started again \(process (\d+)\)", log.read_text())
        assert again is not None
        done = subprocess.run([sys.executable, "-m", "configurator", "jobs", "assign", TEAM, "--wait"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert re.search(r"job \d+: done \(120/120\)", done.stdout), done.stdout

        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        print(f"\nserve stopped in {time.monotonic() - started:.1f} s")
        wait_for(lambda: not _alive(int(again.group(1))), 10, "the worker to be gone")
        assert log.read_text().rstrip().endswith("stopped")
        assert "Traceback" not in log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and its descendants (its pool and scheduler processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    todo, tree = [pid], []
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    for member in tree:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_a_workspace_for_the_default_settings_points_at_the_instance(tmp_path: Path) -> None:
    settings = Settings.from_env({"FENPEI_INSTANCE": str(tmp_path)})
    assert settings.broker_url == f"sqlite:///{tmp_path / 'broker.sqlite3'}" and settings.embedded_broker
    assert Settings.from_env({"FENPEI_BROKER_URL": "redis://r:6379/0"}).embedded_broker is False
    assert Workspace(settings).settings.queue == "fenpei" and settings.job_lease == 120

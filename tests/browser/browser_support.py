"""The real product for the browser tests: a fresh instance folder set up through the services,
then ``python -m configurator serve --port 0 --no-worker`` in a child process, its URL read from
what it prints.

The installation (:func:`build`): the B2B software sample template published; team ``east``
(华东组) with the sample reps of ``examples/b2b_software/reps.csv``; users ``admin``,
``mgr_east`` (manager of east), ``rep_a`` (rep r02, 李静) and ``rep_b`` (rep r03, 张伟); leads
``LA1``, ``LA2`` owned by rep_a, ``LB1`` owned by rep_b, ``LP1`` and ``LP2`` in east's pool, and
``LH1``, which was rep_a's and was reassigned to rep_b by the manager (its handover checklist waits
for rep_a to fill it; its contact details stay hidden from rep_b until then). The times are an hour
before the moment of the setup, so no follow-up or reclaim deadline has passed while the tests
run and no worker is needed.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "b2b_software"
TEAM = "east"

PASSWORDS = {
    "admin": "admin-password-1",
    "mgr_east": "manager-password-1",
    "rep_a": "rep-a-password-1",
    "rep_b": "rep-b-password-1",
}
REP_OF = {"rep_a": "r02", "rep_b": "r03"}
# id -> (company, phone, state, owner)
LEADS: dict[str, tuple[str, str, str, str | None]] = {
    "LA1": ("甲方科技 Alpha", "13800000001", "owned", "r02"),
    "LA2": ("乙方制造 Beta", "13800000002", "owned", "r02"),
    "LB1": ("丙方医疗 Gamma", "13800000003", "owned", "r03"),
    "LP1": ("丁方零售 Delta", "13800000004", "pool", None),
    "LP2": ("戊方金融 Epsilon", "13800000005", "pool", None),
    "LH1": ("己方物流 Zeta", "13800000006", "owned", "r02"),  # then reassigned to r03
}
HANDOVER_REASON = "客户在东区新开分公司 / new branch in the east"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
COMPANY = {lead_id: company for lead_id, (company, *_rest) in LEADS.items()}


def chromium_path() -> str | None:
    """Debian's Chromium (``FENPEI_CHROMIUM`` overrides), or None when it is not installed."""
    chosen = os.environ.get("FENPEI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None


def artifacts_dir() -> Path:
    """Where screenshots go: ``FENPEI_ARTIFACTS`` or ``<repo>/test-artifacts/screenshots``."""
    chosen = os.environ.get("FENPEI_ARTIFACTS")
    path = Path(chosen) if chosen else ROOT / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _environ(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENPEI_")}
    env.update(FENPEI_INSTANCE=str(instance), PYTHONUNBUFFERED="1")
    return env


def build(instance: Path) -> None:
    """The installation described in the module docstring, in the empty folder ``instance``."""
    from sqlalchemy import update

    from configurator.context import Workspace
    from configurator.db import session_scope
    from configurator.inputs import read_reps_csv
    from configurator.migrate import upgrade
    from configurator.models import Lead
    from configurator.services import accounts
    from configurator.services import assignment as assignment_service
    from configurator.services import leads as leads_service
    from configurator.services import teams as teams_service
    from configurator.services import templates as templates_service
    from configurator.settings import Settings

    settings = Settings.from_env(_environ(instance))
    upgrade(settings.database_url)
    ws = Workspace(settings)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    source = (ROOT / "templates" / f"{SAMPLE}.yaml").read_text(encoding="utf-8")
    try:
        with session_scope(ws.sessions, write_lock=True) as s:
            templates_service.import_draft(s, source, source_name=f"{SAMPLE}.yaml", actor="setup")
            version = templates_service.publish(s, SAMPLE, actor="setup", note="sample template", now=now)
            team = teams_service.create_team(s, TEAM, "华东组 East", SAMPLE)
            template = templates_service.compiled(version)
            teams_service.upsert_reps(s, team, read_reps_csv(ROOT / "examples" / SAMPLE / "reps.csv", template))
            accounts.create_user(s, "admin", "admin", password=PASSWORDS["admin"])
            accounts.create_user(s, "mgr_east", "manager", password=PASSWORDS["mgr_east"], teams=[TEAM], name="东区经理")
            for user, rep in REP_OF.items():
                accounts.create_user(s, user, "rep", password=PASSWORDS[user], rep_id=rep)
            for lead_id, (company, phone, state, owner) in LEADS.items():
                fields = {
                    "id": lead_id,
                    "company": company,
                    "industry": "finance",
                    "region": "east",
                    "contact": "王先生",
                    "phone": phone,
                    "stage": "new",
                    "deal_size": 300000,
                    "employees": 800,
                }
                leads_service.add_lead(s, team, version, fields, now)
                s.execute(update(Lead).where(Lead.id == lead_id).values(state=state, owner_id=owner, assigned_at=now if owner else None, is_open=True))
            assignment_service.reassign(s, "LH1", "r03", HANDOVER_REASON, "mgr_east", now + dt.timedelta(minutes=5))
    finally:
        ws.engine.dispose()


@dataclass
class Server:
    """A running ``fenpei serve`` and what it printed."""

    url: str
    process: subprocess.Popen[str]
    output: list[str]
    reader: threading.Thread

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextmanager
def serve(instance: Path, timeout: float = 60.0) -> Iterator[Server]:
    """``fenpei serve`` on any free port over ``instance``; stopped (SIGTERM) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "configurator", "--lang", "en", "serve", "--port", "0", "--no-worker", "--threads", "4"],
        cwd=ROOT,
        env=_environ(instance),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
    )
    output: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keeps draining so the server never blocks on a full pipe
            output.append(line.rstrip("\n"))
            match = re.search(r"serving on (http://\S+)", line)
            if match and not found.is_set():
                url.append(match.group(1))
                found.set()
        found.set()

    reader = threading.Thread(target=read, name="fenpei-serve-output", daemon=True)
    reader.start()
    server = Server("", process, output, reader)
    try:
        if not found.wait(timeout) or not url:
            raise RuntimeError("fenpei serve did not print its URL:\n" + "\n".join(output))
        server.url = url[0]
        yield server
    finally:
        server.stop()


def login(page: Any, base_url: str, user: str) -> None:
    """Log ``user`` in through the login page; waits for their home page."""
    page.goto(f"{base_url}/login")
    page.locator('input[name="username"]').fill(user)
    page.locator('input[name="password"]').fill(PASSWORDS[user])
    page.locator('button[type="submit"]').click()
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Keep a screenshot of ``page`` as a test artifact (``<role>-<page>-<lang>.png``)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    path = artifacts_dir() / f"{safe}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

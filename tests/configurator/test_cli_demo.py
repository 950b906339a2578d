"""``fenpei demo`` (the README's first command) sets up the sample installation once, with logins
that work, and serves it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from jobs_support import wait_for
from sqlalchemy import func, select

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.models import Lead, Rep, User
from configurator.services import accounts


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FENPEI_")}
    env.update(FENPEI_INSTANCE=str(tmp_path / "instance"), FENPEI_LANG="en")
    return env


def test_demo_sets_up_the_sample_installation_once_with_working_logins(tmp_path: Path) -> None:
    first = subprocess.run([sys.executable, "-m", "configurator", "demo", "--setup-only"], env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stdout + first.stderr
    logins = dict(re.findall(r"^  (?:admin|manager|rep)\s+(\S+)\s+(\S+)$", first.stdout, re.MULTILINE))
    assert set(logins) == {"admin", "manager", "rep"}, first.stdout
    again = subprocess.run([sys.executable, "-m", "configurator", "demo", "--setup-only"], env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0 and "already set up" in again.stdout and "admin " not in again.stdout, again.stdout
    sessions = make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'instance' / 'fenpei.sqlite3'}"))
    with session_scope(sessions) as s:
        for name, password in logins.items():
            assert accounts.authenticate(s, name, password).username == name
        assert s.scalar(select(func.count()).select_from(Lead)) == 271  # once, not twice
        assert s.scalar(select(func.count()).select_from(Lead).where(Lead.state == "new")) == 0
        rep_user = s.scalar(select(User).where(User.username == "rep"))
        assert rep_user is not None and s.get(Rep, rep_user.rep_id) is not None


def test_demo_serves_and_ends_its_output_with_the_url_and_the_logins(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "configurator", "demo", "--port", "0"], env=_env(tmp_path), cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "  rep " in log.read_text(), 120, "the demo to print its logins", interval=0.2)
        text = log.read_text()
        url = re.search(r"Fenpei is running: open (http://\S+)/login", text)
        assert url is not None, text
        assert text.rstrip().splitlines()[-1].lstrip().startswith("rep "), text
        with urllib.request.urlopen(url.group(1) + "/login", timeout=10) as response:
            assert response.status == 200
        assert (tmp_path / "instance" / "worker.log").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)

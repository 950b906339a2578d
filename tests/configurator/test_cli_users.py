"""``fenpei init`` creates the first admin (password printed once or from the environment, never a
default); ``fenpei users add|list|token|tokens|revoke|passwd`` as a user runs them."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from support import fenpei

from configurator.db import make_engine, make_sessionmaker, session_scope
from configurator.models import User
from configurator.services import accounts
from rule_engine.errors import FenpeiError

NOW = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.timezone.utc)


def _run(cwd: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, FENPEI_INSTANCE=str(cwd / "instance"), FENPEI_LANG="en", **env)
    full.pop("FENPEI_DATABASE_URL", None)
    if "FENPEI_ADMIN_PASSWORD" not in env:
        full.pop("FENPEI_ADMIN_PASSWORD", None)
    out = subprocess.run([sys.executable, "-m", "configurator", *args], cwd=cwd, env=full, input=stdin, capture_output=True, text=True, timeout=60, check=False)
    assert "Traceback" not in out.stdout + out.stderr, out
    return out


def _sessions(cwd: Path):  # type: ignore[no-untyped-def]
    return make_sessionmaker(make_engine(f"sqlite:///{cwd / 'instance' / 'fenpei.sqlite3'}"))


def test_init_creates_one_admin_with_a_password_printed_once(tmp_path: Path) -> None:
    first = _run(tmp_path, "init")
    assert first.returncode == 0, first
    found = re.search(r"admin user admin created; password \(shown once\): (\S+)", first.stdout)
    assert found, first.stdout
    password = found.group(1)
    assert len(password) >= 10
    again = _run(tmp_path, "init")
    assert again.returncode == 0 and "password" not in again.stdout, again
    with session_scope(_sessions(tmp_path)) as s:
        assert accounts.authenticate(s, "admin", password).role == "admin"
        with pytest.raises(FenpeiError):
            accounts.authenticate(s, "admin", "admin")
        assert len(s.scalars(select(User)).all()) == 1


def test_init_takes_the_admin_password_from_the_environment(tmp_path: Path) -> None:
    out = _run(tmp_path, "init", "--admin", "ops", FENPEI_ADMIN_PASSWORD="from-the-env-1")
    assert out.returncode == 0, out
    assert "from-the-env-1" not in out.stdout
    assert "admin user ops created with the password in FENPEI_ADMIN_PASSWORD" in out.stdout
    with session_scope(_sessions(tmp_path)) as s:
        assert accounts.authenticate(s, "ops", "from-the-env-1").username == "ops"


def test_users_add_list_token_revoke_and_passwd(tmp_path: Path) -> None:
    assert _run(tmp_path, "init").returncode == 0
    fenpei(tmp_path, "template", "import", str(Path(__file__).resolve().parents[2] / "templates" / "b2b_software.yaml"), "--publish")
    assert fenpei(tmp_path, "team", "create", "east", "--name", "East", "--template", "b2b_software").returncode == 0

    added = _run(tmp_path, "users", "add", "li", "--role", "manager", "--team", "east", "--password-stdin", stdin="manager-secret-1\n")
    assert added.returncode == 0 and "password" not in added.stdout, added
    unknown_team = _run(tmp_path, "users", "add", "wang", "--role", "manager", "--team", "north")
    assert unknown_team.returncode == 1 and "no team 'north'" in unknown_team.stderr + unknown_team.stdout
    weak = _run(tmp_path, "users", "add", "zhao", "--role", "admin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr + weak.stdout
    rep_without_rep = _run(tmp_path, "users", "add", "sun", "--role", "rep")
    assert rep_without_rep.returncode == 1 and "--rep" in rep_without_rep.stderr + rep_without_rep.stdout
    duplicate = _run(tmp_path, "users", "add", "li", "--role", "admin")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr + duplicate.stdout

    listed = _run(tmp_path, "users", "list")
    assert re.search(r"^li\s+manager\s+east$", listed.stdout, re.MULTILINE), listed.stdout

    token = _run(tmp_path, "users", "token", "li", "--name", "crm")
    assert token.returncode == 0, token
    plain = token.stdout.strip()
    assert plain.startswith("fp_") and len(plain) > 40
    with session_scope(_sessions(tmp_path)) as s:
        assert accounts.user_for_token(s, plain, NOW).username == "li"
    tokens = _run(tmp_path, "users", "tokens", "li")
    assert plain[:10] in tokens.stdout and plain not in tokens.stdout and "active" in tokens.stdout
    assert _run(tmp_path, "users", "revoke", "li", "1").returncode == 0
    with session_scope(_sessions(tmp_path)) as s, pytest.raises(FenpeiError):
        accounts.user_for_token(s, plain, NOW)

    changed = _run(tmp_path, "users", "passwd", "li", "--password-stdin", stdin="another-secret-2\n")
    assert changed.returncode == 0, changed
    with session_scope(_sessions(tmp_path)) as s:
        assert accounts.authenticate(s, "li", "another-secret-2").username == "li"
        with pytest.raises(FenpeiError):
            accounts.authenticate(s, "li", "manager-secret-1")

"""Fixtures for the command-line tests: run the installed ``fenpei`` the way a user does.

Every run is a subprocess (the console script installed next to this Python, else the one on
PATH, else ``python -c "from configurator.cli import main; main()"``), so the tests see exactly
what a user sees: the exit status, stdout and stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A safety net against a hang, not a speed assertion: a normal run takes well under a second.
TIMEOUT = 30

# `FILE:LINE: $.path: message` (the template contract) and `FILE:LINE: column: message` (CSV input).
TEMPLATE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>[1-9][0-9]*): (?P<path>\$\S*): (?P<message>\S.*)$")
INPUT_LINE = re.compile(r"^(?P<file>.+?):(?P<line>[1-9][0-9]*): (?:(?P<column>[A-Za-z_][A-Za-z0-9_]*): )?(?P<message>\S.*)$")


def fenpei_command() -> list[str]:
    """The command that starts the CLI: this Python's console script first, then PATH."""
    for name in ("fenpei", "fenpei.exe"):
        candidate = Path(sys.executable).with_name(name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("fenpei")
    if found:
        return [found]
    return [sys.executable, "-c", "from configurator.cli import main; main()"]


@dataclass(frozen=True)
class Result:
    """What one run of the CLI printed and returned."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # pytest shows this when an assertion about the run fails
        return f"fenpei {' '.join(self.args)}\n-> exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def messages(self) -> list[str]:
        """The lines of both streams: the contract does not say which one problems go to."""
        return self.stdout.splitlines() + self.stderr.splitlines()

    def assert_clean(self) -> None:
        """Never a traceback, never the internal-error status: bad input is a message."""
        assert "Traceback" not in self.stdout, self
        assert "Traceback" not in self.stderr, self
        assert "internal error" not in self.stderr, self
        assert self.returncode != 70, self

    def assert_invalid(self) -> None:
        """Exit 1 with at least one message and no traceback."""
        self.assert_clean()
        assert self.returncode == 1, self
        assert self.messages, self

    def template_problems(self) -> list[re.Match[str]]:
        """Every stdout line parsed as `FILE:LINE: $.path: message` (fails on a line that is not)."""
        self.assert_invalid()
        matches = []
        for line in self.messages:
            m = TEMPLATE_LINE.match(line)
            assert m is not None, f"not a `FILE:LINE: $.path: message` line: {line!r}\n{self}"
            matches.append(m)
        return matches

    def input_problems(self) -> list[re.Match[str]]:
        """Every stdout line parsed as `FILE:LINE: column: message` (the column is optional)."""
        self.assert_invalid()
        matches = []
        for line in self.messages:
            m = INPUT_LINE.match(line)
            assert m is not None, f"not a `FILE:LINE: column: message` line: {line!r}\n{self}"
            matches.append(m)
        return matches


Run = Callable[..., Result]


def run_fenpei(*args: str, cwd: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run ``fenpei ARGS``; messages are in English unless ``env`` or ``--lang`` says otherwise."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("FENPEI_LANG", "LC_ALL", "LC_MESSAGES", "LANG")}
    full_env.update({"FENPEI_LANG": "en", "PYTHONIOENCODING": "utf-8"})
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [*fenpei_command(), *args],
        cwd=cwd if cwd is not None else ROOT,
        env=full_env,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(tuple(args), proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))


@pytest.fixture(scope="session")
def fenpei() -> Run:
    """Run the CLI in a subprocess: ``fenpei("template", "validate", path, cwd=..., env=...)``."""
    return run_fenpei

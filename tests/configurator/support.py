"""Helpers several configurator test files share: the CLI as a user runs it, and pending lead rows."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def fenpei(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``fenpei ARGS`` on the embedded database under ``cwd/instance``, in English, as ``lead-manager``;
    never a traceback, always exit 0 or 1."""
    env = dict(os.environ, FENPEI_INSTANCE=str(cwd / "instance"), FENPEI_LANG="en", FENPEI_ACTOR="lead-manager")
    env.pop("FENPEI_DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "configurator", *args], check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in out.stdout + out.stderr and out.returncode in (0, 1), out
    return out


def pending_lead_rows(team_id: int, version_id: int, count: int, start: dt.datetime, *, digits: int) -> list[dict[str, Any]]:
    """``count`` leads waiting for assignment (``L0000``…, a second apart from ``start``), as rows for
    one bulk ``insert(Lead)``: far faster than adding them one by one through the service."""
    return [
        {
            "id": f"L{i:0{digits}d}",
            "team_id": team_id,
            "fields": {"company": f"Company {i}", "size": i},
            "outputs": {},
            "weight": 1.0,
            "is_open": True,
            "state": "new",
            "created_at": start + dt.timedelta(seconds=i),
            "template_version_id": version_id,
            "followup_count": 0,
            "reclaim_count": 0,
            "revision": 0,
        }
        for i in range(count)
    ]

"""The README's Python example runs as written and prints what the README shows."""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S)
    assert code is not None, "the README has no Python example"
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1), "README.md", "exec"), {"__name__": "readme"})  # noqa: S102 - our own README
    lines = out.getvalue().splitlines()
    assert lines[0] == "r03 key_accounts_in_region A"
    assert "王磊(负载 9.5 + 3 > 上限 10,跳过)" in lines[1]
    assert lines[1].endswith("→ 分配给 张伟")


def test_readme_names_both_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "./run.sh" in text and "./test.sh" in text
    assert os.access(ROOT / "run.sh", os.X_OK) and os.access(ROOT / "test.sh", os.X_OK)

"""The endpoint table of ``docs/api.md``, generated from the declared operations.

``python -m configurator.api.reference`` prints it; ``--write`` puts it into docs/api.md between
its markers. A test keeps the file and the code in step.
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = ["DOC", "endpoint_table", "rewrite"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
START, END = "<!-- endpoints:start -->", "<!-- endpoints:end -->"


def endpoint_table() -> str:
    """One row per operation: method and path, who may call it, what it does, success status."""
    import configurator.api  # noqa: F401 - registers every operation
    from configurator.api.spec import ANYONE, OPERATIONS

    lines = ["| operation | who | what | success |", "|---|---|---|---|"]
    for op in OPERATIONS:
        who = "anyone" if op.roles is None else "any user" if set(op.roles) == set(ANYONE) else ", ".join(op.roles)
        lines.append(f"| `{op.method} {op.path}` | {who} | {op.summary} | {op.status} |")
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """``text`` (docs/api.md) with the table between the markers replaced by the current one."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{endpoint_table()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        DOC.write_text(rewrite(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(endpoint_table())

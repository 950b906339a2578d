"""The packages' dependencies point down only: rule_engine is pure, form_builder sits on it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = {
    "rule_engine": ("flask", "sqlalchemy", "celery", "configurator", "form_builder", "alembic", "redis", "psycopg"),
    "form_builder": ("flask", "sqlalchemy", "celery", "configurator", "alembic", "redis", "psycopg"),
}

# Import every module of the package in a fresh interpreter and list what got imported.
PROBE = """
import importlib, pkgutil, sys, json
pkg = importlib.import_module(sys.argv[1])
for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
    if not info.name.endswith(".__main__"):  # running the command line is not importing it
        importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_upper_layers(package: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, package], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    bad = sorted(m for m in loaded for f in FORBIDDEN[package] if m == f or m.startswith(f + "."))
    assert bad == [], f"{package} imports {bad}"


def test_probe_detects_a_forbidden_import() -> None:
    """The check above can fail: configurator itself imports click, which the probe sees."""
    out = subprocess.run([sys.executable, "-c", PROBE, "configurator"], capture_output=True, text=True, check=True).stdout
    assert '"click"' in out

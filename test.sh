#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs into .venv (with the test extras) on
# first use, then runs pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-test ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  touch .venv/.installed .venv/.installed-test
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

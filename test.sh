#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: installs into .venv (with the test extras) on
# first use, then runs pytest. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/pytest ] || [ pyproject.toml -nt .venv/.installed-test ]; then
  "$PY" -m venv .venv
  # Installer chatter goes to .venv/install.log; it is shown only if the install fails.
  pip_quiet() { .venv/bin/python -m pip "$@" >>.venv/install.log 2>&1 || { cat .venv/install.log >&2; exit 1; }; }
  echo "fenpei: installing into .venv (first run only)…" >&2
  pip_quiet install --quiet --upgrade pip
  pip_quiet install --quiet -e '.[test]'
  touch .venv/.installed .venv/.installed-test
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"

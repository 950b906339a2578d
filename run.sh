#!/usr/bin/env bash
# Run Fenpei with embedded defaults on a fresh machine: installs into .venv on first use, then
# starts the whole product (`fenpei demo`): the first time it publishes the sample B2B software
# template, loads its team, reps and leads and creates an admin, a manager and a rep login; then it
# serves the web UI with its worker and scheduler and prints the URL and the logins.
# Any arguments run that fenpei command instead, e.g. ./run.sh template validate templates/b2b_software.yaml
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/fenpei ] || [ pyproject.toml -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  # Installer chatter goes to .venv/install.log; it is shown only if the install fails.
  pip_quiet() { .venv/bin/python -m pip "$@" >>.venv/install.log 2>&1 || { cat .venv/install.log >&2; exit 1; }; }
  echo "fenpei: installing into .venv (first run only)…" >&2
  pip_quiet install --quiet --upgrade pip
  pip_quiet install --quiet -e .
  touch .venv/.installed
fi
if [ "$#" -gt 0 ]; then
  exec .venv/bin/fenpei "$@"
fi
exec .venv/bin/fenpei demo

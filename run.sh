#!/usr/bin/env bash
# Run Fenpei with embedded defaults on a fresh machine: installs into .venv on first use, then
# runs the sample B2B software template over its sample leads and reps (nothing is written).
# Any arguments replace the default simulation, e.g. ./run.sh template validate templates/b2b_software.yaml
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/fenpei ] || [ pyproject.toml -nt .venv/.installed ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
  touch .venv/.installed
fi
if [ "$#" -gt 0 ]; then
  exec .venv/bin/fenpei "$@"
fi
exec .venv/bin/fenpei simulate templates/b2b_software.yaml \
  --leads examples/b2b_software/leads.csv \
  --reps examples/b2b_software/reps.csv \
  --now 2026-11-23T09:00:00+08:00

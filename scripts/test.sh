#!/usr/bin/env bash
# Run the whole test suite: set up .venv if needed, lint, unit tests, every notebook (lessons and the
# exercises' source notebooks) under nbval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MPLBACKEND=Agg PYTHONHASHSEED=0
.venv/bin/ruff check stlearn tests benchmarks scripts
.venv/bin/python -m pytest tests notebooks stlearn/exercises/source --nbval-lax --nbval-cell-timeout=300 -p no:cacheprovider --durations=15 "$@"

#!/usr/bin/env bash
# Open the course: set up .venv if needed, then start JupyterLab on the course map.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# JupyterLab's terminals inherit this PATH: `stlearn check student/ex03_convlstm_gates.ipynb` works in them
export PATH="$PWD/.venv/bin:$PATH"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec .venv/bin/jupyter lab --ServerApp.root_dir=notebooks "${extra[@]}" "$@" notebooks/00_course_map.ipynb

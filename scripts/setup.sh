#!/usr/bin/env bash
# Create (or refresh) the local environment .venv with stlearn and everything the course and the
# tests need. Idempotent: a second run with unchanged pyproject.toml returns in under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "stlearn needs Python >= 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
    echo "Setting up .venv (first run: about 2 minutes) ..."
    # torch first and pinned: on these machines 2.13.0 is a local CPU build; an unpinned torch
    # would pull a multi-GB CUDA build.
    .venv/bin/python -m pip install --quiet torch==2.13.0
    .venv/bin/python -m pip install --quiet -e '.[test]'
    echo "$stamp" > .venv/.setup-stamp
fi

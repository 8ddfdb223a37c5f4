#!/usr/bin/env bash
# Train pretrained configurations side by side on one CUDA GPU — the same runs as
# scripts/train_pretrained.sh, on another device (the checkpoints record which):
#   bash scripts/train_gpu.sh CONFIG ...          e.g. configs/radar/*.toml
# First the training pools are made once, in parallel (`stlearn make-pools`, byte-identical to the pools
# a run makes for itself); then one `stlearn train --device cuda` per configuration, all at once (each
# run is bound by kernel launches, not by the GPU's arithmetic, so they share one GPU well). Outputs go
# to runs/<data set>/<model>.pt, .jsonl and .out; an existing run is resumed. Then
# `.venv/bin/python -m stlearn export-pretrained` evaluates them on the CPU and ships them in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export STLEARN_CACHE=${STLEARN_CACHE:-runs/cache}
[ $# -gt 0 ] || { echo "usage: bash scripts/train_gpu.sh CONFIG ..." >&2; exit 2; }
"$PY" -m stlearn make-pools "$@"
pids=()
for cfg in "$@"; do
    ds=$(basename "$(dirname "$cfg")")
    model=$(basename "$cfg" .toml)
    out="runs/$ds/$model.pt"
    mkdir -p "runs/$ds"
    resume=()
    [ -f "$out" ] && resume=(--resume)
    "$PY" -m stlearn train "$cfg" --out "$out" --device cuda --no-progress "${resume[@]}" >"runs/$ds/$model.out" 2>&1 &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for cfg in "$@"; do tail -n 1 "runs/$(basename "$(dirname "$cfg")")/$(basename "$cfg" .toml).out"; done
exit $status

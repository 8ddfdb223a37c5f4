#!/usr/bin/env bash
# Train the pretrained models shipped in data/checkpoints with the committed configurations
# (configs/<data set>/<model>.toml), resuming runs that were interrupted:
#   bash scripts/train_pretrained.sh DATASET [MODEL ...]     (default: every model of DATASET)
# Each run uses one CPU thread (two runs side by side fill 2 cores without OpenMP oversubscription).
# Then `.venv/bin/python -m stlearn export-pretrained` evaluates them and ships weights-only copies in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
export STLEARN_CACHE=${STLEARN_CACHE:-runs/cache}  # training pools, generated once
ds=$1
shift
models=("$@")
if [ ${#models[@]} -eq 0 ]; then
    for cfg in configs/"$ds"/*.toml; do models+=("$(basename "$cfg" .toml)"); done
fi
for model in "${models[@]}"; do
    out="runs/$ds/$model.pt"
    resume=()
    [ -f "$out" ] && resume=(--resume)
    echo "== $ds / $model"
    .venv/bin/python -m stlearn train "configs/$ds/$model.toml" --out "$out" --no-progress "${resume[@]}"
done

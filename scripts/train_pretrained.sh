#!/usr/bin/env bash
# Train the pretrained models shipped in data/checkpoints, one after another, with the committed
# configurations (configs/<data set>/<model>.toml), then export weights-only copies into data/.
#   bash scripts/train_pretrained.sh [moving_digits|radar ...]     (default: both data sets)
# Resumes runs that were interrupted. CPU: about 25 min (moving digits) + 45 min (radar) on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(moving_digits radar)
for ds in "${sets[@]}"; do
    for cfg in configs/"$ds"/*.toml; do
        model=$(basename "$cfg" .toml)
        out="runs/$ds/$model.pt"
        resume=()
        [ -f "$out" ] && resume=(--resume)
        echo "== $ds / $model"
        .venv/bin/python -m stlearn train "$cfg" --out "$out" --no-progress "${resume[@]}"
    done
done

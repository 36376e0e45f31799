#!/usr/bin/env bash
# Train every reference model from its recipe: one process per recipe, spread over the visible GPUs.
#   bash ref/train_all.sh            # writes ref/NAME/ and results/train-NAME.log for each recipe
# Extra arguments go to every `tbench train` call. TBENCH overrides the command (default: tbench).
set -uo pipefail
cd "$(dirname "$0")/.."
tbench=${TBENCH:-tbench}
gpus=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
mkdir -p results
pids=()
i=0
for recipe in ref/recipes/*.yaml; do
  name=$(basename "$recipe" .yaml)
  # shellcheck disable=SC2086
  CUDA_VISIBLE_DEVICES=$((i % gpus)) $tbench train --recipe "$recipe" --out "ref/$name" --overwrite "$@" \
    > "results/train-$name.log" 2>&1 &
  pids+=($!)
  i=$((i + 1))
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
echo "trained $((i - failed)) of $i reference models"
exit $((failed > 0))

#!/bin/bash
# Issue 15 at IPC 1: choose the autoencoder-latent variant on a validation split carved from the training data,
# then run the cpu-small table (DM, pixel and latent) with it.  Resumable: run it again after a kill.
#   bash bench/ae_ipc1.sh DATASET PRIOR_FILE
# The validation rows go to bench/results/validate_<dataset>_ipc1.json; the table to bench/results/cpu_small_<dataset>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
ds=$1
prior=$2
val=bench/results/validate_${ds}_ipc1.json
python bench/validate_variants.py --dataset "$ds" --data-dir ../shared/datasets --ipc 1 --iterations 200 --out "$val" \
  --variant pixel:space=pixel \
  --variant ae-l0-lr0.3:space=latent,prior="$prior",layer=0,lr_feat=0.3 \
  --variant ae-l0-lr1:space=latent,prior="$prior",layer=0,lr_feat=1 \
  --variant ae-l0-lr3:space=latent,prior="$prior",layer=0,lr_feat=3 \
  --variant ae-l1-lr1:space=latent,prior="$prior",layer=1,lr_feat=1
# the best latent variant on validation (never the test set) becomes the table's latent run
sets=$(python - "$val" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"] if r["settings"].get("space") == "latent"]
best = max(rows, key=lambda r: r["val_accuracy"])
print(" ".join(f"--set {k}={v}" for k, v in best["settings"].items() if k not in ("space", "prior")))
PY
)
echo "latent variant chosen on validation: $sets"
# reuse the pixel set's finished networks of an earlier session (same set, same keys: read back, not retrained)
if [ -d "bench/results/eval_runs/${ds}-dm-pixel-ipc1" ]; then
  mkdir -p "bench/out/${ds}/dm-pixel-ipc1/eval_runs"
  cp -n bench/results/eval_runs/"${ds}"-dm-pixel-ipc1/*.json "bench/out/${ds}/dm-pixel-ipc1/eval_runs/"
fi
# shellcheck disable=SC2086
python bench/cpu_small.py --datasets "$ds" --spaces pixel latent --ipcs 1 --prior "$prior" --tag ae $sets --device cpu

#!/bin/bash
# Issue 15 at IPC 1: choose the latent variant (prior kind, layer, learning rate, start, bound) on a validation
# split carved from the training data, then run the cpu-small table (DM, pixel and the chosen latent variant).
# Resumable: run it again after a kill (finished variants and networks are kept).
#   bash bench/latent_ipc1.sh DATASET AE_PRIOR GAN_PRIOR
# Validation rows: bench/results/validate_<dataset>_ipc1.json; table: bench/results/cpu_small_<dataset>.json
# (run dm-latent-<chosen variant>-ipc1).
set -euo pipefail
cd "$(dirname "$0")/.."
ds=$1
slug=${ds##*/}  # folder:../x/imagenette64 -> imagenette64 (file names)
ae=$2
gan=$3
val=bench/results/validate_${slug}_ipc1.json
python bench/validate_variants.py --dataset "$ds" --data-dir ../shared/datasets --ipc 1 --iterations 200 --out "$val" \
  --variant pixel:space=pixel \
  --variant ae-l0-lr0.3:space=latent,prior="$ae",layer=0,lr_feat=0.3 \
  --variant ae-l0-lr1:space=latent,prior="$ae",layer=0,lr_feat=1 \
  --variant ae-l0-lr3:space=latent,prior="$ae",layer=0,lr_feat=3 \
  --variant ae-l1-lr1:space=latent,prior="$ae",layer=1,lr_feat=1 \
  --variant ae-l0-lr1-r0.5:space=latent,prior="$ae",layer=0,lr_feat=1,feat_radius=0.5 \
  --variant gan-l0-sample:space=latent,prior="$gan",layer=0,lr_feat=1,init=sample \
  --variant gan-l0-invert:space=latent,prior="$gan",layer=0,lr_feat=1,init=real \
  --variant gan-l0-invert-r0.5:space=latent,prior="$gan",layer=0,lr_feat=1,init=real,feat_radius=0.5
# the best latent variant on validation (never the test set) becomes the table's latent run
read -r tag prior sets < <(python - "$val" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["rows"] if r["settings"].get("space") == "latent"]
best = max(rows, key=lambda r: r["val_accuracy"])
print(best["name"], best["settings"]["prior"], " ".join(f"--set {k}={v}" for k, v in best["settings"].items()
                                                        if k not in ("space", "prior")))
print(f"chosen on validation: {best['name']} ({best['val_accuracy']} %)", file=sys.stderr)
PY
)
# bench/cpu_small.py reads back the networks earlier sessions finished (bench/results/networks/)
# shellcheck disable=SC2086
python bench/cpu_small.py --datasets "$ds" --spaces pixel latent --ipcs 1 --prior "$prior" --tag "$tag" $sets --device cpu

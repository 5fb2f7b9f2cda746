#!/usr/bin/env bash
# Layer sweep of a prior for DM at IPC 10 (MNIST), beside what `--layer auto` picks and what it costs.
#   [LR_FEAT=1] bench/layer_sweep.sh PRIOR OUT_DIR [ITERATIONS] [MODELS] [EPOCHS]
# Every layer: distill (cpu-small preset, ITERATIONS iterations), then evaluate on the test set with
# MODELS x 1 run x EPOCHS. Then one `--layer auto` run (validation split carved from the training
# data) records its choice and seconds in distill.json. Resumable: finished steps are skipped.
set -euo pipefail
PRIOR=$1; OUT=$2; ITER=${3:-500}; MODELS=${4:-convnet,alexnet,vgg11,resnet18,vit}; EPOCHS=${5:-100}
DATA=../shared/datasets
LAYERS=$(python -c "
from latentdd.priors import load_prior; print(' '.join(map(str, range(load_prior('$PRIOR')[0].num_layers))))")
common="--dataset mnist --data-dir $DATA --method dm --space latent --prior $PRIOR --ipc 10 --preset cpu-small
        --iterations $ITER --lr-feat ${LR_FEAT:-1} --compile on --seed 0 --device cpu --no-eval --quiet"
for k in $LAYERS; do
  run=$OUT/layer$k
  [ -f $run/synset.safetensors ] || { [ -f $run/config.yaml ] && latentdd distill --resume $run --no-eval --quiet; } \
    || latentdd distill $common --layer $k --out $run
  [ -f $run/metrics.json ] || latentdd evaluate $run --protocol cpu-small --models $MODELS --runs 1 --epochs $EPOCHS \
    --no-baseline --seed 0 --quiet
done
auto=$OUT/auto
[ -f $auto/distill.json ] || latentdd distill $common --layer auto --iterations 0 --out $auto
python - "$OUT" $LAYERS <<'PY'
import json, sys
from pathlib import Path
out, layers = Path(sys.argv[1]), sys.argv[2:]
rows = []
for k in layers:
    m = json.loads((out / f"layer{k}" / "metrics.json").read_text())
    acc = {a: round(v["mean"], 2) for a, v in m["accuracy"].items()}
    rows.append({"layer": int(k), "accuracy": acc, "cross_arch_mean": round(m["cross_arch_mean"], 2)})
auto = json.loads((out / "auto" / "distill.json").read_text())["layer_auto"]
summary = {"sweep": rows, "layer_auto": auto}
(out / "sweep.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PY

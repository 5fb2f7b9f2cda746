#!/usr/bin/env bash
# MNIST, IPC 10, DM, cpu-small distillation budgets: pixel vs latent (built-in cgen prior), then a
# reduced cross-architecture evaluation (5 architectures x 1 run x 100 epochs; see BENCHMARKS.md).
# Resumable: every step skips what is already on disk.  Run from the repository root.
set -euo pipefail
D=bench/out/mnist
DATA=../shared/datasets
PRIOR=$D/prior-cgen.safetensors
MODELS=convnet,alexnet,vgg11,resnet18,vit
[ -f $PRIOR ] || latentdd prior train --dataset mnist --data-dir $DATA --out $PRIOR --seed 0 --device cpu --quiet
# 1. lr_feat x layer on a validation split carved from the training set (never the test set)
python bench/latent_select.py --dataset mnist --data-dir $DATA --prior $PRIOR --lr-feats 10,1 --iterations 30
read -r LR LAYER < <(python -c "
import json; rows = json.load(open('bench/results/latent_select_mnist.json'))['rows']
best = max(rows, key=lambda r: (r['val_accuracy'], -r['layer'])); print(best['lr_feat'], best['layer'])")
echo "chosen on validation: lr_feat $LR layer $LAYER"
# 2. distill (pixel run exists from session 1 with the same command and seed)
[ -f $D/dm-pixel-ipc10/synset.safetensors ] || latentdd distill --dataset mnist --data-dir $DATA --method dm \
    --space pixel --ipc 10 --preset cpu-small --seed 0 --device cpu --no-eval --quiet --out $D/dm-pixel-ipc10
if [ ! -f $D/dm-latent-ipc10/synset.safetensors ]; then
  if [ -f $D/dm-latent-ipc10/config.yaml ]; then latentdd distill --resume $D/dm-latent-ipc10 --no-eval --quiet
  else latentdd distill --dataset mnist --data-dir $DATA --method dm --space latent --prior $PRIOR --layer $LAYER \
      --lr-feat $LR --ipc 10 --preset cpu-small --seed 0 --device cpu --no-eval --quiet \
      --prior-license "trained by latentdd on MNIST (CC BY-SA 3.0)" --out $D/dm-latent-ipc10; fi
fi
# 3. evaluation: same protocol, seeds and architectures for both sets; the random-real baseline once
for run in ${EVAL_RUNS:-dm-pixel-ipc10 dm-latent-ipc10}; do
  baseline=--no-baseline; [ $run = dm-pixel-ipc10 ] && baseline=--baseline
  python -c "import json,sys; m=json.load(open('$D/$run/metrics.json')); sys.exit(0 if m.get('epochs')==100 and len(m['accuracy'])==5 else 1)" 2>/dev/null \
    || latentdd evaluate $D/$run --protocol cpu-small --models $MODELS --runs 1 --epochs 100 $baseline --seed 0 --quiet
done
echo done

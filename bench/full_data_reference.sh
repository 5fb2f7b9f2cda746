#!/bin/bash
# The report's upper reference, bounded to fit a CPU: ConvNet-3 (the distillation network) trained on
# the full training set, seed 0, for EPOCHS epochs under the cpu-small recipe (lr 0.01 divided by 10
# at half, SGD momentum 0.9, wd 5e-4, batch 256, DSA), cached in ~/.cache/latentdd/fulldata where every
# later `latentdd report` of a run of that dataset and protocol finds it.
#   bash bench/full_data_reference.sh DATASET [EPOCHS]     (default 5 epochs; one thread)
# The report written here is a by-product (bench/out/<dataset>/full-data-reference.html).
set -e
cd "$(dirname "$0")/.."
ds=${1:?dataset (mnist or cifar10)}
epochs=${2:-5}
run=bench/out/$ds/dm-pixel-ipc10   # any run of the dataset under cpu-small names the data and the protocol
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} latentdd report "$run" --out "bench/out/$ds/full-data-reference.html" \
  --full-data --full-data-models convnet --full-data-runs 1 --full-data-epochs "$epochs" --device cpu

#!/bin/bash
# The cpu-small DM tables (MNIST and CIFAR-10, pixel and latent space): IPC 10 first (issue 2), then IPC 1.
# Resumable: run it again after a kill and it continues at the first network not yet finished.
# Two workers, one thread each (on 2 cores this trains more networks per hour than one two-thread
# process: bench/eval_step_speed.py --threads 1 vs 2, BENCHMARKS.md). They share the whole sweep:
# each distillation and each network is claimed by one worker (bench/cpu_small.py), so neither
# idles while the other still has a dataset to finish. Worker 1 starts with MNIST, worker 2 with CIFAR-10.
# Uses the runs already in bench/out/<dataset>/ and the priors shipped in the package
# (src/latentdd/priors/builtin/README.md: MNIST's 1000-step cgen, CIFAR-10's 16000-step one).
cd "$(dirname "$0")/.."
mkdir -p bench/logs
worker=0
for order in "mnist cifar10" "cifar10 mnist"; do
  worker=$((worker + 1))
  OMP_NUM_THREADS=1 python bench/cpu_small.py --datasets $order --spaces pixel latent --ipcs 10 1 --layer auto \
    --prior 'builtin:{dataset}-cgen' --device cpu \
    >> bench/logs/cpu-small-dm-worker$worker.log 2>&1 &
done
wait

#!/bin/bash
# After (or during) the cpu-small sweep: everything BENCHMARKS.md quotes from it, regenerated from the runs.
#   bash bench/finalize_cpu_small.sh [DATASET ...]     (default: mnist cifar10)
# - bench/results/cpu_small_progress.{json,md}: every finished network (bench/eval_progress.py)
# - bench/results/networks/<dataset>-<run>.json: each finished network's JSON, packed (the sweep resumes from it)
# - bench/results/compare-<dataset>.md: `latentdd compare` over the runs that have metrics.json
# - bench/results/report-<dataset>-dm-cpu-small/report.{html,md} + screenshot.png (headless Chromium), with the
#   full-data reference measured by bench/full_data_reference.sh when it is in the cache
# Light work (reads results; the report trains nothing without --full-data), so it can run beside the sweep.
set -e
cd "$(dirname "$0")/.."
datasets=${*:-mnist cifar10}
run_dirs() {  # the sweep's run folders of dataset $1: dm-<space>-ipc<N> exactly (not the kept-aside *-prior4k)
  ls -d bench/out/$1/dm-*-ipc* 2> /dev/null | grep -E '/dm-(pixel|latent)-ipc[0-9]+$' || true
}
runs=()
for ds in $datasets; do
  for run in $(run_dirs "$ds"); do
    [ -d "$run/eval_runs" ] || continue
    runs+=("$run")
    python bench/network_results.py pack "$run" "$ds-$(basename "$run")"
  done
done
python bench/eval_progress.py "${runs[@]}" --json bench/results/cpu_small_progress.json --markdown \
  > bench/results/cpu_small_progress.md
for ds in $datasets; do
  finished=()
  for run in $(run_dirs "$ds"); do
    [ -f "$run/metrics.json" ] && finished+=("$run")
  done
  [ ${#finished[@]} -gt 0 ] || { echo "[$ds] no run has metrics.json yet"; continue; }
  latentdd compare "${finished[@]}" --markdown > bench/results/compare-$ds.md
  out=bench/results/report-$ds-dm-cpu-small
  mkdir -p "$out"
  # the full-data reference of bench/full_data_reference.sh (ConvNet, seed 0, FULL_DATA_EPOCHS epochs), read
  # from the cache: on a CPU, report without --full-data trains nothing
  latentdd report "${finished[@]}" --out "$out/report.html" --full-data-epochs "${FULL_DATA_EPOCHS:-5}" \
    --full-data-models convnet --full-data-runs 1
  if command -v chromium > /dev/null; then
    profile=$(mktemp -d)
    chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$profile" \
      --window-size=1280,3000 --virtual-time-budget=10000 --screenshot="$out/screenshot.png" \
      "file://$PWD/$out/report.html" 2> /dev/null || echo "[$ds] chromium could not render the report"
    rm -rf "$profile"
  fi
  echo "[$ds] ${#finished[@]} run(s) -> $out/report.html, bench/results/compare-$ds.md"
done

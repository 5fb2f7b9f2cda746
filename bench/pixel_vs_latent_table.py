"""Markdown table of pixel- vs latent-space runs (per architecture, cross-architecture mean) beside
the random-real baseline, from the runs' ``metrics.json``.

    python bench/pixel_vs_latent_table.py bench/out/mnist/dm-pixel-ipc10 bench/out/mnist/dm-latent-ipc10
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(runs: list[str]) -> None:
    metrics = {r: json.loads((Path(r) / "metrics.json").read_text()) for r in runs}
    baseline = next(
        (m["baseline_random_real"] for m in metrics.values() if m.get("baseline_random_real")), {}
    )
    archs = list(next(iter(metrics.values()))["accuracy"])
    distill_model = next(iter(metrics.values())).get("distill_model", "convnet")
    cols = ["random real"] * bool(baseline) + [
        f"{m['method']} {m['space']}" + (f" (layer {m['layer']})" if m.get("layer") is not None else "")
        for m in metrics.values()
    ]
    print("| architecture | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for a in archs:
        cells = [f"{baseline[a]['mean']:.2f}"] if baseline else []
        cells += [f"{m['accuracy'][a]['mean']:.2f}" for m in metrics.values()]
        print(f"| {a}{' (distillation net)' if a == distill_model else ''} | " + " | ".join(cells) + " |")
    cross = [a for a in archs if a != distill_model]
    cells = [f"{statistics.fmean(baseline[a]['mean'] for a in cross):.2f}"] if baseline else []
    cells += [f"**{m['cross_arch_mean']:.2f}**" for m in metrics.values()]
    print(f"| cross-architecture mean ({', '.join(cross)}) | " + " | ".join(cells) + " |")
    first = next(iter(metrics.values()))
    print(
        f"\nprotocol {first['protocol']}, {first['epochs']} epochs, {first['runs']} run(s), seeds {first['seeds']}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

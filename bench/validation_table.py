"""Markdown table of a ``bench/validate_variants.py`` result (what BENCHMARKS.md quotes).

python bench/validation_table.py bench/results/validate_cifar10_ipc1.json
"""

from __future__ import annotations

import json
import sys


def table(path: str) -> str:
    data = json.load(open(path))
    rows = data["rows"]
    scorers = list(rows[0]["per_model"]) if rows else []
    lines = [
        f"{data['dataset']}, IPC {data['ipc']} -- {data['protocol']}",
        "",
        "| variant | settings | " + " | ".join(scorers) + " | mean | saturated px | s |",
        "|---|---|" + "---|" * (len(scorers) + 3),
    ]
    best = max(
        (r for r in rows if r["settings"].get("space") == "latent"),
        key=lambda r: r["val_accuracy"],
        default=None,
    )
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items() if k != "prior")
        name = f"**{r['name']}**" if r is best else r["name"]
        lines.append(
            f"| {name} | {settings} | "
            + " | ".join(f"{r['per_model'][m]:.1f}" for m in scorers)
            + f" | {r['val_accuracy']:.2f} | {100 * r['saturated']:.1f} % | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(table(p))

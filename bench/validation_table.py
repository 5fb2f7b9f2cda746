"""Markdown table of a ``bench/validate_variants.py`` result (what BENCHMARKS.md quotes).

python bench/validation_table.py bench/results/validate_cifar10_ipc1.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


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
        settings = ", ".join(f"{k}={_short(k, v)}" for k, v in r["settings"].items())
        name = f"**{r['name']}**" if r is best else r["name"]
        lines.append(
            f"| {name} | {settings} | "
            + " | ".join(_cell(r, m) for m in scorers)
            + f" | {r['val_accuracy']:.2f} | {100 * r['saturated']:.1f} % | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _cell(row: dict, model: str) -> str:
    """The scorer's mean, with every seed's accuracy in brackets when there were several."""
    runs = row.get("runs", {}).get(model, [])
    seeds = f" ({' / '.join(f'{a:.1f}' for a in runs)})" if len(runs) > 1 else ""
    return f"{row['per_model'][model]:.1f}{seeds}"


def _short(key: str, value: object) -> str:
    """A prior file by its name (``builtin:`` specs as they are): the table stays one line a row."""
    if key == "prior" and isinstance(value, str) and not value.startswith("builtin:"):
        return Path(value).name.removesuffix(".safetensors")
    return str(value)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", help="JSON files written by bench/validate_variants.py")
    for p in parser.parse_args().results:
        print(table(p))

"""Issue 16's grid: every objective x space at one dataset and IPC in one table, random real and the
published figures beside, and what the latent space gains over pixels (cross-architecture).

Reads the ``cpu_small_<dataset>*.json`` tables that ``bench/cpu_small.py`` writes (a later file wins
for a run name that appears twice, so a re-run on today's code replaces an older row):

    python bench/grid_table.py bench/results/cpu_small_mnist.json bench/results/cpu_small_mnist_grid16.json \\
        --ipc 1 --out bench/results/grid16_mnist_ipc1.md --plot bench/results/grid16_mnist_ipc1.png

``--plot`` draws the same rows as bars (cross-architecture mean, whiskers = spread over the evaluation
seeds of the per-seed cross-architecture mean), random real as a dashed line.  Every latent row read gets
its own bar, named by its variant: choosing among them is the validation's job, not the picture's.

Published figures are the papers' ConvNet accuracies (their budgets: 1000 outer iterations for DC/DSA,
20,000 for DM, 5000 for MTT, best checkpoint of many evaluations); ``cpu-small`` runs a fraction of
that and reports the last epoch, so the column says where the paper stands, not what to expect here.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

METHODS = ("dc", "dsa", "dm", "mtt")
#: (dataset, ipc) -> method -> ConvNet accuracy in the method's paper (DC: ICLR 2021 table 2; DSA: ICML
#: 2021 table 1; DM: WACV 2023 table 1; MTT: CVPR 2022 table 1); MTT reports no MNIST figure.
PUBLISHED: dict[tuple[str, int], dict[str, float]] = {
    ("mnist", 1): {"dc": 91.7, "dsa": 88.7, "dm": 89.7},
    ("mnist", 10): {"dc": 97.4, "dsa": 97.8, "dm": 97.5},
    ("cifar10", 1): {"dc": 28.3, "dsa": 28.8, "dm": 26.0, "mtt": 46.3},
    ("cifar10", 10): {"dc": 44.9, "dsa": 52.1, "dm": 48.9, "mtt": 65.3},
}


def load_runs(paths: list[Path], ipc: int) -> tuple[dict[str, dict], dict | None]:
    """Every run at ``ipc`` in ``paths`` by name (a later file replaces an earlier row of the same
    name), and the last random-real baseline at ``ipc`` in any row read (with its file's name)."""
    runs: dict[str, dict] = {}
    baseline = None
    for path in paths:
        for name, row in json.loads(path.read_text()).items():
            if row.get("ipc") != ipc:
                continue
            runs[name] = {**row, "source": path.name}
            if row.get("baseline_random_real"):
                baseline = {"accuracy": row["baseline_random_real"], "source": path.name}
    return runs, baseline


def ordered(runs: dict[str, dict]) -> list[str]:
    """Method by method, pixel first, then the latent variants in the order they were read."""
    return [
        name
        for method in METHODS
        for space in ("pixel", "latent")
        for name, row in runs.items()
        if row.get("method") == method and row.get("space") == space
    ]


def cell(block: dict | None) -> str:
    return f"{block['mean']:.1f} ± {block['std']:.1f}" if block else "-"


def grid_markdown(dataset: str, ipc: int, runs: dict[str, dict], baseline: dict | None) -> str:
    if not runs:
        raise SystemExit(f"no run at IPC {ipc} in the tables given; pass the cpu_small_{dataset}*.json files")
    names = ordered(runs)
    archs = list(runs[names[0]]["accuracy"])
    distill_model = runs[names[0]].get("distill_model", "convnet")
    cross = [a for a in archs if a != distill_model]
    published = PUBLISHED.get((dataset, ipc), {})
    head = ["run", *archs, "cross-arch", "latent - pixel", f"published {distill_model}", "distill s", "table"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if baseline:
        base = baseline["accuracy"]
        mean = sum(base[a]["mean"] for a in cross) / len(cross)
        cells = [cell(base.get(a)) for a in archs]
        lines.append(f"| random real | {' | '.join(cells)} | {mean:.1f} | | | | {baseline['source']} |")
    pixel_cross = {
        r["method"]: r["cross_arch_mean"]
        for r in runs.values()
        if r["space"] == "pixel" and "cross_arch_mean" in r
    }
    for name in names:
        row = runs[name]
        delta = ""
        if row["space"] == "latent" and row["method"] in pixel_cross:
            delta = f"{row['cross_arch_mean'] - pixel_cross[row['method']]:+.1f}"
        pub = published.get(row["method"]) if row["space"] == "pixel" else None  # the papers distil pixels
        lines.append(
            f"| {name} | {' | '.join(cell(row['accuracy'].get(a)) for a in archs)} | "
            f"{row['cross_arch_mean']:.1f} | {delta} | {'' if pub is None else pub} | "
            f"{row.get('distill_seconds', 0):.0f} | {row['source']} |"
        )
    first = runs[names[0]]
    caption = (
        f"### {dataset}, IPC {ipc} (protocol {first['protocol']}: {first['epochs']} epochs, seeds "
        f"{first['seeds']}, last epoch; cross-arch = mean of {', '.join(cross)})"
    )
    return caption + "\n\n" + "\n".join(lines) + "\n"


def seed_spread(row: dict, cross: list[str]) -> float:
    """Standard deviation over evaluation seeds of the cross-architecture mean (0 without per-seed runs)."""
    per_arch = [row["accuracy"][a].get("runs") for a in cross if a in row["accuracy"]]
    if not per_arch or any(not r for r in per_arch) or len({len(r) for r in per_arch}) != 1:
        return 0.0
    per_seed = [sum(values) / len(values) for values in zip(*per_arch, strict=True)]
    return statistics.pstdev(per_seed)


def variant_label(name: str, row: dict) -> str:
    """``dc-latent-ae-l1-lr1-ipc1`` -> ``latent ae-l1-lr1``: what tells the bars of one method apart."""
    middle = name.removeprefix(f"{row['method']}-").removesuffix(f"-ipc{row['ipc']}")
    return middle.replace("-", " ", 1) if middle != row["space"] else middle


def grid_picture(dataset: str, ipc: int, runs: dict[str, dict], baseline: dict | None, path: Path) -> None:
    """The grid as grouped bars: one group per objective, pixel (blue) then each latent row (orange)."""
    from matplotlib.figure import Figure  # only the picture needs matplotlib

    names = ordered(runs)
    first = runs[names[0]]
    cross = [a for a in first["accuracy"] if a != first.get("distill_model", "convnet")]
    fig = Figure(figsize=(1.6 + 1.1 * len(names), 4.2))
    ax = fig.add_subplot()
    x, ticks, labels, group_at = 0.0, [], [], {}
    for name in names:
        row = runs[name]
        if group_at and row["method"] not in group_at:
            x += 0.5  # a gap between objectives
        color = "#1f77b4" if row["space"] == "pixel" else "#ff7f0e"
        spread = seed_spread(row, cross)
        ax.bar(x, row["cross_arch_mean"], 0.8, yerr=spread, color=color, capsize=3)
        ax.text(
            x,
            row["cross_arch_mean"] + spread,
            f"{row['cross_arch_mean']:.1f}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        ticks.append(x)
        labels.append(variant_label(name, row))
        group_at.setdefault(row["method"], []).append(x)
        x += 1.0
    if baseline:
        base = sum(baseline["accuracy"][a]["mean"] for a in cross) / len(cross)
        ax.axhline(base, color="#7f7f7f", linestyle="--", linewidth=1)
        ax.text(
            1.0,
            base,
            f" random real\n {base:.1f}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    ax.set_xticks(ticks, labels, rotation=30, ha="right", fontsize=8)
    # objective names just below the (rotated) variant labels, however long those are
    fig.draw_without_rendering()
    below = ax.get_window_extent().y0 - min(t.get_window_extent().y0 for t in ax.get_xticklabels())
    for method, xs in group_at.items():
        ax.annotate(
            method.upper(),
            xy=((xs[0] + xs[-1]) / 2, 0),
            xycoords=("data", "axes fraction"),
            xytext=(0, -(below * 72 / fig.dpi + 4)),
            textcoords="offset points",
            ha="center",
            va="top",
        )
    ax.set_ylabel("cross-architecture test accuracy (%)")
    ax.set_title(
        f"{dataset}, IPC {ipc}: pixel vs latent per objective\n"
        f"mean of {', '.join(cross)}; {first['protocol']}, seeds {first['seeds']}; whiskers: seed spread",
        fontsize=10,
    )
    ax.spines[["top", "right"]].set_visible(False)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tables", nargs="+", type=Path, help="cpu_small_<dataset>*.json files of one dataset")
    ap.add_argument("--ipc", type=int, required=True)
    ap.add_argument("--out", type=Path, help="also write the table here")
    ap.add_argument("--plot", type=Path, help="also draw the rows as bars into this PNG")
    return ap


def main() -> None:
    args = build_parser().parse_args()
    datasets = {json.loads(p.read_text()).popitem()[1].get("dataset") for p in args.tables}
    if len(datasets) != 1:
        raise SystemExit(f"the tables mix datasets {sorted(map(str, datasets))}; give one dataset's tables")
    dataset = datasets.pop()
    runs, baseline = load_runs(args.tables, args.ipc)
    text = grid_markdown(dataset, args.ipc, runs, baseline)
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.plot:
        grid_picture(dataset, args.ipc, runs, baseline, args.plot)


if __name__ == "__main__":
    main()

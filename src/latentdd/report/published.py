"""Whole-dataset accuracies the papers published, for orientation when a report has no full-data
measurement of its own (training on all of CIFAR-10 is opt-in on a CPU).

They come from a different protocol (the DC protocol: ConvNet-3, trained without DSA on the full
training set), so they are never put into the report's columns or "of full data" ratios -- only
into a labelled note beside them.
"""

from __future__ import annotations

# dataset -> architecture -> (mean %, std %); ConvNet-3 is the only architecture all papers report.
WHOLE_DATASET: dict[str, dict[str, tuple[float, float]]] = {
    "mnist": {"convnet": (99.6, 0.0)},
    "fashion-mnist": {"convnet": (93.5, 0.1)},
    "svhn": {"convnet": (95.4, 0.1)},
    "cifar10": {"convnet": (84.8, 0.1)},
    "cifar100": {"convnet": (56.2, 0.3)},
}

SOURCES = {
    "cifar100": "Zhao & Bilen, Dataset Condensation with Differentiable Siamese Augmentation, ICML 2021",
}
DEFAULT_SOURCE = "Zhao, Mopuri & Bilen, Dataset Condensation with Gradient Matching, ICLR 2021, Table 1"


def published_whole_dataset_note(dataset: str) -> str | None:
    """One sentence naming the published whole-dataset accuracy of ``dataset``, or None if none is known."""
    figures = WHOLE_DATASET.get(dataset)
    if not figures:
        return None
    parts = ", ".join(f"{arch} {m:.1f} ± {s:.1f} %" for arch, (m, s) in figures.items())
    source = SOURCES.get(dataset, DEFAULT_SOURCE)
    return (
        f"For orientation only: the published whole-dataset accuracy of {dataset} is {parts} "
        f"({source}; a different protocol, not comparable figure for figure)."
    )

"""Provenance: which data, which prior, which code and which settings made each figure.

The dataset is named by its content hash (two runs with one hash saw the same pixels),
the prior by its record (weights hash, where it came from, its declared license), the
code by ``latentdd.__version__`` plus the git commit when the package runs from a
checkout, and the run by its full ``config.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runs.version import code_version
from .document import Code, Section, Table
from .references import RunRefs


def _prior_lines(record: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not record:
        return [("prior", "none (pixel space)")]
    if record.get("source") == "random":
        return [
            ("prior", f"random weights, architecture {record.get('arch')}, seed {record.get('seed')}"),
            ("prior license", "none needed (no training data involved)"),
        ]
    dataset = record.get("dataset")
    if isinstance(dataset, dict):
        dataset = f"{dataset.get('name')} (sha256 {str(dataset.get('sha256'))[:16]}…)"
    elif record.get("dataset_sha256"):
        dataset = f"{dataset} (sha256 {str(record['dataset_sha256'])[:16]}…)"
    lines = [
        ("prior", f"{record.get('arch', '?')} from {record.get('path', 'path not recorded')}"),
        ("prior source", str(record.get("source", "not recorded"))),
        ("prior trained on", str(dataset or "not recorded")),
        ("prior weights sha256", str(record.get("sha256", "not recorded"))),
        ("prior file sha256", str(record.get("file_sha256", "not recorded"))),
        ("prior license", str(record.get("license", "not declared in the prior file"))),
    ]
    for key, label in (
        ("declared_license", "prior license (declared for this run)"),
        ("declared_source", "prior source (declared for this run)"),
        ("spec", "prior spec"),
    ):
        if record.get(key):
            lines.append((label, str(record[key])))
    if record.get("module_file"):
        lines.append(
            (
                "prior module file",
                f"{record['module_file']['path']} (sha256 {record['module_file']['file_sha256'][:16]}…)",
            )
        )
    if record.get("steps"):
        lines.append(("prior training", f"{record['steps']} steps, {record.get('train_seconds', '?')} s"))
    if isinstance(record.get("scores"), dict):
        lines.append(("prior quality", prior_quality_line(record["scores"])))
    return lines


def prior_quality_line(scores: dict[str, Any]) -> str:
    """The scores `latentdd prior score` measured, as one line (generated vs real)."""
    parts = []
    cas = scores.get("cas")
    if cas:
        parts.append(
            f"CAS {cas['generated']['mean']:.1f} % vs {cas['real']['mean']:.1f} % on real images "
            f"({cas['per_class']}/class)"
        )
    if "frechet_distance" in scores:
        parts.append(f"Fréchet distance {scores['frechet_distance']:.2f}")
    if "diversity" in scores:
        parts.append(f"diversity {scores['diversity']['ratio']:.2f} of real's")
    if "saturation" in scores:
        sat = scores["saturation"]
        parts.append(f"saturated pixels {100 * sat['generated']:.1f} % (real {100 * sat['real']:.1f} %)")
    return "; ".join(parts) or "not measured"


def provenance_table(refs: Sequence[RunRefs]) -> Table:
    per_run: list[dict[str, str]] = []
    for r in refs:
        run, stats = r.run, r.run.stats
        ds = stats.get("dataset", {})
        items: list[tuple[str, str]] = [
            ("run folder", str(run.path)),
            (
                "dataset",
                f"{run.dataset} ({ds.get('source') or run.meta.get('dataset_source', 'source not recorded')})",
            ),
            (
                "dataset size",
                f"{ds.get('n_train', '?')} train / {ds.get('n_test', '?')} test images, "
                f"{'x'.join(str(v) for v in run.synset.images.shape[1:])} (C x H x W)",
            ),
            ("dataset sha256", str(run.dataset_sha256 or "not recorded")),
            ("dataset license", str(ds.get("license", "not recorded"))),
            (
                "objective / space",
                f"{run.method} / {run.space}" + (f", layer {run.layer}" if run.layer is not None else ""),
            ),
            (
                "distillation",
                f"{run.config.iterations} iterations on {run.distill_model}, seed {run.config.seed}",
            ),
            *_prior_lines(run.meta.get("prior") or stats.get("prior")),
            ("evaluation", run.protocol_line()),
            (
                "made with",
                str(
                    stats.get("latentdd_version")
                    or run.meta.get("latentdd_version")
                    or "not recorded by the run"
                ),
            ),
        ]
        per_run.append(dict(items))
    keys: list[str] = []
    for d in per_run:
        keys += [k for k in d if k not in keys]
    rows = [[k, *(d.get(k, "-") for d in per_run)] for k in keys]
    return Table.of(
        ["", *(r.run.label for r in refs)],
        rows,
        caption="Where each run came from",
        notes=[f"report made by {code_version()}"],
        numeric=False,
    )


def settings_diff(refs: Sequence[RunRefs]) -> Table | None:
    """The settings whose values differ between the runs (``out`` aside): what the comparison varies."""
    if len(refs) < 2:
        return None
    configs = [r.run.config.to_dict() for r in refs]
    keys = [k for k in configs[0] if k != "out" and len({repr(c.get(k)) for c in configs}) > 1]
    if not keys:
        return None
    rows = [[k, *(_setting(c.get(k)) for c in configs)] for k in keys]
    return Table.of(
        ["setting", *(r.run.label for r in refs)],
        rows,
        caption="Settings that differ between the runs",
        numeric=False,
    )


def _setting(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "{}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def provenance_section(refs: Sequence[RunRefs]) -> Section:
    blocks: list[Any] = [provenance_table(refs)]
    diff = settings_diff(refs)
    if diff is not None:
        blocks.append(diff)
    blocks += [Code(r.run.config_text, "yaml", f"{r.run.label}: {r.run.path / 'config.yaml'}") for r in refs]
    return Section("provenance", "Provenance", blocks)

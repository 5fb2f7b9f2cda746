"""What a distilled set saves and what it costs: storage, training time, distillation time, memory.

Storage is counted two ways because a latent set is not stored as pixels: as uint8 images
(what any set of images costs) and as the learned latents plus the generator needed to
decode them.  A random-weight prior is regenerated from its seed, so it stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..priors import PRIORS
from .document import Section, Table
from .fmt import nbytes, ratio, seconds
from .references import RunRefs


def image_bytes(n: int, shape: Sequence[int]) -> int:
    """``n`` images of ``C x H x W`` stored as uint8."""
    c, h, w = (int(v) for v in shape)
    return int(n) * c * h * w


def latent_bytes(r: RunRefs) -> int | None:
    """Bytes of the learned latent tensors as stored (``latent_*`` in the synset), None for pixel sets."""
    tensors = {k: v for k, v in r.run.synset.tensors.items() if k.startswith("latent")}
    if not tensors:
        return None
    return sum(t.numel() * t.element_size() for t in tensors.values())


def prior_weight_bytes(record: dict[str, Any]) -> int | None:
    """Bytes of a prior's weights, rebuilt from its architecture and config (no file needed)."""
    arch, config = record.get("arch"), record.get("config")
    if not arch or not isinstance(config, dict):
        return None

    try:
        module = PRIORS.create(arch, **config)
    except Exception:  # an unknown or changed architecture: size unknown, not an error in a report
        return None
    return sum(p.numel() * p.element_size() for p in module.state_dict().values())


def prior_storage(r: RunRefs) -> tuple[int | None, str]:
    """``(bytes that must be stored, description)`` for the run's prior."""
    record = r.run.meta.get("prior") or r.run.stats.get("prior")
    if not record:
        return None, "-"
    if record.get("source") == "random":
        would = prior_weight_bytes(record)
        extra = f"; its weights would take {nbytes(would)}" if would else ""
        return 0, f"0 B (random weights regenerated from seed {record.get('seed')}{extra})"
    path = record.get("path")
    if path and Path(path).is_file():
        size = Path(path).stat().st_size
        return size, f"{nbytes(size)} ({Path(path).name})"
    return None, f"unknown (prior file {path or 'path not recorded'} not found)"


def cost_table(refs: Sequence[RunRefs]) -> Table:
    rows: list[list[str]] = []

    def row(name: str, values: list[str]) -> None:
        rows.append([name, *values])

    shapes = [tuple(r.run.synset.images.shape[1:]) for r in refs]
    n_syn = [int(r.run.synset.images.shape[0]) for r in refs]
    n_full = [r.full.n_train or r.run.stats.get("dataset", {}).get("n_train") for r in refs]
    full_bytes = [image_bytes(n, s) if n else None for n, s in zip(n_full, shapes, strict=True)]
    syn_bytes = [image_bytes(n, s) for n, s in zip(n_syn, shapes, strict=True)]
    row("training images: full data", [f"{n:,}" if n else "not recorded" for n in n_full])
    row(
        "training images: synthetic",
        [f"{n:,} ({r.run.ipc} per class)" for n, r in zip(n_syn, refs, strict=True)],
    )
    row("full data as uint8 images", [nbytes(b) for b in full_bytes])
    row(
        "synthetic set as uint8 images",
        [
            f"{nbytes(s)} ({ratio(f, s)} smaller)" if f else nbytes(s)
            for s, f in zip(syn_bytes, full_bytes, strict=True)
        ],
    )
    lat, prior_desc, lat_total = [], [], []
    for r, f in zip(refs, full_bytes, strict=True):
        lb = latent_bytes(r)
        pb, desc = prior_storage(r)
        lat.append(f"{nbytes(lb)} (float32)" if lb is not None else "- (pixel space)")
        prior_desc.append(desc if lb is not None else "-")
        if lb is None:
            lat_total.append("-")
        elif pb is None:
            lat_total.append(f"{nbytes(lb)} + prior of unknown size")
        else:
            total = lb + pb
            lat_total.append(
                f"{nbytes(total)}"
                + (
                    f" ({ratio(f, total)} smaller)"
                    if f and f >= total
                    else f" ({ratio(total, f)} larger than the full data)"
                    if f
                    else ""
                )
            )
    row("synthetic set as latents", lat)
    row("prior (generator) to decode them", prior_desc)
    row("latents + prior", lat_total)
    row("distillation time", [_distill_time(r.run.stats) for r in refs])
    row("peak memory while distilling", [_memory(r.run.stats) for r in refs])
    models: list[str] = []
    for r in refs:
        models += [m for m in r.run.models if m not in models]
    for m in models:
        row(f"train {m}: synthetic vs full", [_train_time(r, m) for r in refs])
    notes = [
        "Training times are per network (mean over runs), from metrics.json and the full-data "
        "measurement, under each run's protocol."
    ]
    if any(not r.full.available for r in refs):
        notes.append(
            "Full-data training time is shown only where the full data was measured "
            "(see the accuracy section)."
        )
    return Table.of(
        ["", *(r.run.label for r in refs)], rows, caption="Storage and compute", notes=notes, numeric=False
    )


def _distill_time(stats: dict[str, Any]) -> str:
    if "distill_seconds" not in stats:
        return "not recorded"
    parts = [f"{stats['iterations']} iterations"] if "iterations" in stats else []
    if stats.get("seconds_per_iteration"):
        parts.append(f"{seconds(stats['seconds_per_iteration'])}/iteration")
    if stats.get("device"):
        parts.append(str(stats["device"]))
    return seconds(stats["distill_seconds"]) + (f" ({', '.join(parts)})" if parts else "")


def _memory(stats: dict[str, Any]) -> str:
    if "peak_rss_mb" not in stats:
        return "not recorded"
    text = f"{stats['peak_rss_mb']:.0f} MB RSS"
    if "peak_cuda_mb" in stats:
        text += f", {stats['peak_cuda_mb']:.0f} MB GPU"
    return text


def _train_time(r: RunRefs, model: str) -> str:
    syn = r.run.metrics.get("train_seconds", {}).get(model)
    if syn is None:
        return "-"
    full = r.full.train_seconds.get(model)
    if full is None:
        return f"{seconds(syn)} vs not measured"
    epochs = f" at {r.full.epochs} ep" if r.full.epochs != r.full.protocol_epochs else ""
    speed = f"{ratio(full, syn)} faster" if full >= syn else f"{ratio(syn, full)} slower"
    return f"{seconds(syn)} vs {seconds(full)}{epochs} ({speed})"


def cost_section(refs: Sequence[RunRefs]) -> Section:
    return Section("cost", "Cost", [cost_table(refs)])

"""The upper reference: the same architectures trained on the *full* training set.

A distilled set's accuracy means little without what the whole dataset reaches under
the same protocol.  Training on 60k images is expensive on a CPU, so:

* each result (one architecture, one seed) is cached in ``$LATENTDD_CACHE/fulldata``
  (default ``~/.cache/latentdd/fulldata``) under a key of everything that changes it --
  the dataset's content hash, the architecture, the protocol's training settings, the
  augmentation, the seed and the latentdd version -- so it is measured once per dataset
  and architecture and reused by every later report;
* measuring is automatic only on an accelerator; on a CPU it is opt-in (``full_data=True``),
  and ``epochs``, ``models`` and ``runs`` can bound it (the report then says what was shortened
  or left out): on 2 CPU cores one epoch of ResNet18 over 50,000 images takes about half an hour, while
  ConvNet alone at a few epochs already tells a pilot how much accuracy the distilled set keeps;
* whatever the cache holds is used, even when it covers only some architectures or seeds;
* when nothing is measured the report says so and why, instead of leaving a blank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import distributed
from ..augment import make_dsa
from ..data import DatasetSplits, load_dataset
from ..device import resolve_device
from ..errors import UserError
from ..evaluate import EvalProtocol, get_protocol, run_cache, summarize, train_and_test
from ..evaluate.metrics import mean_per_class
from ..evaluate.run_cache import RunCache
from ..evaluate.train import RunResult
from ..nets.convnet import key_kwargs
from ..nets.registry import MODELS
from ..paths import user_cache_dir
from .collect import Run


def cache_dir() -> Path:
    return user_cache_dir() / "fulldata"


def cache_key(
    dataset: str,
    dataset_sha256: str,
    model: str,
    protocol: EvalProtocol,
    seed: int,
    digits: bool,
    image_size: tuple[int, int],
) -> dict[str, Any]:
    """Everything a full-data accuracy depends on (``digits`` switches DSA's flip off; a ConvNet's
    depth follows the resolution), in the evaluation cache's key layout."""
    context = {
        "kind": "full data",
        "dataset": dataset,
        "protocol": run_cache.protocol_training_settings(protocol),
        "digits": bool(digits),
    }
    return RunCache(cache_dir()).key(
        context, model, seed, dataset_sha256, key_kwargs(model, image_size, None)
    )


def key_file(key: dict[str, Any], root: Path | None = None) -> Path:
    """Where the result of ``key`` is kept (the evaluation cache's layout)."""
    return run_cache.key_file(key, root or cache_dir(), f"{key['model']}-seed{key['seed']}")


@dataclass
class FullData:
    """Full-data accuracies for one run's protocol, or the reason there are none."""

    accuracy: dict[str, dict[str, Any]] | None
    note: str
    per_class: dict[str, list[float | None]] = field(default_factory=dict)
    train_seconds: dict[str, float] = field(default_factory=dict)
    epochs: int | None = None
    protocol_epochs: int | None = None
    n_train: int | None = None
    measured_now: int = 0  # (architecture, seed) pairs trained for this report; the rest came from the cache

    @property
    def available(self) -> bool:
        return self.accuracy is not None


class FullDataMeasurer:
    """Looks up and (when allowed) measures full-data accuracies; loads each dataset once.

    ``mode``: ``True`` measure whatever the cache lacks; ``False`` skip entirely; ``None``
    (auto) use the cache, and measure only on an accelerator.
    """

    def __init__(
        self,
        mode: bool | None = None,
        *,
        epochs: int | None = None,
        models: Sequence[str] | None = None,
        runs: int | None = None,
        data_dir: str | None = None,
        device: str = "auto",
        progress: bool = True,
        root: Path | None = None,
    ) -> None:
        if epochs is not None and epochs < 1:
            raise UserError(f"--full-data-epochs must be at least 1, got {epochs}")
        if runs is not None and runs < 1:
            raise UserError(f"--full-data-runs must be at least 1, got {runs}")
        for name in models or ():
            MODELS.get(name)  # an unknown architecture is a UserError that lists the known ones
        self.mode = mode
        self.epochs = epochs
        self.models = list(models) if models else None
        self.runs = runs
        self.data_dir = data_dir
        self.device_name = device
        self.progress = progress
        self.root = root
        self._splits: dict[tuple[Any, ...], DatasetSplits] = {}

    def _device(self) -> torch.device:
        return resolve_device(self.device_name)

    def _load(self, run: Run) -> DatasetSplits:
        data_dir = self.data_dir or run.config.data_dir
        size = int(run.synset.images.shape[-1])
        key = (run.dataset, data_dir, size)
        if key not in self._splits:
            self._splits[key] = load_dataset(run.dataset, data_dir, image_size=size)
        return self._splits[key]

    def wanted(self, run: Run) -> tuple[list[str], list[int]]:
        """The architectures and seeds to measure for ``run``: its own, bounded by ``models`` and ``runs``."""
        models = [m for m in run.models if self.models is None or m in self.models]
        seeds = list(run.seeds[: self.runs] if self.runs else run.seeds)
        return models, seeds

    def for_run(self, run: Run) -> FullData:
        if self.mode is False:
            return FullData(None, "not measured (--no-full-data)")
        sha = run.dataset_sha256
        if not sha:
            return FullData(
                None,
                "not measured: the run does not record its dataset's content hash, "
                "so a cached result could not be matched to it",
            )
        if not run.seeds or not run.models:
            return FullData(None, "not measured: metrics.json records no seeds or architectures to repeat")
        models, seeds = self.wanted(run)
        if not models:
            return FullData(
                None,
                f"not measured: --full-data-models {','.join(self.models or [])} names none of "
                f"the run's architectures ({', '.join(run.models)})",
            )
        protocol_epochs = int(run.metrics.get("epochs") or 0) or None
        try:
            protocol = get_protocol(str(run.metrics.get("protocol")), epochs=self.epochs or protocol_epochs)
        except UserError as e:
            return FullData(None, f"not measured: {e}")
        digits = bool(run.meta.get("digits", False))
        pairs = [(m, s) for m in models for s in seeds]
        size = tuple(int(s) for s in run.synset.images.shape[-2:])
        keys = {pair: cache_key(run.dataset, sha, pair[0], protocol, pair[1], digits, size) for pair in pairs}
        cache = RunCache(self.root or cache_dir())
        found: dict[tuple[str, int], RunResult | None] = {pair: cache.get(key) for pair, key in keys.items()}
        missing = [pair for pair, hit in found.items() if hit is None]
        n_train = run.stats.get("dataset", {}).get("n_train")
        measured = 0
        if missing and self.mode is None and self._device().type == "cpu":
            images = f"{n_train} images" if n_train else "the full training set"
            opt_in = (
                f"training {len(models)} architecture(s) x {len(seeds)} seed(s) on {images} for "
                f"{protocol.epochs} epoch(s) is opt-in on a CPU; pass --full-data (and --full-data-epochs N, "
                "--full-data-models, --full-data-runs to bound it). Results are cached once measured."
            )
            if len(missing) == len(pairs):
                return FullData(
                    None, f"not measured: {opt_in}", protocol_epochs=protocol_epochs, n_train=n_train
                )
            return self._summarize(
                run,
                found,
                protocol,
                protocol_epochs,
                n_train,
                0,
                unmeasured=f"{len(missing)} of {len(pairs)} network(s) not in the cache ({opt_in})",
            )
        if missing:
            try:
                splits = self._load(run)
            except UserError as e:
                if self.mode:  # asked for explicitly: the user must fix the data location
                    raise
                return FullData(None, f"not measured: {e}")
            if splits.info.get("sha256") != sha:
                return FullData(
                    None,
                    f"not measured: the {run.dataset!r} data found now (sha256 "
                    f"{str(splits.info.get('sha256'))[:12]}) is not what the run was distilled "
                    f"from ({sha[:12]}); pass --data-dir to the original data",
                )
            n_train = len(splits.train)
            found.update(self._measure(splits, protocol, missing, keys, cache))
            measured = len(missing)
        return self._summarize(run, found, protocol, protocol_epochs, n_train, measured)

    def _measure(
        self,
        splits: DatasetSplits,
        protocol: EvalProtocol,
        missing: list[tuple[str, int]],
        keys: dict[tuple[str, int], dict[str, Any]],
        cache: RunCache,
    ) -> dict[tuple[str, int], RunResult | None]:
        """Train what the cache lacks through the evaluation cache: claimed (another process measuring
        the same network is waited for by no one -- its result is read by the next report) and
        checkpointed (an epoch of the full data takes minutes on a CPU; a kill resumes it)."""
        device = self._device()
        dsa = make_dsa(protocol.dsa_strategy, digits=splits.digits)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(missing), desc=f"full data ({len(splits.train)} images)", unit="run")
        out: dict[tuple[str, int], RunResult | None] = {}
        try:
            for model, seed in distributed.shard(missing):  # under torchrun: this rank's share

                def train(partial: Path, model: str = model, seed: int = seed) -> RunResult:
                    return train_and_test(
                        model,
                        splits.train.images,
                        splits.train.labels,
                        splits.test,
                        protocol=protocol,
                        seed=seed,
                        dsa=dsa,
                        device=device,
                        checkpoint=partial,
                        progress=self.progress,
                    )

                out[(model, seed)] = cache.fetch_or_train(keys[(model, seed)], train)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        for part in distributed.all_gather_object(out):  # every rank ends with every network
            out.update(part)
        return out

    def _summarize(
        self,
        run: Run,
        found: dict[tuple[str, int], RunResult | None],
        protocol: EvalProtocol,
        protocol_epochs: int | None,
        n_train: int | None,
        measured: int,
        unmeasured: str = "",
    ) -> FullData:
        accuracy, per_class, seconds = {}, {}, {}
        for model in dict.fromkeys(m for m, _ in found):
            results = [r for (m, _), r in found.items() if m == model and r is not None]
            if not results:
                continue
            accuracy[model] = summarize([r.accuracy for r in results])
            per_class[model] = mean_per_class([r.per_class for r in results])
            seconds[model] = sum(r.train_seconds for r in results) / len(results)
        cached = sum(r is not None for r in found.values()) - measured
        how = f"{measured} network(s) trained now, {cached} from the cache in {self.root or cache_dir()}"
        if protocol_epochs and protocol.epochs != protocol_epochs:
            how += (
                f"; trained {protocol.epochs} epoch(s) instead of the protocol's {protocol_epochs} "
                "(--full-data-epochs), so these figures understate what the full data reaches"
            )
        left_out = [m for m in run.models if m not in accuracy]
        if left_out:
            how += f"; not measured for {', '.join(left_out)}"
        seeds = sorted({s for (_, s), r in found.items() if r is not None})
        if len(seeds) < len(run.seeds):
            how += f"; seed(s) {', '.join(map(str, seeds))} of the run's {len(run.seeds)}"
        if unmeasured:
            how += f"; {unmeasured}"
        return FullData(
            accuracy, how, per_class, seconds, protocol.epochs, protocol_epochs, n_train, measured
        )

"""Finished training runs kept on disk, one JSON file each, under a key of everything
that changes them.

Evaluating one synthetic set under ``cpu-small`` trains 15 networks (five
architectures x 3 seeds x 300 epochs), hours on a CPU.  Each finished network's result
is written here as soon as it is known, so an evaluation killed halfway resumes at the
first network it had not finished, and a re-run with the same settings costs nothing.
The same mechanism caches the report's full-data reference (``report/fulldata.py``).

A file is trusted only when the key stored inside it equals the key asked for, so a
changed protocol, seed, training set or test set is never served a stale result, and a
damaged file is simply measured again.

Several processes may evaluate one target at once (two terminals, or one single-thread
process per core, which trains more networks per hour on a small CPU than one process
with every thread): a process *claims* a network before training it, with an OS file
lock (``filelock``) that dies with the process, so no network is trained twice and a
killed process never leaves a stale claim behind.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .. import __version__
from ..claims import is_held, try_claim
from ..data.dataset import ImageDataset
from ..data.transforms import content_hash
from ..fileio import atomic_write_json
from .protocols import EvalProtocol
from .train import RunResult

FORMAT = 1
#: Training settings of a protocol that change what a network learns (not its name or model list).
TRAINING_FIELDS = ("epochs", "lr", "momentum", "weight_decay", "batch_size", "lr_decay_at", "dsa_strategy")


class NetworksInProgress(RuntimeError):
    """Raised (when asked not to wait) if some networks of an evaluation are being trained by other processes."""

    def __init__(self, count: int, root: Path | None) -> None:
        super().__init__(f"{count} network(s) of {root} are being trained by another process")
        self.count = count
        self.root = root


def protocol_training_settings(protocol: EvalProtocol) -> dict[str, Any]:
    return {k: getattr(protocol, k) for k in TRAINING_FIELDS}


def key_file(key: dict[str, Any], root: Path, label: str) -> Path:
    """``root/<label>-<digest>.json``: the digest names the key, the label is for people."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", label)[:60]  # labels may hold folder:PATH names
    return root / f"{readable}-{digest}.json"


def read_keyed(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The result stored at ``path`` under exactly ``key``; ``None`` if absent, damaged or for another key."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != json.loads(json.dumps(key, default=str)):
        return None
    result = entry.get("result")
    return result if isinstance(result, dict) else None


def write_keyed(path: Path, key: dict[str, Any], result: dict[str, Any]) -> None:
    atomic_write_json(path, {"key": json.loads(json.dumps(key, default=str)), "result": result})


def describe_test_set(test: ImageDataset) -> dict[str, Any]:
    """What a test accuracy was measured on: name, size and a hash of the labels and images."""
    return {"name": test.name, "n": len(test), "sha256": content_hash(test.images, test.labels)}


class RunCache:
    """The finished (architecture, seed) runs of one evaluation target, in folder ``root``.

    ``context`` holds what every run of one evaluation shares (protocol, learning rate,
    augmentation, test set, device); :meth:`key` adds what differs per run.  ``shared``
    is a second folder, read after ``root`` and written beside it, for results that do
    not belong to one run: the random-real baseline of a dataset and IPC is the same for
    every run distilled from it, so it is trained once per user (``read_shared=False``:
    write there, but train again).
    """

    #: the folder name ``latentdd evaluate`` keeps a run folder's finished networks in
    FOLDER = "eval_runs"

    def __init__(
        self, root: Path | str, shared: Path | str | None = None, *, read_shared: bool = True
    ) -> None:
        self.root = Path(root)
        self.shared = Path(shared) if shared is not None else None
        self.read_shared = read_shared

    def key(
        self,
        context: dict[str, Any],
        model: str,
        seed: int,
        train_sha256: str,
        model_kwargs: dict[str, Any] | None,
    ) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "latentdd": __version__,
            **context,
            "model": model,
            "seed": int(seed),
            "model_kwargs": model_kwargs or {},
            "train_sha256": train_sha256,
        }

    def _roots(self, reading: bool) -> list[Path]:
        use_shared = self.shared is not None and (self.read_shared or not reading)
        return [self.root, *([self.shared] if use_shared and self.shared is not None else [])]

    def get(self, key: dict[str, Any]) -> RunResult | None:
        label = f"{key['model']}-seed{key['seed']}"
        for root in self._roots(reading=True):
            found = read_keyed(key_file(key, root, label), key)
            if found is None:
                continue
            try:
                result = RunResult(**found)
            except TypeError:  # written by a version with other fields: measure again
                continue
            if root != self.root:  # keep the run folder complete on its own
                write_keyed(key_file(key, self.root, label), key, found)
            return result
        return None

    def put(self, key: dict[str, Any], result: RunResult) -> None:
        label = f"{key['model']}-seed{key['seed']}"
        for root in self._roots(reading=False):
            write_keyed(key_file(key, root, label), key, asdict(result))

    def fetch_or_train(self, key: dict[str, Any], train: Callable[[Path], RunResult]) -> RunResult | None:
        """The result of ``key``: read back, or claimed and trained with ``train(checkpoint_path)``
        (a kill mid-network resumes from that checkpoint), kept the moment it ends; ``None`` when
        another process holds the claim.  Every cached network latentdd trains -- an evaluation's,
        the random-real baseline's, the report's full-data reference -- goes through here."""
        result = self.get(key)
        if result is not None:
            return result
        with self.claim(key) as held:
            if not held:
                return None
            result = self.get(key)  # finished by another process between the read and the claim
            if result is None:
                partial = self.checkpoint_path(key)
                result = train(partial)
                self.put(key, result)
                partial.unlink(missing_ok=True)
        return result

    def _claim_root(self) -> Path:
        """Claims and checkpoints live in the shared folder when there is one, so two run folders
        that share a baseline network train it once, and either resumes the other's checkpoint."""
        return self.shared if self.shared is not None else self.root

    def checkpoint_path(self, key: dict[str, Any]) -> Path:
        """Where the network of ``key`` keeps its mid-training checkpoint (``train_and_test``)."""
        label = f"{key['model']}-seed{key['seed']}"
        return key_file(key, self._claim_root(), label).with_suffix(".partial.pt")

    @contextmanager
    def claim(self, key: dict[str, Any]) -> Iterator[bool]:
        """Hold the right to train the network of ``key``: yields ``False`` at once (no
        waiting) when another process holds it."""
        label = f"{key['model']}-seed{key['seed']}"
        claim = try_claim(key_file(key, self._claim_root(), label).with_suffix(".lock"))
        if claim is None:
            yield False
            return
        with claim:
            yield True

    def claimed_elsewhere(self) -> list[str]:
        """Labels (``model-seedN``) of the networks that processes are training right now, for
        progress displays: a claim is held when its lock cannot be taken."""
        return [
            path.stem.rsplit("-", 1)[0] for path in sorted(self._claim_root().glob("*.lock")) if is_held(path)
        ]

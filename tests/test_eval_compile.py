"""Evaluation networks trained on a fast path (latentdd.evaluate.speed: torch.compile or
channels-last): which ones, with what result, and under which cache key."""

from __future__ import annotations

import pytest
import torch

from latentdd.compile import can_compile
from latentdd.data.dataset import ImageDataset
from latentdd.errors import UserError
from latentdd.evaluate import evaluate_synset, get_protocol
from latentdd.evaluate.run_cache import RunCache
from latentdd.evaluate.speed import (
    AUTO_MIN_IMAGE_EPOCHS,
    CHANNELS_LAST,
    COMPILED,
    FAST_PATHS,
    PLAIN,
    check_fast_mode,
    choose_fast_path,
)
from latentdd.evaluate.train import fit_network
from latentdd.seeding import make_generator

CPU = torch.device("cpu")
TINY = {"convnet": {"width": 8, "depth": 1}, "mlp": {"width": 16}}


def tiny_set(per_class: int, seed: int) -> ImageDataset:
    g = make_generator(seed)
    labels = torch.arange(4).repeat_interleave(per_class)
    images = (labels.float() - 1.5).view(-1, 1, 1, 1) + 0.1 * torch.randn(len(labels), 1, 8, 8, generator=g)
    return ImageDataset(images, labels, [f"c{i}" for i in range(4)], (0.0,), (1.0,), name="bright")


def test_auto_takes_each_architectures_measured_path_in_long_runs(monkeypatch):
    monkeypatch.setattr("latentdd.evaluate.speed.can_compile", lambda device: True)
    assert FAST_PATHS["convnet"] == COMPILED and FAST_PATHS["alexnet"] == CHANNELS_LAST
    assert choose_fast_path("auto", "convnet", AUTO_MIN_IMAGE_EPOCHS, CPU) == COMPILED
    assert choose_fast_path("auto", "alexnet", AUTO_MIN_IMAGE_EPOCHS, CPU) == CHANNELS_LAST
    assert choose_fast_path("auto", "vgg11", 10**6, CPU) == PLAIN  # no path measured faster
    assert choose_fast_path("auto", "convnet", AUTO_MIN_IMAGE_EPOCHS - 1, CPU) == PLAIN  # an IPC 1 set
    assert choose_fast_path("compile", "alexnet", 1, CPU) == COMPILED
    assert choose_fast_path("off", "convnet", 10**6, CPU) == PLAIN
    monkeypatch.setattr("latentdd.evaluate.speed.can_compile", lambda device: False)
    assert choose_fast_path("auto", "convnet", 10**6, CPU) == PLAIN  # no compiler: auto stays plain quietly
    assert choose_fast_path("auto", "alexnet", 10**6, CPU) == CHANNELS_LAST  # needs no compiler
    with pytest.raises(UserError, match="C compiler"):
        choose_fast_path("compile", "convnet", 1, CPU)
    with pytest.raises(UserError, match="auto, off or compile"):
        check_fast_mode("sometimes")


def test_channels_last_training_follows_the_plain_trajectory():
    train, test = tiny_set(6, 1), tiny_set(5, 2)
    proto = get_protocol("quick", epochs=4, lr=0.1, runs=1, batch_size=8, dsa_strategy="none")
    kwargs = dict(protocol=proto, seed=3, dsa=None, model_kwargs={"width": 8, "depth": 2})
    plain, _, _ = fit_network("convnet", train.images, train.labels, test, **kwargs)
    nhwc, _, _ = fit_network("convnet", train.images, train.labels, test, fast_path=CHANNELS_LAST, **kwargs)
    conv = [p for p in nhwc.parameters() if p.dim() == 4][-1]  # 8 -> 8 channels: layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    for (name, a), b in zip(plain.state_dict().items(), nhwc.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), name


@pytest.mark.skipif(not can_compile(CPU), reason="no C compiler for inductor")
def test_compiled_training_follows_the_eager_trajectory():
    """Same seed, same data, same DSA-free protocol: the compiled network ends where the eager one
    does, to float rounding (kernels are fused, not changed)."""
    train, test = tiny_set(6, 1), tiny_set(5, 2)
    proto = get_protocol("quick", epochs=4, lr=0.1, runs=1, batch_size=8, dsa_strategy="none")
    kwargs = dict(protocol=proto, seed=3, dsa=None, model_kwargs=TINY["convnet"])
    eager, _, _ = fit_network("convnet", train.images, train.labels, test, **kwargs)
    from torch._dynamo.utils import counters

    graphs_before = counters["stats"]["unique_graphs"]
    compiled, _, _ = fit_network("convnet", train.images, train.labels, test, fast_path=COMPILED, **kwargs)
    for (name, a), b in zip(eager.state_dict().items(), compiled.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), name
    assert counters["stats"]["unique_graphs"] > graphs_before  # it did go through inductor


def test_fast_path_networks_get_their_own_cache_key_and_are_listed(tmp_path, monkeypatch):
    """A plain network keeps the key it always had (committed results stay valid); one trained on
    a fast path is stored under a key that says so, and metrics.json names its path."""
    calls: list[bool] = []

    def fake_compiled_forward():
        calls.append(True)
        return lambda net, x: net(x)  # the plumbing, without paying for inductor

    monkeypatch.setattr("latentdd.evaluate.speed.compiled_forward", fake_compiled_forward)
    train, test = tiny_set(6, 1), tiny_set(5, 2)
    proto = get_protocol("quick", epochs=3, lr=0.1, runs=1, dsa_strategy="none", models=["convnet", "mlp"])
    kwargs = dict(protocol=proto, seed=0, dsa=None, model_kwargs=TINY, progress=False)
    eager_root, compiled_root = tmp_path / "eager", tmp_path / "compiled"
    eager = evaluate_synset(train.images, train.labels, test, cache=RunCache(eager_root), **kwargs)
    assert eager["fast_paths"] == {} and not calls
    monkeypatch.setattr("latentdd.evaluate.speed.can_compile", lambda device: True)
    monkeypatch.setattr("latentdd.evaluate.speed.FAST_PATHS", {"convnet": COMPILED})
    monkeypatch.setattr("latentdd.evaluate.speed.AUTO_MIN_IMAGE_EPOCHS", 1)
    both = evaluate_synset(
        train.images, train.labels, test, cache=RunCache(compiled_root), fast="auto", **kwargs
    )
    assert both["fast_paths"] == {"convnet": COMPILED} and calls
    eager_files = {p.name for p in eager_root.glob("*.json")}
    compiled_files = {p.name for p in compiled_root.glob("*.json")}
    assert {n for n in eager_files if n.startswith("mlp")} == {
        n for n in compiled_files if n.startswith("mlp")
    }
    assert not {n for n in eager_files if n.startswith("convnet")} & compiled_files

"""Behaviour of latentdd.evaluate on tiny synthetic problems (4 classes, 8x8 images)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from latentdd.data.dataset import ImageDataset
from latentdd.errors import UserError
from latentdd.evaluate import (
    PROTOCOLS,
    evaluate_random_baseline,
    evaluate_synset,
    format_table,
    get_protocol,
    lr_schedule,
    random_real_subset,
    summarize,
    train_and_test,
)
from latentdd.seeding import make_generator

C, HW = 4, 8
TINY = {"convnet": {"width": 8, "depth": 1}, "mlp": {"width": 16}}


def brightness_set(per_class: int, seed: int, noise: float = 0.1) -> ImageDataset:
    """Class ``c`` is a constant image of brightness ``c - 1.5`` plus a little noise."""
    g = make_generator(seed)
    labels = torch.arange(C).repeat_interleave(per_class)
    images = (labels.float() - 1.5).view(-1, 1, 1, 1) + noise * torch.randn(
        len(labels), 1, HW, HW, generator=g
    )
    return ImageDataset(images, labels, [f"c{i}" for i in range(C)], (0.0,), (1.0,), name="bright")


def quick(**overrides) -> object:
    """The quick protocol shrunk for 8x8 brightness classes (lr 0.1: 60 steps suffice)."""
    return get_protocol("quick", **{"epochs": 60, "lr": 0.1, "runs": 1, "dsa_strategy": "none", **overrides})


@pytest.fixture(scope="module")
def data() -> tuple[ImageDataset, ImageDataset]:
    return brightness_set(8, seed=1), brightness_set(25, seed=2)


def test_separable_set_is_learned_and_random_labels_are_not(data):
    train, test = data
    proto = quick()
    good = train_and_test(
        "mlp", train.images, train.labels, test, protocol=proto, seed=0, dsa=None, model_kwargs=TINY["mlp"]
    )
    shuffled = train.labels[torch.randperm(len(train), generator=make_generator(5))]
    bad = train_and_test(
        "mlp", train.images, shuffled, test, protocol=proto, seed=0, dsa=None, model_kwargs=TINY["mlp"]
    )
    assert good.accuracy >= 95.0
    assert bad.accuracy <= 60.0
    assert len(good.per_class) == C and min(good.per_class) >= 80.0
    assert good.train_seconds > 0 and good.test_seconds > 0


def test_soft_labels_train_like_hard_labels(data):
    train, test = data
    soft = torch.nn.functional.one_hot(train.labels, C).float()
    r = train_and_test(
        "mlp", train.images, soft, test, protocol=quick(), seed=0, dsa=None, model_kwargs=TINY["mlp"]
    )
    assert r.accuracy >= 95.0
    with pytest.raises(UserError, match="soft labels"):
        train_and_test("mlp", train.images, soft[:, :3], test, protocol=quick(), seed=0, dsa=None)


def test_mismatched_shapes_are_user_errors(data):
    train, test = data
    with pytest.raises(UserError, match="test set"):
        train_and_test("mlp", train.images[:, :, :4], train.labels, test, protocol=quick(), seed=0, dsa=None)
    with pytest.raises(UserError, match="labels must lie"):
        train_and_test("mlp", train.images, train.labels + 1, test, protocol=quick(), seed=0, dsa=None)


def test_same_seed_same_result_different_seed_different_init(data):
    train, test = data
    made: list[nn.Module] = []

    def factory(name, channels, num_classes, image_size, **kw):
        from latentdd.nets import create_model

        made.append(create_model(name, channels, num_classes, image_size, **kw))
        return made[-1]

    proto = quick(epochs=5, dsa_strategy="color_crop_cutout_flip_scale_rotate")
    dsa = proto.make_dsa()
    runs = [
        train_and_test(
            "convnet",
            train.images,
            train.labels,
            test,
            protocol=proto,
            seed=s,
            dsa=dsa,
            model_kwargs=TINY["convnet"],
            model_factory=factory,
        )
        for s in (3, 3, 4)
    ]
    assert runs[0].accuracy == runs[1].accuracy and runs[0].per_class == runs[1].per_class
    same = [torch.equal(a, b) for a, b in zip(made[0].parameters(), made[1].parameters(), strict=True)]
    other = [torch.equal(a, b) for a, b in zip(made[0].parameters(), made[2].parameters(), strict=True)]
    assert all(same)  # identical after training: init, batch order and DSA draws all come from the seed
    assert not other[0]  # a different seed gives a different network (first conv weights differ)


def test_dsa_is_applied_to_every_batch_with_a_seeded_generator(data):
    train, test = data
    calls: list[torch.Generator] = []

    class Recorder:
        enabled = True

        def __call__(self, x, generator):
            calls.append(generator)
            return x

    proto = quick(epochs=3, batch_size=12)  # 32 images -> 3 batches per epoch
    train_and_test("mlp", train.images, train.labels, test, protocol=proto, seed=0, dsa=Recorder())
    assert len(calls) == 9 and all(isinstance(g, torch.Generator) for g in calls)


def test_lr_is_divided_by_ten_at_half_the_epochs(data, monkeypatch):
    train, test = data
    assert lr_schedule(quick(epochs=6)) == pytest.approx([0.1] * 3 + [0.01] * 3)
    assert lr_schedule(quick(epochs=4, lr_decay_at=1.0), lr=0.2) == [0.2] * 4

    seen: list[float] = []
    original_step = torch.optim.SGD.step

    def step(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.SGD, "step", step)
    train_and_test(
        "mlp", train.images, train.labels, test, protocol=quick(epochs=6, lr=0.01), seed=0, dsa=None
    )
    assert seen == pytest.approx([0.01] * 3 + [0.001] * 3)


def test_metrics_shape_and_cross_arch_mean(data):
    train, test = data
    proto = quick(epochs=4, runs=2)
    base = {"mlp": summarize([50.0, 60.0])}
    m = evaluate_synset(
        train.images,
        train.labels,
        test,
        models=["convnet", "mlp"],
        protocol=proto,
        seed=7,
        progress=False,
        baseline=base,
        model_kwargs=TINY,
    )
    assert set(m) == {
        "protocol",
        "seeds",
        "epochs",
        "runs",
        "lr",
        "augmentation",
        "distill_model",
        "accuracy",
        "cross_arch_mean",
        "per_class",
        "train_seconds",
        "fast_paths",
        "baseline_random_real",
    }
    assert (m["protocol"], m["seeds"], m["epochs"]) == ("quick", [7, 8], 4)
    assert set(m["accuracy"]) == {"convnet", "mlp"}
    for block in m["accuracy"].values():
        assert set(block) == {"mean", "std", "runs"} and len(block["runs"]) == 2
        assert block["mean"] == pytest.approx(sum(block["runs"]) / 2)
    assert m["cross_arch_mean"] == pytest.approx(m["accuracy"]["mlp"]["mean"])  # convnet excluded
    assert all(len(v) == C for v in m["per_class"].values())
    assert m["baseline_random_real"] == base
    table = format_table(m)
    assert "convnet *" in table and "random real" in table and "cross-architecture mean" in table

    only = evaluate_synset(
        train.images,
        train.labels,
        test,
        models=["convnet"],
        protocol=quick(epochs=1),
        progress=False,
        model_kwargs=TINY,
    )
    assert only["cross_arch_mean"] is None and "baseline_random_real" not in only


def test_progress_prints_the_table(data, capsys):
    train, test = data
    m = evaluate_synset(
        train.images,
        train.labels,
        test,
        models=["mlp"],
        protocol=quick(epochs=2),
        progress=True,
        dsa=get_protocol("quick").make_dsa(digits=True),
    )
    assert m["augmentation"] == "color_crop_cutout_scale_rotate"  # digits: no flip
    out = capsys.readouterr().out
    assert "protocol quick: 2 epochs, 1 run(s), seeds 0" in out and "mlp" in out


def test_learned_lr_only_under_mtt(data):
    train, test = data
    kw = {"models": ["mlp"], "progress": False, "lr": 0.05, "model_kwargs": TINY}
    mtt = get_protocol("mtt", epochs=1, runs=1, dsa_strategy="none")
    assert evaluate_synset(train.images, train.labels, test, protocol=mtt, **kw)["lr"] == 0.05
    assert evaluate_synset(train.images, train.labels, test, protocol=quick(epochs=1), **kw)["lr"] == 0.1


def test_summarize_uses_population_std():
    s = summarize([1.0, 3.0])
    assert s == {"mean": 2.0, "std": 1.0, "runs": [1.0, 3.0]}


def test_random_real_subset_is_balanced_and_refuses_large_ipc(data):
    train, test = data
    images, labels = random_real_subset(train, 3, make_generator(0))
    assert torch.bincount(labels, minlength=C).tolist() == [3] * C
    rows = {tuple(img.flatten().tolist()) for img in images}
    assert len(rows) == 3 * C  # distinct images, no replacement
    again, _ = random_real_subset(train, 3, make_generator(0))
    assert torch.equal(images, again)
    with pytest.raises(UserError, match="lower --ipc"):
        random_real_subset(train, 9, make_generator(0))
    with pytest.raises(UserError, match="lower --ipc"):
        evaluate_random_baseline(train, test, 9, models=["mlp"], protocol=quick(), progress=False)


def test_random_baseline_block(data):
    train, test = data
    block = evaluate_random_baseline(
        train, test, 2, models=["mlp"], protocol=quick(runs=2), seed=0, progress=False, model_kwargs=TINY
    )
    assert set(block) == {"mlp"} and set(block["mlp"]) == {"mean", "std", "runs", "per_class"}
    assert len(block["mlp"]["runs"]) == 2 and block["mlp"]["mean"] > 50.0
    per_class = block["mlp"]["per_class"]
    assert len(per_class) == train.num_classes and all(0.0 <= a <= 100.0 for a in per_class)
    # the test set is class-balanced, so the mean over classes is the overall accuracy
    assert abs(sum(per_class) / len(per_class) - block["mlp"]["mean"]) < 1e-6


def test_protocol_registry_and_overrides():
    assert {"cpu-small", "paper", "quick", "mtt"} <= set(PROTOCOLS.names())
    cpu = get_protocol("cpu-small")
    assert (cpu.epochs, cpu.runs, cpu.lr, cpu.batch_size) == (300, 3, 0.01, 256)
    assert cpu.models == ["convnet", "alexnet", "vgg11", "resnet18", "vit"]
    assert get_protocol("paper").epochs == 1000 and get_protocol("mtt").use_learned_lr
    dc = get_protocol("dc")  # the DC paper trains evaluation networks without DSA
    assert (dc.epochs, dc.make_dsa(), get_protocol("cpu-small").make_dsa() is not None) == (300, None, True)
    p = get_protocol("cpu-small", epochs=10, runs=None, models="mlp")
    assert (p.epochs, p.runs, p.models, p.decay_epoch) == (10, 3, ["mlp"], 5)
    assert get_protocol("cpu-small").epochs == 300  # the registered protocol is not mutated
    with pytest.raises(UserError, match="unknown evaluation setting"):
        get_protocol("paper", epoch=3)
    with pytest.raises(UserError, match="epochs must be at least 1"):
        get_protocol("paper", epochs=0)
    with pytest.raises(UserError, match="unknown protocol"):
        get_protocol("nope")


def test_killed_evaluation_resumes_from_the_finished_runs(data, tmp_path, monkeypatch):
    """A kill after the first network keeps that network; the re-run trains only the rest and
    gives the same metrics as an uninterrupted evaluation."""
    from latentdd.evaluate import metrics as metrics_mod
    from latentdd.evaluate.run_cache import RunCache

    train, test = data
    args = dict(
        models=["convnet", "mlp"], protocol=quick(epochs=3, runs=2), seed=3, progress=False, model_kwargs=TINY
    )
    whole = evaluate_synset(train.images, train.labels, test, **args)

    real_train = metrics_mod.train_and_test
    calls: list[tuple[str, int]] = []

    def dies_on_third(model, *a, seed, **k):
        calls.append((model, seed))
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user's Ctrl-C, or a kill
        return real_train(model, *a, seed=seed, **k)

    monkeypatch.setattr(metrics_mod, "train_and_test", dies_on_third)
    cache = RunCache(tmp_path / "eval_runs")
    with pytest.raises(KeyboardInterrupt):
        evaluate_synset(train.images, train.labels, test, cache=cache, **args)
    assert len(list((tmp_path / "eval_runs").glob("*.json"))) == 2

    calls.clear()
    resumed = evaluate_synset(train.images, train.labels, test, cache=cache, **args)
    assert calls == [("mlp", 3), ("mlp", 4)]  # convnet's two runs were read back
    assert resumed["accuracy"] == whole["accuracy"] and resumed["per_class"] == whole["per_class"]

    calls.clear()
    evaluate_synset(train.images, train.labels, test, cache=cache, **args)
    assert calls == []  # a repeat is free


def test_run_cache_key_covers_what_changes_a_result(data, tmp_path, monkeypatch):
    """Another training set, seed, protocol, or test set is trained again, never served a stale result."""
    from latentdd.evaluate import metrics as metrics_mod
    from latentdd.evaluate.run_cache import RunCache

    train, test = data
    calls: list[str] = []
    real_train = metrics_mod.train_and_test
    monkeypatch.setattr(
        metrics_mod, "train_and_test", lambda m, *a, **k: calls.append(m) or real_train(m, *a, **k)
    )
    cache = RunCache(tmp_path)

    def run(images=train.images, test_set=test, seed=0, **proto):
        calls.clear()
        evaluate_synset(
            images,
            train.labels,
            test_set,
            models=["mlp"],
            protocol=quick(epochs=2, **proto),
            seed=seed,
            progress=False,
            model_kwargs=TINY,
            cache=cache,
        )
        return len(calls)

    assert run() == 1 and run() == 0
    assert run(images=train.images + 0.01) == 1
    assert run(seed=1) == 1
    assert run(lr=0.05) == 1
    assert run(test_set=brightness_set(25, seed=3)) == 1
    # a damaged file is measured again, not trusted
    for f in tmp_path.glob("*.json"):
        f.write_text("{not json")
    assert run() == 1


def test_random_baseline_resumes_per_run(data, tmp_path, monkeypatch):
    from latentdd.evaluate import metrics as metrics_mod
    from latentdd.evaluate.run_cache import RunCache

    train, test = data
    args = dict(models=["mlp"], protocol=quick(epochs=2, runs=2), seed=0, progress=False, model_kwargs=TINY)
    first = evaluate_random_baseline(train, test, 2, cache=RunCache(tmp_path), **args)
    monkeypatch.setattr(metrics_mod, "train_and_test", lambda *a, **k: pytest.fail("should be cached"))
    assert evaluate_random_baseline(train, test, 2, cache=RunCache(tmp_path), **args) == first


def _hold_lock_in_another_process(lock: Path, seconds: float) -> subprocess.Popen:
    """A separate process that holds ``lock`` (as a second evaluation would while training) for ``seconds``."""
    code = (
        "import sys, time; from filelock import FileLock; l = FileLock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(lock), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_network_claimed_by_another_process_is_left_to_it(data, tmp_path, monkeypatch):
    """Two processes sharing one evaluation never train the same network: the claimed one is
    skipped (reported with wait_for_others=False, the rest trained), and once its holder dies
    without a result the waiting process trains it itself -- no stale claim."""
    from latentdd.evaluate import metrics as metrics_mod
    from latentdd.evaluate.run_cache import NetworksInProgress, RunCache

    train, test = data
    args = dict(models=["mlp"], protocol=quick(epochs=2, runs=2), seed=3, progress=False, model_kwargs=TINY)
    evaluate_synset(train.images, train.labels, test, cache=RunCache(tmp_path / "probe"), **args)
    (second,) = [f.name for f in (tmp_path / "probe").glob("mlp-seed4-*.json")]  # the same key in any folder
    root = tmp_path / "eval_runs"
    root.mkdir()
    calls: list[int] = []
    real_train = metrics_mod.train_and_test
    monkeypatch.setattr(
        metrics_mod,
        "train_and_test",
        lambda *a, seed, **k: calls.append(seed) or real_train(*a, seed=seed, **k),
    )
    monkeypatch.setattr(metrics_mod, "CLAIM_POLL_SECONDS", 0.05)

    holder = _hold_lock_in_another_process(root / Path(second).with_suffix(".lock"), 60)
    try:
        with pytest.raises(NetworksInProgress) as busy:
            evaluate_synset(
                train.images, train.labels, test, cache=RunCache(root), wait_for_others=False, **args
            )
        assert busy.value.count == 1 and calls == [3]  # seed 3 trained and kept, seed 4 left to the holder
        assert [f.name.split("-")[1] for f in root.glob("*.json")] == ["seed3"]
        assert RunCache(root).claimed_elsewhere() == ["mlp-seed4"]  # what a progress display shows
    finally:
        holder.kill()
        holder.wait()
    assert RunCache(root).claimed_elsewhere() == []  # the claim died with its process

    calls.clear()
    holder = _hold_lock_in_another_process(
        root / Path(second).with_suffix(".lock"), 1.0
    )  # dies without a result
    metrics = evaluate_synset(train.images, train.labels, test, cache=RunCache(root), **args)
    holder.wait()
    assert calls == [4] and len(metrics["accuracy"]["mlp"]["runs"]) == 2


def test_a_network_killed_mid_training_resumes_from_its_checkpoint(data, tmp_path, monkeypatch):
    """Killed at epoch 4 of 6 (checkpoints every epoch here), the next call continues from the
    checkpoint -- across the lr decay at epoch 3 -- and ends with exactly the network an
    uninterrupted run gives; a damaged checkpoint is ignored, not trusted."""
    from latentdd.evaluate import train as train_mod
    from latentdd.nets import create_model

    train, test = data
    monkeypatch.setattr(train_mod, "CHECKPOINT_EVERY_SECONDS", 0.0)
    proto = quick(epochs=6, batch_size=12, dsa_strategy="color_crop_cutout_flip_scale_rotate")
    args = dict(protocol=proto, seed=5, dsa=proto.make_dsa(), model_kwargs=TINY["convnet"])
    made: list[nn.Module] = []
    batches: list[int] = []  # training batches seen by each network made by `factory`

    def factory(*a, **k):
        made.append(create_model(*a, **k))
        batches.append(0)
        made[-1].register_forward_pre_hook(lambda m, i: batches.__setitem__(-1, batches[-1] + m.training))
        return made[-1]

    whole = train_and_test("convnet", train.images, train.labels, test, model_factory=factory, **args)

    def dies_in_epoch_five(*a, **k):
        model = create_model(*a, **k)
        seen = [0]

        def count(module, inputs):
            seen[0] += module.training
            if seen[0] > 4 * 3:  # 3 batches per epoch: the 13th training batch is in epoch 5
                raise KeyboardInterrupt

        model.register_forward_pre_hook(count)
        return model

    ckpt = tmp_path / "net.partial.pt"
    with pytest.raises(KeyboardInterrupt):
        train_and_test(
            "convnet",
            train.images,
            train.labels,
            test,
            model_factory=dies_in_epoch_five,
            checkpoint=ckpt,
            **args,
        )
    assert torch.load(ckpt, weights_only=True)["epoch"] == 4 and not list(tmp_path.glob("*.tmp"))
    resumed = train_and_test(
        "convnet", train.images, train.labels, test, model_factory=factory, checkpoint=ckpt, **args
    )
    assert batches == [6 * 3, 2 * 3]  # the resumed network trained epochs 5 and 6 only
    assert (resumed.accuracy, resumed.per_class) == (whole.accuracy, whole.per_class)
    assert all(torch.equal(a, b) for a, b in zip(made[0].parameters(), made[1].parameters(), strict=True))

    ckpt.write_bytes(b"not a checkpoint")
    again = train_and_test("convnet", train.images, train.labels, test, checkpoint=ckpt, **args)
    assert again.accuracy == whole.accuracy


def test_run_models_deletes_a_checkpoint_once_the_result_is_kept(data, tmp_path, monkeypatch):
    from latentdd.evaluate import train as train_mod
    from latentdd.evaluate.run_cache import RunCache

    train, test = data
    monkeypatch.setattr(train_mod, "CHECKPOINT_EVERY_SECONDS", 0.0)
    evaluate_synset(
        train.images,
        train.labels,
        test,
        models=["mlp"],
        protocol=quick(epochs=3, runs=1),
        progress=False,
        model_kwargs=TINY,
        cache=RunCache(tmp_path),
    )
    assert len(list(tmp_path.glob("*.json"))) == 1 and not list(tmp_path.glob("*.partial.pt"))

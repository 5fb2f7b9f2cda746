"""MTT: exact constant-memory gradient, learned step size safety, ZCA, end to end."""

import json
import logging

import pytest
import torch

from latentdd import api
from latentdd.augment import make_dsa
from latentdd.config import DistillConfig, build_config
from latentdd.data.dataset import DatasetSplits, ImageDataset
from latentdd.data.zca import ZCA, whiten_for_evaluation
from latentdd.errors import UserError
from latentdd.experts import train_experts
from latentdd.nets import create_model
from latentdd.objectives import OBJECTIVES, ObjectiveContext, RealSampler
from latentdd.objectives.mtt import ParamLayout, UnrollPlan, make_step_loss, match_gradient, match_unrolled
from latentdd.presets import resolve_preset
from latentdd.presets.mtt import mtt_whitening
from latentdd.seeding import make_generator
from latentdd.synth.io import load_synset

WIDTH = {"width": 8, "depth": 1}


def lr_of(objective):
    return objective.syn_lr.detach().item()


def tiny_net(dtype=torch.float64):
    return create_model("convnet", 3, 3, 8, seed=0, **WIDTH).to(dtype)


def flat(net):
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def tiny_problem(dsa=True, n=6, steps=5, batch=4):
    net = tiny_net()
    step_loss = make_step_loss(net, ParamLayout.of(net), make_dsa() if dsa else None)
    g = make_generator(0)
    theta0 = flat(net)
    target = theta0 + 0.05 * torch.randn(theta0.shape, generator=g, dtype=torch.float64)
    images = torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(n // 3)
    plan = UnrollPlan.draw(n, steps, batch, make_generator(1))
    return step_loss, theta0, target, images, labels, plan


@pytest.mark.parametrize("dsa", [False, True])
def test_constant_memory_gradient_equals_unrolled_autograd(dsa):
    step_loss, theta0, target, images, labels, plan = tiny_problem(dsa)
    assert len({tuple(b.tolist()) for b in plan.batches}) > 1  # several different mini-batches
    ours = match_gradient(step_loss, theta0, target, images, labels, plan, lr=0.1)
    x = images.clone().requires_grad_(True)
    lr = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    loss = match_unrolled(step_loss, theta0, target, x, labels, plan, lr)
    gx, glr = torch.autograd.grad(loss, (x, lr))
    assert torch.allclose(ours.loss, loss.detach(), rtol=1e-10)
    assert (ours.grad_images - gx).norm() <= 1e-4 * gx.norm() and gx.norm() > 0
    assert abs(float(ours.grad_lr - glr)) <= 1e-4 * abs(float(glr)) and float(glr) != 0
    # dropping the Hessian term (TESLA's released code) would NOT match: the test can fail
    detached = _first_order_gradient(step_loss, theta0, target, images, labels, plan, 0.1)
    assert (detached - gx).norm() > 1e-3 * gx.norm()


def _first_order_gradient(step_loss, theta0, target, images, labels, plan, lr):
    theta, grads = theta0.clone(), []
    for idx, seed in zip(plan.batches, plan.seeds, strict=True):
        leaf = theta.clone().requires_grad_(True)
        xb = images[idx].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(step_loss(leaf, xb, labels[idx], seed), leaf, create_graph=True)
        grads.append((idx, xb, g))
        theta = theta - lr * g.detach()
    scale = (theta0 - target).pow(2).sum()
    adjoint = 2 * (theta - target) / scale
    out = torch.zeros_like(images)
    for idx, xb, g in grads:
        out.index_add_(0, idx, -lr * torch.autograd.grad(g, xb, grad_outputs=adjoint)[0])
    return out


def test_loss_is_zero_when_the_student_lands_on_the_target():
    step_loss, theta0, _, images, labels, plan = tiny_problem()
    theta = theta0.clone()
    for idx, seed in zip(plan.batches, plan.seeds, strict=True):
        leaf = theta.clone().requires_grad_(True)
        theta = theta - 0.1 * torch.autograd.grad(step_loss(leaf, images[idx], labels[idx], seed), leaf)[0]
    result = match_gradient(step_loss, theta0, theta, images, labels, plan, lr=0.1)
    assert float(result.loss) == pytest.approx(0.0, abs=1e-20)
    assert result.grad_images.abs().max() < 1e-12 and abs(float(result.grad_lr)) < 1e-12
    assert float(match_gradient(step_loss, theta0, theta0 + 1e-3, images, labels, plan, lr=0.1).loss) > 0


# --------------------------------------------------------------------------- the objective
def tiny_splits(n=12, seed=0):
    g = make_generator(seed)

    def ds(count):
        labels = torch.arange(3).repeat_interleave(count)
        return ImageDataset(
            torch.randn(len(labels), 3, 8, 8, generator=g) + labels.view(-1, 1, 1, 1),
            labels,
            ["a", "b", "c"],
            (0.5,) * 3,
            (0.25,) * 3,
        )

    return DatasetSplits(ds(n), ds(4), "tiny", "test")


@pytest.fixture(scope="module")
def buffer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("experts")
    splits = tiny_splits()
    train_experts(splits, folder, num=2, epochs=3, model_args=WIDTH, batch=16, device="cpu", progress=False)
    return splits, folder


def make_objective(folder, splits, **overrides):
    settings = {"syn_steps": 3, "expert_epochs": 1, "max_start_epoch": 2, "lr_lr": 1e-5, "lr_teacher": 0.01}
    cfg = DistillConfig(
        method="mtt", experts=folder and str(folder), model_args=dict(WIDTH), **{**settings, **overrides}
    )
    ctx = ObjectiveContext(
        cfg, 3, 3, (8, 8), torch.device("cpu"), make_dsa(), lambda: create_model("convnet", 3, 3, 8, **WIDTH)
    )
    return OBJECTIVES.get("mtt")(ctx), RealSampler(splits.train, torch.device("cpu"))


def one_iteration(objective, sampler, syn, labels, seed=0):
    x = syn.clone().requires_grad_(True)
    loss = objective.loss(sampler, x, labels, make_generator(seed))
    loss.backward()
    return loss, x.grad


def test_objective_delivers_gradients_to_pixels_and_step_size(buffer):
    splits, folder = buffer
    objective, sampler = make_objective(folder, splits)
    syn, labels = splits.train.images[::4].clone(), splits.train.labels[::4]
    loss, grad = one_iteration(objective, sampler, syn, labels)
    assert torch.isfinite(loss) and loss > 0 and grad.abs().sum() > 0
    assert objective.syn_lr.grad is not None and objective.syn_lr.grad != 0
    before = lr_of(objective)
    objective.after_step(lambda: syn, labels, make_generator(0))
    assert lr_of(objective) != before and objective.syn_lr.grad is None
    assert set(objective.tensors()) == {"learned_lr"} and objective.tensors()["learned_lr"].shape == (1,)


def test_step_size_blow_up_is_rolled_back_and_logged(buffer, caplog):
    splits, folder = buffer
    objective, sampler = make_objective(folder, splits)
    syn, labels = splits.train.images[::4].clone(), splits.train.labels[::4]
    for it in range(2):
        one_iteration(objective, sampler, syn, labels, seed=it)
        objective.after_step(lambda: syn, labels, make_generator(0))
    good = lr_of(objective)
    one_iteration(objective, sampler, syn, labels)
    objective.syn_lr.grad = torch.tensor(1e12)  # a huge gradient: SGD drives the step size far below zero
    with caplog.at_level(logging.WARNING, logger="latentdd.mtt"):
        objective.after_step(lambda: syn, labels, make_generator(0))
    assert lr_of(objective) == good
    assert torch.all(objective.lr_optimizer.state[objective.syn_lr]["momentum_buffer"] == 0)
    assert "iteration 2" in caplog.text and "rolled back" in caplog.text
    objective.syn_lr.grad = torch.tensor(float("nan"))  # a NaN step is caught the same way
    objective.after_step(lambda: syn, labels, make_generator(0))
    assert lr_of(objective) == good and "became nan" in caplog.text


def test_nan_loss_reaches_the_engine_as_nan_without_a_gradient(buffer, caplog):
    """MTT hands a non-finite loss to the engine (which skips the update, halves the learning rates
    and stops after repeated blow-ups: tests/test_blowups.py); its own step size stays put."""
    splits, folder = buffer
    objective, sampler = make_objective(folder, splits)
    syn, labels = splits.train.images[::4].clone(), splits.train.labels[::4]
    syn[0, 0, 0, 0] = float("nan")
    lr = lr_of(objective)
    loss, grad = one_iteration(objective, sampler, syn, labels)
    assert torch.isnan(loss) and torch.all(grad == 0) and "not finite" in caplog.text
    objective.discard_step()
    assert lr_of(objective) == lr and objective.syn_lr.grad is None and objective.iteration == 1


def test_buffer_mismatches_are_user_errors(buffer):
    splits, folder = buffer
    with pytest.raises(UserError, match="max-start-epoch 3 .* at least 4 epochs"):
        make_objective(folder, splits, max_start_epoch=3, expert_epochs=2)
    with pytest.raises(UserError, match="without ZCA.*--zca false"):
        make_objective(folder, splits, zca=True)
    with pytest.raises(UserError, match="needs expert trajectories"):
        make_objective(None, splits)


# --------------------------------------------------------------------------- ZCA
def test_zca_whitens_to_identity_and_round_trips():
    g = make_generator(0)
    mix = torch.randn(48, 48, generator=g)
    x01 = (torch.randn(2000, 48, generator=g) @ mix * 0.05 + 0.5).reshape(-1, 3, 4, 4)
    ds = ImageDataset(
        (x01 - 0.4) / 0.2, torch.zeros(len(x01), dtype=torch.long), ["x"], (0.4,) * 3, (0.2,) * 3
    )
    white = ZCA.fit(ds, eps=1e-6).apply(ds.images).flatten(1).double()
    assert torch.allclose(torch.cov(white.T), torch.eye(48, dtype=torch.float64), atol=2e-3)
    # MTT's eps=0.1 on [0, 1] pixels: covariance S / (S + eps) along the eigenvectors
    zca = ZCA.fit(ds)
    cov01 = torch.cov(x01.flatten(1).T.double())
    s, u = torch.linalg.eigh(cov01)
    expected = u @ torch.diag(s / (s + 0.1)) @ u.T
    assert torch.allclose(torch.cov(zca.apply(ds.images).flatten(1).T.double()), expected, atol=1e-4)
    restored = ZCA.from_tensors(zca.to_tensors())
    assert torch.equal(restored.apply(ds.images[:5]), zca.apply(ds.images[:5]))
    # a step along pull_back(g) moves the whitened images by exactly g
    gw = torch.randn(5, 3, 4, 4, generator=g)
    moved = zca.apply(ds.images[:5] - 0.3 * restored.pull_back(gw))
    assert torch.allclose(moved, zca.apply(ds.images[:5]) - 0.3 * gw, atol=1e-4)
    splits = DatasetSplits(ds, ds.subset(torch.arange(10)), "t", "test")
    images, whitened = whiten_for_evaluation(zca.to_tensors(), ds.images[:5], splits)
    assert torch.allclose(images, zca.apply(ds.images[:5]))
    assert torch.allclose(whitened.test.images, zca.apply(ds.images[:10]))
    unchanged_images, unchanged = whiten_for_evaluation({}, ds.images, splits)
    assert unchanged_images is ds.images and unchanged is splits


def test_zca_experts_and_objective_share_the_transform(tmp_path):
    splits = tiny_splits()
    train_experts(
        splits, tmp_path, num=1, epochs=2, model_args=WIDTH, batch=16, zca=True, device="cpu", progress=False
    )
    objective, sampler = make_objective(tmp_path, splits, zca=True)
    fitted = ZCA.fit(splits.train)
    assert torch.allclose(objective.zca.transform, fitted.transform)
    saved = objective.tensors()
    assert {"learned_lr", "zca_mean", "zca_transform"} <= set(saved)
    loss, grad = one_iteration(objective, sampler, splits.train.images[::4].clone(), splits.train.labels[::4])
    assert torch.isfinite(loss) and grad.abs().sum() > 0


@pytest.mark.parametrize("space", ["pixel", "latent"])
def test_zca_gradient_per_space(tmp_path, space):
    """Latent space: the images the objective sees come from a generator, so it must return the gradient
    of the loss through the whitening (autograd through apply + the unrolled student).  Pixel space: MTT's
    step in whitened coordinates, which is a different direction (so the test can fail)."""
    splits = tiny_splits()
    train_experts(
        splits, tmp_path, num=1, epochs=3, model_args=WIDTH, batch=16, zca=True, device="cpu", progress=False
    )
    objective, sampler = make_objective(tmp_path, splits, zca=True, space=space)
    syn, labels = splits.train.images[::4].clone(), splits.train.labels[::4]
    _, grad = one_iteration(objective, sampler, syn, labels, seed=3)
    # the same draws as objective.loss, then autograd through whitening and the unrolled student
    generator = make_generator(3)
    k = int(torch.randint(len(objective.buffer), (1,), generator=generator))
    start = int(torch.randint(objective.ctx.cfg.max_start_epoch, (1,), generator=generator))
    theta0, target = objective.buffer.rows(k, [start, start + objective.ctx.cfg.expert_epochs])
    plan = UnrollPlan.draw(syn.shape[0], objective.ctx.cfg.syn_steps, syn.shape[0], generator)
    x = syn.clone().requires_grad_(True)
    loss = match_unrolled(
        objective.step_loss, theta0, target, objective.zca.apply(x), labels, plan, torch.tensor(0.01)
    )
    (expected,) = torch.autograd.grad(loss, x)
    error = float((grad - expected).norm() / expected.norm())
    assert (error < 1e-3) == (space == "latent"), error


# --------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def embedded_experts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embedded-experts")
    splits = api.load_dataset("embedded", image_size=8)
    train_experts(splits, folder, num=2, epochs=3, model_args=WIDTH, device="cpu", progress=False)
    return folder


def test_validation_scores_a_whitened_mtt_set_on_whitened_inputs(tmp_path, monkeypatch):
    """--layer auto / bench/validate_variants.py: a ZCA MTT set is evaluated on whitened inputs, so its
    validation scorers must train and test on whitened inputs too (they saw raw pixels before)."""
    from types import SimpleNamespace

    import latentdd.engine.layer_auto as layer_auto
    from latentdd.experts.buffer import ExpertBuffer

    splits = api.load_dataset("embedded", image_size=8)
    train_experts(
        splits, tmp_path / "x", num=1, epochs=2, model_args=WIDTH, zca=True, device="cpu", progress=False
    )
    cfg = build_config({
        "dataset": "embedded", "image_size": 8, "method": "mtt", "space": "pixel", "ipc": 1, "iterations": 1,
        "experts": str(tmp_path / "x"), "model_args": WIDTH, "syn_steps": 2, "expert_epochs": 1,
        "max_start_epoch": 1, "device": "cpu", "compile": "off", "layer_auto_models": ["mlp"],
        "layer_auto_epochs": 1, "layer_auto_val_per_class": 5,
    })  # fmt: skip
    seen = []

    def scorer(model, images, labels, test, **kw):  # records what a scorer would train and test on
        seen.append((images, test))
        return SimpleNamespace(accuracy=10.0)

    monkeypatch.setattr(layer_auto, "train_and_test", scorer)
    val = layer_auto.validation_splits(cfg, splits)
    scored = layer_auto.score_layer(cfg, 0, val, torch.device("cpu"), False)
    zca = ExpertBuffer(tmp_path / "x").zca()
    ((images, test),) = seen
    assert torch.allclose(images, zca.apply(scored.images), atol=1e-6)  # scorers: whitened; saved: raw
    assert torch.allclose(test.images, zca.apply(val.test.images), atol=1e-6)
    assert not torch.allclose(test.images, val.test.images, atol=1e-3)


@pytest.mark.parametrize("space", ["pixel", "latent"])
def test_mtt_end_to_end_through_the_api(embedded_experts, tmp_path, space, interrupted_distill):
    settings = {
        "dataset": "embedded",
        "image_size": 8,
        "method": "mtt",
        "space": space,
        "ipc": 1,
        "iterations": 3,
        "experts": str(embedded_experts),
        "model_args": WIDTH,
        "syn_steps": 2,
        "expert_epochs": 1,
        "max_start_epoch": 2,
        "lr_lr": 1e-5,
        "zca": False,
        "device": "cpu",
        "checkpoint_every": 1,
        "out": str(tmp_path / "run"),
        "compile": "off",
    }
    if space == "latent":
        settings.update(prior="random", layer=0)
    run = api.distill(build_config(settings), progress=False)
    saved = load_synset(run / "synset.safetensors")
    assert saved.images.shape == (10, 1, 8, 8) and torch.isfinite(saved.images).all()
    lr = saved.tensors["learned_lr"]
    assert lr.shape == (1,) and float(lr) > 0 and float(lr) != 0.01  # it learned
    if space == "latent":
        return
    # interrupted after two checkpointed iterations, then resumed: same set, same step size
    from latentdd.objectives.mtt import TrajectoryMatching

    interrupted_distill(
        build_config({**settings, "out": str(tmp_path / "cut")}), TrajectoryMatching, at_call=3
    )
    resumed = load_synset(api.resume(tmp_path / "cut", progress=False) / "synset.safetensors")
    assert torch.allclose(resumed.images, saved.images, atol=1e-6)
    assert float(resumed.tensors["learned_lr"]) == pytest.approx(float(lr), rel=1e-6)


def test_mtt_blow_up_is_rolled_back_by_the_engine(embedded_experts, tmp_path, monkeypatch):
    from latentdd.objectives.mtt import TrajectoryMatching

    original, calls = TrajectoryMatching.loss, {"n": 0}

    def nan_once(self, *args, **kwargs):
        value = original(self, *args, **kwargs)
        calls["n"] += 1
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(TrajectoryMatching, "loss", nan_once)
    settings = {
        "dataset": "embedded", "image_size": 8, "method": "mtt", "ipc": 1, "iterations": 3,
        "experts": str(embedded_experts), "model_args": WIDTH, "syn_steps": 2, "expert_epochs": 1,
        "max_start_epoch": 2, "lr_lr": 1e-5, "zca": False, "device": "cpu", "compile": "off",
        "out": str(tmp_path / "run"),
    }  # fmt: skip
    run = api.distill(build_config(settings), progress=False)
    stats = json.loads((run / "distill.json").read_text())
    assert stats["blowup_events"] == [{"iteration": 1, "what": "loss"}]
    saved = load_synset(run / "synset.safetensors")
    assert torch.isfinite(saved.images).all() and float(saved.tensors["learned_lr"]) > 0


def test_presets_follow_the_mtt_table():
    p1 = resolve_preset("mtt", "paper", "cifar10", 1)
    assert (p1["syn_steps"], p1["expert_epochs"], p1["max_start_epoch"]) == (50, 2, 2)
    assert mtt_whitening("cifar10", 1) and not mtt_whitening("cifar10", 50) and "zca" not in p1
    assert (p1["lr_img"], p1["lr_lr"], p1["lr_teacher"], p1["iterations"]) == (100.0, 1e-7, 0.01, 5000)
    p50 = resolve_preset("mtt", "paper", "cifar10", 50)
    assert (p50["max_start_epoch"], p50["lr_img"]) == (40, 1000.0)
    assert resolve_preset("mtt", "paper", "cifar100", 50)["batch_syn"] == 125
    assert resolve_preset("mtt", "paper", "mnist", 10) == resolve_preset("mtt", "paper", "cifar10", 10)
    small = resolve_preset("mtt", "cpu-small", "cifar10", 10)
    assert small["iterations"] == 500 and small["max_start_epoch"] + small["expert_epochs"] - 1 <= 15
    assert build_config({"method": "mtt", "preset": "cpu-small", "ipc": 1}).syn_steps == small["syn_steps"]

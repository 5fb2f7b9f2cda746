"""Gradient matching (DC / DSA): distances, loss, outer/inner loops, BN, resume, end to end."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latentdd import api
from latentdd.augment import make_dsa
from latentdd.config import DistillConfig, build_config
from latentdd.data.dataset import ImageDataset
from latentdd.errors import UserError
from latentdd.nets import create_model
from latentdd.objectives import OBJECTIVES, ObjectiveContext, RealSampler
from latentdd.objectives.dc import resolve_loops
from latentdd.objectives.match import DISTANCES, gradient_distance
from latentdd.presets.dc import PUBLISHED_LOOPS, loops_for_ipc
from latentdd.seeding import make_generator
from latentdd.synth.io import load_synset

CLASSES = 3
CPU = torch.device("cpu")


def setup(method="dc", dsa=True, model_args=None, n=12, size=8, **cfg):
    g = make_generator(0)
    images = torch.randn(CLASSES * n, 1, size, size, generator=g)
    labels = torch.arange(CLASSES).repeat_interleave(n)
    images[labels == 1, :, : size // 2] += 2.0  # make the classes differ
    train = ImageDataset(images, labels, [str(c) for c in range(CLASSES)], (0.0,), (1.0,))
    config = DistillConfig(method=method, ipc=2, batch_real=4, batch_train=4, **cfg)
    margs = model_args or {"width": 8, "depth": 1}
    ctx = ObjectiveContext(
        config,
        CLASSES,
        1,
        (size, size),
        CPU,
        make_dsa(digits=True) if dsa else None,
        lambda: create_model("convnet", 1, CLASSES, size, **margs),
    )
    return train, ctx, OBJECTIVES.get(method)(ctx)


def syn_set(ipc=2, size=8, seed=5):
    syn = torch.randn(CLASSES * ipc, 1, size, size, generator=make_generator(seed), requires_grad=True)
    return syn, torch.arange(CLASSES).repeat_interleave(ipc)


# --- distances -----------------------------------------------------------------------------


def hand_made_gradients():
    g = make_generator(1)
    shapes = [(4, 2, 3, 3), (4,), (5, 4 * 2 * 2), (5,)]  # conv w, conv b, linear w, linear b
    real = [torch.randn(s, generator=g) for s in shapes]
    syn = [torch.randn(s, generator=g) for s in shapes]
    return syn, real


def direct_ours(syn, real):
    """The reference distance_wb written out row by row."""
    total = 0.0
    for gs, gr in zip(syn, real, strict=True):
        if gr.dim() == 1:
            continue
        for a, b in zip(gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1), strict=True):
            total += 1 - float((a * b).sum()) / (float(a.norm()) * float(b.norm()) + 1e-6)
    return total


def test_distances_match_a_direct_reimplementation():
    syn, real = hand_made_gradients()
    flat_s = torch.cat([t.flatten() for t in syn])
    flat_r = torch.cat([t.flatten() for t in real])
    expected = {
        "ours": direct_ours(syn, real),
        "mse": float(((flat_s - flat_r) ** 2).sum()),
        "cos": 1 - float(flat_s @ flat_r) / (float(flat_s.norm()) * float(flat_r.norm()) + 1e-6),
    }
    assert set(DISTANCES.names()) == set(expected)
    for name, value in expected.items():
        got = gradient_distance(name)(syn, real)
        assert got.shape == () and float(got) == pytest.approx(value, rel=1e-5), name
        # identical gradients are at distance (numerically) zero
        assert abs(float(gradient_distance(name)(real, real))) < 1e-5, name
        # a leading class dimension gives one distance per class
        stacked = gradient_distance(name)(
            [torch.stack([s, r]) for s, r in zip(syn, real, strict=True)],
            [torch.stack([r, r]) for r in real],
            batch_dims=1,
        )
        assert stacked.shape == (2,) and float(stacked[0]) == pytest.approx(value, rel=1e-5)
        assert abs(float(stacked[1])) < 1e-5


def test_ours_ignores_one_dimensional_parameters_but_mse_and_cos_do_not():
    syn, real = hand_made_gradients()
    other = [s + 10 * torch.ones_like(s) if s.dim() == 1 else s for s in syn]  # change only biases
    assert float(gradient_distance("ours")(other, real)) == pytest.approx(
        float(gradient_distance("ours")(syn, real))
    )
    for name in ("mse", "cos"):
        assert float(gradient_distance(name)(other, real)) != pytest.approx(
            float(gradient_distance(name)(syn, real))
        )
    # "ours" is scale-invariant per row (cosine), mse is not
    scaled = [3 * s for s in syn]
    assert float(gradient_distance("ours")(scaled, real)) == pytest.approx(direct_ours(syn, real), rel=1e-5)


def test_unknown_metric_is_a_user_error():
    with pytest.raises(UserError, match="ours"):
        setup(dis_metric="l2")


# --- the loss ------------------------------------------------------------------------------


def reference_loss(ctx, train, syn, syn_labels, seed, siamese):
    """Replay the objective's draws, then compute DC/DSA class by class as the published code."""
    g = make_generator(seed)
    net = ctx.fresh_model(g).train()
    params = list(net.parameters())
    real = train.images[train.sample_per_class(ctx.cfg.batch_real, g)]
    draw = ctx.dsa.sample_per_class(CLASSES, g) if siamese else None
    if draw is not None:  # the seed gives classes different families: the per-class draw is covered
        assert len({draw.row(c).family for c in range(CLASSES)}) > 1
    loss = torch.zeros(())
    for c in range(CLASSES):
        r = real[c * ctx.cfg.batch_real : (c + 1) * ctx.cfg.batch_real]
        s = syn[syn_labels == c]
        if draw is not None:
            # the reference: one DiffAugment call per class, its own family and row
            r = ctx.dsa.apply(r, draw.row(c), groups=torch.zeros(len(r), dtype=torch.long))
            s = ctx.dsa.apply(s, draw.row(c), groups=torch.zeros(len(s), dtype=torch.long))
        gr = torch.autograd.grad(F.cross_entropy(net(r), torch.full((len(r),), c)), params)
        gs = torch.autograd.grad(F.cross_entropy(net(s), torch.full((len(s),), c)), params, create_graph=True)
        loss = loss + direct_ours_t(gs, [t.detach() for t in gr])
    return loss


def direct_ours_t(syn, real):
    total = torch.zeros(())
    for gs, gr in zip(syn, real, strict=True):
        if gr.dim() > 1:
            a, b = gs.reshape(gs.shape[0], -1), gr.reshape(gr.shape[0], -1)
            total = total + (1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-6)).sum()
    return total


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_loss_equals_the_per_class_reference(method):
    train, ctx, obj = setup(method, dsa=True)  # DC must ignore the augmentation it is given
    syn, labels = syn_set()
    got = obj.loss(RealSampler(train, CPU), syn, labels, make_generator(7))
    ref = reference_loss(ctx, train, syn, labels, seed=7, siamese=method == "dsa")
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-5), (got, ref)
    (g1,) = torch.autograd.grad(got, syn)
    (g2,) = torch.autograd.grad(ref, syn)
    assert torch.allclose(g1, g2, rtol=1e-3, atol=1e-6) and g1.abs().sum() > 0
    if method == "dsa":  # the augmentation matters: without it the value differs
        plain = reference_loss(ctx, train, syn, labels, seed=7, siamese=False)
        assert not torch.allclose(got, plain)


def test_dsa_needs_augmentation_and_dc_uses_none():
    _, _, dc = setup("dc", dsa=True)
    assert dc.dsa is None
    with pytest.raises(UserError, match="--method dc"):
        setup("dsa", dsa=False)


@pytest.mark.parametrize("metric", ["ours", "mse", "cos"])
def test_pixel_steps_reduce_the_loss(metric):
    train, ctx, obj = setup("dc", dsa=False, outer_loop=1, dis_metric=metric)
    sampler = RealSampler(train, CPU)
    syn, labels = syn_set()
    syn = syn.detach()
    losses = []
    for _ in range(6):  # same seed: same network and real batch, so the losses are comparable
        x = syn.clone().requires_grad_(True)
        loss = obj.loss(sampler, x, labels, make_generator(3))
        (grad,) = torch.autograd.grad(loss, x)
        losses.append(float(loss.detach()))
        syn = syn - 0.5 * grad / grad.norm()
        obj.after_step(lambda s=syn: s, labels, make_generator(4))  # outer_loop 1: drops the network
        assert obj.net is None
    assert losses[-1] < losses[0] * 0.95, losses


# --- loops ----------------------------------------------------------------------------------


def test_ipc_rule_published_and_nearest_in_log_scale():
    assert loops_for_ipc(1) == (1, 1) and loops_for_ipc(10) == (10, 50) and loops_for_ipc(50) == (50, 10)
    for ipc, loops in PUBLISHED_LOOPS.items():
        assert loops_for_ipc(ipc) == loops
    assert loops_for_ipc(3) == (1, 1)  # log 3 < log(10/3)
    assert loops_for_ipc(4) == (10, 50)
    assert loops_for_ipc(15) == (20, 25)
    assert loops_for_ipc(100) == loops_for_ipc(1000) == (50, 10)
    cfg = DistillConfig(ipc=10, inner_loop=7)
    assert resolve_loops(cfg) == (10, 7)
    with pytest.raises(UserError, match="--outer-loop"):
        resolve_loops(DistillConfig(ipc=10, outer_loop=0))


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_presets_convert_outer_iterations_to_updates(method):
    paper = build_config({"method": method, "ipc": 10})
    assert (paper.outer_loop, paper.inner_loop, paper.iterations) == (10, 50, 10000)
    assert paper.lr_img == 0.1 and paper.momentum == 0.5 and paper.batch_real == 256 and paper.lr_net == 0.01
    assert paper.init == ("noise" if method == "dc" else "auto") and paper.dsa == (method == "dsa")
    small = build_config({"method": method, "ipc": 1, "preset": "cpu-small"})
    assert (small.outer_loop, small.inner_loop, small.iterations) == (1, 1, 200)
    assert build_config({"method": method, "ipc": 50, "preset": "cpu-small"}).iterations == 200 * 50
    # GLaD's distill_dc.py: one outer and one inner loop at every IPC, 1000 iterations, lr 1 / 0.001
    for ipc in (1, 10, 50):
        glad = build_config(
            {"method": method, "ipc": ipc, "preset": "glad", "space": "latent", "prior": "random"}
        )
        assert (glad.outer_loop, glad.inner_loop, glad.iterations) == (1, 1, 1000)
        assert (glad.lr_img, glad.lr_feat, glad.lr_latent, glad.batch_real) == (1.0, 1.0, 0.001, 256)
        assert glad.dsa == (method == "dsa")


def test_network_is_fresh_every_outer_loop_and_trained_in_between(monkeypatch):
    train, ctx, obj = setup("dsa", outer_loop=3, inner_loop=2, batch_syn=None)
    made = []
    factory = ctx.model_factory
    ctx.model_factory = lambda: made.append(1) or factory()
    trained = []
    original_train = obj.train_network
    obj.train_network = lambda *a: trained.append(obj.position) or original_train(*a)
    steps = {"n": 0}
    sgd_step = torch.optim.SGD.step
    monkeypatch.setattr(
        torch.optim.SGD,
        "step",
        lambda self, *a, **k: steps.__setitem__("n", steps["n"] + 1) or sgd_step(self, *a, **k),
    )
    sampler = RealSampler(train, CPU)
    syn, labels = syn_set(ipc=2)  # 6 images, batch_train 4: 2 batches per epoch
    syn = syn.detach()
    g = make_generator(0)
    nets = []
    for _ in range(7):
        x = syn.clone().requires_grad_(True)
        obj.loss(sampler, x, labels, g).backward()
        nets.append(obj.net)
        before = [p.detach().clone() for p in obj.net.parameters()]
        syn = syn - 0.1 * x.grad
        obj.after_step(lambda s=syn: s, labels, g)
        if obj.net is not None:  # trained in between: the weights moved
            assert any(not torch.equal(b, p) for b, p in zip(before, obj.net.parameters(), strict=True))
    assert len(made) == 3  # updates 0, 3 and 6
    assert nets[0] is nets[1] is nets[2] and nets[3] is nets[4] is nets[5]
    assert nets[2] is not nets[3] and nets[5] is not nets[6]
    assert trained == [1, 2, 1, 2, 1]  # after updates 0, 1, 3, 4, 6: not after the last of an outer loop
    assert steps["n"] == 5 * 2 * 2  # calls x inner_loop epochs x batches
    assert obj.state_dict()["position"] == 1 and obj.state_dict()["has_net"]


def test_batchnorm_network_uses_real_statistics():
    train, ctx, obj = setup("dc", dsa=False, model_args={"width": 8, "depth": 1, "norm": "batchnorm"}, n=20)
    syn, labels = syn_set()
    obj.loss(RealSampler(train, CPU), syn, labels, make_generator(9))
    # replay: the network's init, then 16 real images per class for the statistics
    g = make_generator(9)
    ctx.fresh_model(g)
    real = train.images[train.sample_per_class(16, g)]
    bn = obj.net.features[1]
    assert isinstance(bn, torch.nn.BatchNorm2d)
    with torch.no_grad():
        h = obj.net.features[0](real)
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(bn.running_var, h.var((0, 2, 3), unbiased=True), rtol=1e-4, atol=1e-5)
    assert not bn.training and obj.net.training  # BN frozen, the rest in train mode
    assert bn.momentum == 0.1  # restored


# --- through the engine -------------------------------------------------------------------------


def write_tiny_dataset(root, size=8):
    rng = np.random.default_rng(0)
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True)
    for split, n in (("train", 10), ("test", 3)):
        y = np.repeat(np.arange(CLASSES), n)
        x = rng.integers(0, 256, (len(y), size, size), dtype=np.uint8)
        x[y == 1, : size // 2] = 255
        np.savez(folder / f"{split}.npz", x=x, y=y)
    (folder / "classes.txt").write_text("a\nb\nc\n")
    return root


@pytest.fixture
def dc_settings(tiny_settings, tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    return {
        **tiny_settings,
        "dataset": "fashion-mnist",
        "data_dir": str(data),
        "image_size": None,
        "method": "dc",
        "preset": "cpu-small",
        "iterations": 7,
        "outer_loop": 3,
        "inner_loop": 2,
        "batch_real": 4,
        "batch_train": 4,
        "model_args": {"width": 8, "depth": 1},
    }


@pytest.mark.parametrize("method", ["dc", "dsa"])
def test_resume_after_interruption_matches_uninterrupted(dc_settings, tmp_path, interrupted_distill, method):
    settings = {**dc_settings, "method": method}
    full = api.distill(build_config(settings), progress=False)
    expected = load_synset(full / "synset.safetensors").images

    from latentdd.objectives.dc import GradientMatching

    cut = {**settings, "out": str(tmp_path / "cut")}
    # the 6th loss call: after the checkpoint at iteration 4, mid outer loop, with a trained network
    interrupted_distill(build_config(cut), GradientMatching, at_call=6)
    resumed = api.resume(tmp_path / "cut", progress=False)
    assert torch.allclose(load_synset(resumed / "synset.safetensors").images, expected, atol=1e-6)


@pytest.mark.parametrize("method", ["dc", "dsa"])
@pytest.mark.parametrize("space", ["pixel", "latent"])
def test_end_to_end(dc_settings, tmp_path, method, space):
    settings = {
        **dc_settings,
        "method": method,
        "space": space,
        "iterations": 4,
        "checkpoint_every": 0,
        "out": str(tmp_path / f"{method}-{space}"),
    }
    if space == "latent":
        settings.update(prior="random", layer=1, image_size=16)  # the random prior has layer 1 from 16 px
    run = api.distill(build_config(settings), progress=False)
    saved = load_synset(run / "synset.safetensors")
    assert saved.images.shape[0] == CLASSES * 2 and saved.meta["method"] == method
    assert torch.isfinite(saved.images).all()
    losses = json.loads((run / "distill.json").read_text())["loss"]
    assert len(losses) == 4 and all(np.isfinite(losses)) and losses[0] > 0
    if space == "latent":
        assert {"latent_f", "latent_w"} <= set(saved.tensors)

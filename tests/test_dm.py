"""DM: the batched loss must equal the reference's one-pass-per-class loss."""

import torch

from latentdd.augment import make_dsa
from latentdd.config import DistillConfig
from latentdd.data.dataset import ImageDataset
from latentdd.nets import create_model
from latentdd.objectives import OBJECTIVES, ObjectiveContext, RealSampler
from latentdd.seeding import make_generator


def setup(dsa=True, classes=3, n=20):
    g = make_generator(0)
    images = torch.randn(classes * n, 1, 16, 16, generator=g)
    labels = torch.arange(classes).repeat_interleave(n)
    train = ImageDataset(images, labels, [str(c) for c in range(classes)], (0.0,), (1.0,))
    cfg = DistillConfig(batch_real=8)
    ctx = ObjectiveContext(
        cfg,
        classes,
        1,
        (16, 16),
        torch.device("cpu"),
        make_dsa(digits=True) if dsa else None,
        lambda: create_model("convnet", 1, classes, 16, width=16, depth=2),
    )
    return train, ctx


def reference_dm_loss(ctx, train, syn, syn_labels, seed):
    """Replay the same draws as the objective, then compute DM class by class as the published code."""
    g = make_generator(seed)
    net = ctx.fresh_model(g).train().requires_grad_(False)
    idx = train.sample_per_class(ctx.cfg.batch_real, g)
    real = train.images[idx]
    params = ctx.dsa.sample_per_class(ctx.num_classes, g) if ctx.dsa else None
    if params is not None:  # the seed gives classes different families: the per-class draw is covered
        assert len({params.row(c).family for c in range(ctx.num_classes)}) > 1
    loss = torch.zeros(())
    for c in range(ctx.num_classes):
        r = real[c * ctx.cfg.batch_real : (c + 1) * ctx.cfg.batch_real]
        s = syn[syn_labels == c]
        if params is not None:
            # the reference: one DiffAugment call per class, its own family and row
            r = ctx.dsa.apply(r, params.row(c), groups=torch.zeros(len(r), dtype=torch.long))
            s = ctx.dsa.apply(s, params.row(c), groups=torch.zeros(len(s), dtype=torch.long))
        loss = loss + ((net.embed(r).mean(0) - net.embed(s).mean(0)) ** 2).sum()
    return loss


def test_batched_dm_equals_per_class_reference():
    for dsa in (False, True):
        train, ctx = setup(dsa)
        syn = torch.randn(6, 1, 16, 16, generator=make_generator(5), requires_grad=True)
        syn_labels = torch.arange(3).repeat_interleave(2)
        dm = OBJECTIVES.get("dm")(ctx)
        batched = dm.loss(RealSampler(train, torch.device("cpu")), syn, syn_labels, make_generator(7))
        ref = reference_dm_loss(ctx, train, syn, syn_labels, seed=7)
        assert torch.allclose(batched, ref, rtol=1e-4, atol=1e-5), (dsa, batched, ref)
        (g1,) = torch.autograd.grad(batched, syn)
        (g2,) = torch.autograd.grad(ref, syn)
        assert torch.allclose(g1, g2, rtol=1e-3, atol=1e-6)
        assert g1.abs().sum() > 0


def test_dm_step_reduces_the_loss_it_measures():
    train, ctx = setup(dsa=False)
    syn = torch.randn(6, 1, 16, 16, generator=make_generator(5), requires_grad=True)
    labels = torch.arange(3).repeat_interleave(2)
    dm = OBJECTIVES.get("dm")(ctx)
    sampler = RealSampler(train, torch.device("cpu"))
    before = dm.loss(sampler, syn, labels, make_generator(3))
    (grad,) = torch.autograd.grad(before, syn)
    after = dm.loss(sampler, (syn - 0.1 * grad).detach(), labels, make_generator(3))
    assert after < before


def test_fresh_networks_run_channels_last_with_the_same_features():
    """The speed layout (memory_format.py) must not change what the network computes."""
    import copy

    from latentdd.compile import eager_embed

    _, ctx = setup()
    net = ctx.fresh_model(make_generator(0))
    conv = net.features[4]  # the second conv: 16 -> 16 channels (a 1-channel weight is both layouts)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    nchw = copy.deepcopy(net).to(memory_format=torch.contiguous_format)
    assert not nchw.features[4].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(6, 1, 16, 16, generator=make_generator(1))
    torch.testing.assert_close(eager_embed(net, x), nchw.embed(x), atol=1e-5, rtol=1e-4)


def test_real_images_are_embedded_in_bounded_chunks_with_the_same_loss(monkeypatch):
    from latentdd.objectives import dm as dm_module

    train, ctx = setup(dsa=True)
    calls = []
    embed = ctx.embed
    ctx.embed = lambda net, x: calls.append(x.shape[0]) or embed(net, x)
    syn = torch.randn(6, 1, 16, 16, generator=make_generator(5))
    syn_labels = torch.arange(3).repeat_interleave(2)
    dm = OBJECTIVES.get("dm")(ctx)
    whole = dm.loss(RealSampler(train, torch.device("cpu")), syn, syn_labels, make_generator(7))
    assert calls == [24, 6]  # one pass for 3 x 8 real images, one for the synthetic ones
    monkeypatch.setattr(dm_module, "REAL_CHUNK_PIXELS", 5 * 16 * 16)  # 5 real images per pass
    calls.clear()
    chunked = dm.loss(RealSampler(train, torch.device("cpu")), syn, syn_labels, make_generator(7))
    assert calls == [5, 5, 5, 5, 4, 6] and torch.allclose(whole, chunked, rtol=1e-5)


def test_convnet_depth_follows_the_resolution_unless_given():
    from latentdd.nets.convnet import depth_for

    assert [depth_for(s) for s in (28, 32, 64, 128)] == [3, 3, 4, 5]
    assert len(create_model("convnet", 3, 10, 64, width=8).features) == len(
        create_model("convnetd4", 3, 10, 64, width=8).features
    )
    assert len(create_model("convnet", 3, 10, 64, width=8, depth=2).features) < len(
        create_model("convnet", 3, 10, 64, width=8).features
    )

"""The model zoo: names, shapes, options, seeding and differentiability w.r.t. the input.

Shapes of *every* registered model are checked on the ``meta`` device (shape propagation
without arithmetic), so the whole zoo fits in seconds on a shared CPU; one representative
per family is then run for real, forward and backward.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from latentdd.errors import UserError
from latentdd.nets import MODELS, ZooModel, create_model, list_models, model_options, register_model
from latentdd.seeding import seeded_global_rng

SHAPES = [(1, 28), (3, 32)]  # (channels, image size): MNIST-like and CIFAR-like
# resnet18_ap shares its blocks with resnet18 (its forward is covered by the shape tests)
REPRESENTATIVES = ["convnet", "alexnet", "vgg11", "resnet18", "vit", "mlp", "lenet"]


def count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


# ---- registry ---------------------------------------------------------------------------


def test_names_and_wildcards() -> None:
    names = list_models()
    for required in [
        "convnet",
        "convnetbn",
        "convnetd1",
        "convnetd2",
        "convnetd3",
        "convnetd4",
        "convnetw32",
        "convnetw64",
        "convnetw256",
        "convnetln",
        "convnetnn",
        "alexnet",
        "alexnetbn",
        "vgg11",
        "vgg11bn",
        "resnet18",
        "resnet18bn",
        "resnet18_ap",
        "resnet18bn_ap",
        "vit",
        "mlp",
        "lenet",
    ]:
        assert required in names
    assert names == sorted(names) and all(n == n.lower() for n in names)
    assert list_models("resnet18*") == ["resnet18", "resnet18_ap", "resnet18bn", "resnet18bn_ap"]
    assert {"convnetd1", "convnetd2", "convnetd3", "convnetd4"} <= set(list_models("convnetd?"))
    assert "convnet" not in list_models("convnetd*")
    assert list_models("VGG11*") == ["vgg11", "vgg11bn"]  # case-insensitive
    assert list_models("nosuchnet*") == []


def test_unknown_names_and_options_raise_user_error() -> None:
    with pytest.raises(UserError, match="unknown model 'resnet19'.*resnet18"):
        create_model("resnet19", 3, 10, 32)
    with pytest.raises(UserError, match="unknown normalization 'fancynorm'.*instancenorm"):
        create_model("convnet", 3, 10, 32, norm="fancynorm")
    with pytest.raises(UserError, match="unknown activation"):
        create_model("convnet", 3, 10, 32, act="tanhh")
    with pytest.raises(UserError, match="unknown pooling"):
        create_model("convnet", 3, 10, 32, pooling="sumpooling")
    with pytest.raises(UserError, match="no option 'depth'.*norm"):
        create_model("vgg11", 3, 10, 32, depth=4)
    with pytest.raises(UserError, match="fixes norm='batchnorm'"):
        create_model("convnetbn", 3, 10, 32, norm="layernorm")
    with pytest.raises(UserError, match="downsamples a 8x8 image to nothing"):
        create_model("convnetd4", 3, 10, 8)
    with pytest.raises(UserError, match="num_classes >= 1"):
        create_model("convnet", 3, 0, 32)
    # A preset passed with its own value is fine.
    assert count(create_model("convnetbn", 3, 10, 32, norm="batchnorm", width=8), nn.BatchNorm2d) == 3


def test_register_model_decorator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MODELS, "_entries", dict(MODELS._entries))  # keep the global zoo clean

    class Tiny(ZooModel):
        def __init__(self, channels: int, num_classes: int, image_size: tuple[int, int]) -> None:
            super().__init__()
            self.feature_dim = channels
            self.classifier = nn.Linear(channels, num_classes)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    @register_model
    def TinyNet(channels: int, num_classes: int, image_size: tuple[int, int]) -> Tiny:
        return Tiny(channels, num_classes, image_size)

    assert "tinynet" in list_models("tiny*")
    net = create_model("TinyNet", 2, 5, 16)
    assert net(torch.zeros(4, 2, 16, 16)).shape == (4, 5)
    assert model_options("tinynet") == {}


# ---- shapes of the whole zoo ------------------------------------------------------------


@pytest.mark.parametrize("channels,size", SHAPES)
def test_every_model_gives_logits_and_embedding(channels: int, size: int) -> None:
    for name in list_models():
        with torch.device("meta"):  # no real allocation or init arithmetic
            model = create_model(name, channels, 7, size)
        x = torch.empty(3, channels, size, size, device="meta")
        feats = model.embed(x)
        assert feats.shape == (3, model.feature_dim), name
        assert model.classifier(feats).shape == (3, 7), name
        # forward is classifier(embed(x)) for the whole zoo (objectives rely on it)
        assert type(model).forward is ZooModel.forward, name
        assert model.model_name == name and model.model_config["image_size"] == (size, size)


@pytest.mark.parametrize(
    "name,channels,size,feature_dim",
    [
        ("convnet", 1, 28, 128 * 4 * 4),  # reference pads 28 -> 32 for grayscale
        ("convnet", 3, 32, 128 * 4 * 4),
        ("convnet", 3, 28, 128 * 3 * 3),
        ("convnetd1", 3, 32, 128 * 16 * 16),
        ("convnetd4", 3, 32, 128 * 2 * 2),
        ("convnetd5", 3, 128, 128 * 4 * 4),  # GLaD's 128 px setting
        ("convnetw32", 3, 32, 32 * 4 * 4),
        ("alexnet", 1, 28, 192 * 4 * 4),
        ("alexnet", 3, 64, 192 * 8 * 8),
        ("vgg11", 3, 32, 512),
        ("vgg11", 3, 28, 512),  # ceil-mode pooling keeps 28 px RGB alive
        ("resnet18", 3, 32, 512),
        ("resnet18", 3, 64, 512 * 2 * 2),
        ("resnet18_ap", 1, 28, 512 * 3 * 3),  # as the reference's ResNet_AP
        ("resnet18_ap", 3, 32, 512 * 4 * 4),
        ("vit", 3, 30, 128),  # padded to a multiple of the patch size
        ("mlp", 3, 48, 128),
        ("lenet", 3, 32, 84),
    ],
)
def test_feature_dims_follow_the_image_size(name: str, channels: int, size: int, feature_dim: int) -> None:
    with torch.device("meta"):
        model = create_model(name, channels, 10, size)
    assert model.feature_dim == feature_dim
    assert model.embed(torch.empty(2, channels, size, size, device="meta")).shape == (2, feature_dim)


def test_non_square_images() -> None:
    model = create_model("convnet", 3, 10, (32, 48), width=8)
    assert model.feature_dim == 8 * 4 * 6
    assert model(torch.randn(2, 3, 32, 48)).shape == (2, 10)


# ---- options change the structure as asked ---------------------------------------------


def test_convnet_norms() -> None:
    def build(norm: str) -> nn.Module:
        return create_model("convnet", 3, 10, 32, width=16, norm=norm)

    inorm = [m for m in build("instancenorm").modules() if isinstance(m, nn.GroupNorm)]
    assert len(inorm) == 3 and all(m.num_groups == m.num_channels == 16 and m.affine for m in inorm)
    gnorm = [m for m in build("groupnorm").modules() if isinstance(m, nn.GroupNorm)]
    assert len(gnorm) == 3 and all(m.num_groups == 4 for m in gnorm)
    lnorm = [m.normalized_shape for m in build("layernorm").modules() if isinstance(m, nn.LayerNorm)]
    assert lnorm == [(16, 32, 32), (16, 16, 16), (16, 8, 8)]  # over C, H, W, before pooling
    bnorm = build("batchnorm")
    assert count(bnorm, nn.BatchNorm2d) == 3 and count(bnorm, nn.GroupNorm) == 0
    plain = build("none")
    assert sum(count(plain, k) for k in (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)) == 0
    # the named variants agree with the options
    assert count(create_model("convnetnn", 3, 10, 32, width=8), nn.GroupNorm) == 0
    assert count(create_model("convnetln", 3, 10, 32, width=8), nn.LayerNorm) == 3


def test_convnet_activation_pooling_depth_width() -> None:
    sig = create_model("convnetas", 3, 10, 32, width=8)
    assert count(sig, nn.Sigmoid) == 3 and count(sig, nn.ReLU) == 0
    assert count(create_model("convnet", 3, 10, 32, width=8, act="gelu"), nn.GELU) == 3
    assert count(create_model("convnetal", 3, 10, 32, width=8), nn.LeakyReLU) == 3
    mp = create_model("convnetmp", 3, 10, 32, width=8)
    assert count(mp, nn.MaxPool2d) == 3 and count(mp, nn.AvgPool2d) == 0
    assert count(create_model("convnet", 3, 10, 32, width=8), nn.AvgPool2d) == 3
    nopool = create_model("convnet", 3, 10, 16, width=8, pooling="none")
    assert count(nopool, nn.AvgPool2d) + count(nopool, nn.MaxPool2d) == 0
    assert nopool.feature_dim == 8 * 16 * 16
    for depth in range(1, 5):
        net = create_model(f"convnetd{depth}", 3, 10, 32, width=8)
        assert count(net, nn.Conv2d) == depth
    w = create_model("convnetw64", 3, 10, 32)
    assert {m.out_channels for m in w.modules() if isinstance(m, nn.Conv2d)} == {64}


@pytest.mark.parametrize("name", ["convnetbn", "alexnetbn", "vgg11bn", "resnet18bn", "resnet18bn_ap"])
def test_batchnorm_variants(name: str) -> None:
    net = create_model(name, 3, 10, 32)
    assert count(net, nn.BatchNorm2d) > 0 and count(net, nn.GroupNorm) == 0
    plain = create_model(name.replace("bn", ""), 3, 10, 32)
    assert count(plain, nn.BatchNorm2d) == 0
    if name != "alexnetbn":  # DC's AlexNet has no norm; the others default to instance norm
        assert count(plain, nn.GroupNorm) == count(net, nn.BatchNorm2d)


def test_resnet_downsampling_flavours() -> None:
    strided = create_model("resnet18", 3, 10, 32)
    ap = create_model("resnet18_ap", 3, 10, 32)
    assert {m.stride for m in strided.modules() if isinstance(m, nn.Conv2d)} == {(1, 1), (2, 2)}
    assert {m.stride for m in ap.modules() if isinstance(m, nn.Conv2d)} == {(1, 1)}
    assert count(ap, nn.AvgPool2d) == 6  # 3 downsampling blocks x (main path + shortcut)
    # CIFAR-style stem: 3x3, no max-pool
    assert strided.conv1.kernel_size == (3, 3) and count(strided, nn.MaxPool2d) == 0


# ---- seeding ------------------------------------------------------------------------------


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", ["convnet", "vit"])
def test_same_seed_same_weights(name: str) -> None:
    kwargs = {"width": 16} if name == "convnet" else {"dim": 32, "depth": 2}
    before = torch.random.get_rng_state()
    with seeded_global_rng(3):
        a = create_model(name, 3, 10, 32, **kwargs)
    with seeded_global_rng(3):
        b = create_model(name, 3, 10, 32, **kwargs)
    c = create_model(name, 3, 10, 32, seed=3, **kwargs)
    d = create_model(name, 3, 10, 32, seed=4, **kwargs)
    assert torch.equal(torch.random.get_rng_state(), before)  # caller's RNG untouched
    assert _same_weights(a, b) and _same_weights(a, c)
    assert not _same_weights(a, d)


def test_vit_layers_are_not_clones() -> None:
    # nn.TransformerEncoder deep-copies one layer; the ViT must re-initialize each.
    vit = create_model("vit", 3, 10, 32, dim=32, depth=2, seed=0)
    w0, w1 = (layer.self_attn.in_proj_weight for layer in vit.encoder.layers)
    assert not torch.equal(w0, w1)


# ---- differentiability (distillation optimizes the input) --------------------------------


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_gradients_reach_the_input(name: str) -> None:
    # 16 px keeps the big nets cheap; every family still downsamples to a non-empty map.
    model = create_model(name, 3, 10, 16, seed=0)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0), requires_grad=True)
    logits = model(x)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    loss = nn.functional.cross_entropy(logits, torch.tensor([1, 2]))
    (grad,) = torch.autograd.grad(loss, x)  # input only: the weights' gradients are not needed here
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("name,kwargs", [("convnet", {"width": 8}), ("vit", {"dim": 16, "depth": 1})])
def test_second_order_gradients(name: str, kwargs: dict) -> None:
    """Gradient matching (DC/DSA) and MTT backprop through parameter gradients; the ViT must
    not use an attention kernel without double backward."""
    model = create_model(name, 1, 4, 28, seed=0, **kwargs)
    x = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    grads = torch.autograd.grad(loss, list(model.parameters()), create_graph=True)
    sum((g**2).sum() for g in grads).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "name", ["convnet", "convnetnn", "convnetal", "alexnet", "vgg11", "resnet18", "mlp", "lenet"]
)
def test_in_place_activations_change_nothing_but_speed(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """ReLUs run in place (the published networks' speed trick): outputs, input gradients and the
    second-order gradients that DC/DSA/MTT differentiate must equal the out-of-place network's, and
    autograd must not object (it raises if an in-place op overwrote a tensor saved for backward)."""
    import copy

    import torch.nn.functional as F

    model = create_model(name, 1, 4, 28, seed=0, **({"width": 8} if name.startswith("convnet") else {}))
    assert any(getattr(m, "inplace", False) for m in model.modules()) or name == "resnet18"
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if hasattr(m, "inplace"):
            m.inplace = False
    relu = F.relu
    results = []
    for net in (model, twin):
        if net is twin:  # ResNet calls F.relu(..., inplace=True) itself
            monkeypatch.setattr(F, "relu", lambda t, inplace=False: relu(t))
        x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
        logits = net(x)
        loss = nn.functional.cross_entropy(logits, torch.tensor([0, 3, 1]))
        grads = torch.autograd.grad(loss, list(net.parameters()), create_graph=True)
        sum((g**2).sum() for g in grads).backward()
        results.append((logits.detach(), x.grad))
    (a_out, a_grad), (b_out, b_grad) = results
    assert torch.equal(a_out, b_out)
    assert torch.allclose(a_grad, b_grad, rtol=1e-5, atol=1e-7) and a_grad.abs().sum() > 0


def test_rebuild_from_recorded_config() -> None:
    a = create_model("convnetd2", 1, 5, 28, width=8, seed=0)
    b = create_model(a.model_name, seed=0, **a.model_config)
    assert _same_weights(a, b)

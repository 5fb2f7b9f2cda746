"""The optional torch.compile path gives the eager results (it only fuses kernels)."""

import pytest
import torch

from latentdd.compile import AUTO_MIN_ITERATIONS, can_compile, choose_embed, compiled_embed, eager_embed
from latentdd.errors import UserError
from latentdd.nets import create_model


def test_choice_rules():
    cpu = torch.device("cpu")
    assert choose_embed("off", 10**6, cpu) is eager_embed
    assert choose_embed("auto", AUTO_MIN_ITERATIONS - 1, cpu) is eager_embed
    with pytest.raises(UserError, match="--compile must be"):
        choose_embed("sometimes", 10, cpu)


@pytest.mark.skipif(not can_compile(torch.device("cpu")), reason="no C compiler for inductor")
def test_compiled_embed_matches_eager_for_fresh_networks():
    fn = compiled_embed()
    x = torch.randn(6, 1, 16, 16)
    for seed in (0, 1):  # a second, different network reuses the compiled graph
        torch.manual_seed(seed)
        net = create_model("convnet", 1, 3, 16, width=8, depth=2).requires_grad_(False)
        xs = x.clone().requires_grad_(True)
        out = fn(net, xs)
        (g,) = torch.autograd.grad(out.square().sum(), xs)
        xe = x.clone().requires_grad_(True)
        ref = eager_embed(net, xe)
        (ge,) = torch.autograd.grad(ref.square().sum(), xe)
        assert torch.allclose(out, ref, atol=1e-5) and torch.allclose(g, ge, atol=1e-5)

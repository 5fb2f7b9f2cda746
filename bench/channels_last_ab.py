"""A/B in one process: a DM iteration with channels-last (NHWC) networks against NCHW ones.

Same setting as ``bench/dm_speed.py`` on the MNIST shape (IPC 10, ConvNet-3 width 128, 256 real
images per class, DSA); the two variants are timed in turn (median of 5 after one warm-up), so
load that comes and goes hits both alike.

    python bench/channels_last_ab.py compiled     # or: eager
"""

import sys

import torch
from dm_speed import interleaved_medians  # bench/ is on the path when run as a script

from latentdd.augment import make_dsa
from latentdd.compile import eager_embed
from latentdd.config import DistillConfig
from latentdd.data.dataset import ImageDataset
from latentdd.engine.steps import distill_step
from latentdd.nets import create_model
from latentdd.objectives import OBJECTIVES, ObjectiveContext, RealSampler
from latentdd.seeding import draw_seed, make_generator, seeded_global_rng
from latentdd.synth.pixel import PixelSet

mode = sys.argv[1] if len(sys.argv) > 1 else "compiled"
classes, ipc, n_real, ch, size = 10, 10, 256, 1, 28
g = make_generator(0)
train = ImageDataset(
    torch.randn(classes * n_real, ch, size, size, generator=g),
    torch.arange(classes).repeat_interleave(n_real),
    [str(c) for c in range(classes)],
    (0.5,),
    (0.25,),
)
cfg = DistillConfig(batch_real=n_real, ipc=ipc)


class NCHWContext(ObjectiveContext):
    """The context before the change: networks stay in PyTorch's default NCHW layout."""

    def fresh_model(self, generator):
        with seeded_global_rng(draw_seed(generator)):
            return self.model_factory()


def plain(net, x):
    return net.embed(x)


if mode == "compiled":
    nhwc_embed, nchw_embed = torch.compile(eager_embed, dynamic=False), torch.compile(plain, dynamic=False)
else:
    nhwc_embed, nchw_embed = eager_embed, plain


def factory():
    return create_model("convnet", ch, classes, size)


ctxs = {
    "nhwc": ObjectiveContext(
        cfg, classes, ch, (size, size), torch.device("cpu"), make_dsa(digits=False), factory, embed=nhwc_embed
    ),
    "nchw": NCHWContext(
        cfg, classes, ch, (size, size), torch.device("cpu"), make_dsa(digits=False), factory, embed=nchw_embed
    ),
}
sampler = RealSampler(train, torch.device("cpu"))
labels = torch.arange(classes).repeat_interleave(ipc)
fns = {}
for k, ctx in ctxs.items():
    obj = OBJECTIVES.get("dm")(ctx)
    syn = PixelSet(torch.randn(classes * ipc, ch, size, size, generator=g), labels, classes)
    opt = torch.optim.SGD(syn.param_groups(cfg), lr=1.0, momentum=0.5)
    fns[k] = lambda s=syn, o=opt, ob=obj: distill_step(s, ob, sampler, o, g)
medians = interleaved_medians(fns, repeats=5, warmup=1)
print(
    mode,
    {k: round(v, 2) for k, v in medians.items()},
    f"nchw / nhwc = {medians['nchw'] / medians['nhwc']:.2f}",
)

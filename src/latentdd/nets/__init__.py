"""The model zoo of dataset distillation, by name.

>>> from latentdd.nets import create_model, list_models
>>> net = create_model("convnet", channels=3, num_classes=10, image_size=32)
>>> list_models("resnet18*")
['resnet18', 'resnet18_ap', 'resnet18bn', 'resnet18bn_ap']

Every model has ``embed(x) -> [B, feature_dim]`` and ``forward(x) = classifier(embed(x))``.
Importing this package registers all families (each registers itself in its own file).
"""

from . import alexnet, convnet, lenet, mlp, resnet, vgg, vit  # noqa: F401  (registration)
from .base import ZooModel
from .norms import NORMS, make_norm, norm_names
from .registry import MODELS, create_model, list_models, model_options, register_model, register_variant

__all__ = [
    "MODELS",
    "NORMS",
    "ZooModel",
    "create_model",
    "list_models",
    "make_norm",
    "model_options",
    "norm_names",
    "register_model",
    "register_variant",
]

"""Expert trajectories for trajectory matching (MTT): training and the on-disk buffer."""

from .buffer import ExpertBuffer, ExpertSettings, expert_path, read_expert_header
from .train import ExpertsReport, train_experts

__all__ = [
    "ExpertBuffer",
    "ExpertSettings",
    "ExpertsReport",
    "expert_path",
    "read_expert_header",
    "train_experts",
]

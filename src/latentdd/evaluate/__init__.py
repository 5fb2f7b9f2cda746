"""Train fresh networks on a synthetic set under a named protocol and report test accuracy.

``evaluate_synset`` gives the ``metrics.json`` dict (mean ± std per architecture,
cross-architecture mean); ``evaluate_random_baseline`` the random-real baseline under
the same protocol; ``train_and_test`` is the single training run both are made of.
"""

from .baseline import evaluate_random_baseline, random_real_subset
from .metrics import evaluate_synset, format_table, summarize
from .protocols import PROTOCOLS, EvalProtocol, get_protocol
from .train import RunResult, lr_schedule, measure_accuracy, train_and_test

__all__ = [
    "PROTOCOLS",
    "EvalProtocol",
    "RunResult",
    "evaluate_random_baseline",
    "evaluate_synset",
    "format_table",
    "get_protocol",
    "lr_schedule",
    "measure_accuracy",
    "random_real_subset",
    "summarize",
    "train_and_test",
]

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

# Tests never touch the user's cache.
os.environ.setdefault(
    "LATENTDD_CACHE", os.path.join(os.path.dirname(__file__), "..", ".pytest_cache", "latentdd")
)

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_bench_script(script: str, module_name: str | None = None) -> ModuleType:
    """``bench/<script>.py`` as a module (the bench scripts are scripts, not a package).  It is
    registered under ``module_name`` (default: the script's name) while it runs, because dataclasses
    look their module up while the class is made; a second name gives a second, independent copy."""
    name = module_name or script
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


#: A distillation that takes about a second: embedded data at 16 px, tiny ConvNet (module-scoped
#: fixtures, which cannot use `tiny_settings`, import it and override what they need).
TINY_SETTINGS = {
    "dataset": "embedded",
    "image_size": 16,
    "ipc": 2,
    "iterations": 4,
    "batch_real": 8,
    "model": "convnet",
    "model_args": {"width": 16, "depth": 2},
    "checkpoint_every": 2,
    "seed": 3,
    "device": "cpu",
    "eval_protocol": "quick",
    "eval_models": ["convnetd1", "mlp"],
    "eval_epochs": 2,
    "eval_runs": 1,
}


@pytest.fixture
def tiny_settings(tmp_path):
    """:data:`TINY_SETTINGS` writing into this test's folder."""
    return {**TINY_SETTINGS, "out": str(tmp_path / "run")}


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tests use tiny networks: one thread is faster than two (no OpenMP spin), and it keeps
    the suite from fighting other work on a 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def interrupted_distill(monkeypatch):
    """``run(cfg, objective_cls, at_call)``: distill ``cfg`` and interrupt it (KeyboardInterrupt, as a
    kill) at the objective's ``at_call``-th loss; the real loss is back afterwards, so ``api.resume``
    continues the run from its last checkpoint."""
    from latentdd import api

    def run(cfg, objective_cls, at_call):
        original, calls = objective_cls.loss, {"n": 0}

        def dying_loss(self, *a, **k):
            calls["n"] += 1
            if calls["n"] == at_call:
                raise KeyboardInterrupt
            return original(self, *a, **k)

        monkeypatch.setattr(objective_cls, "loss", dying_loss)
        try:
            with pytest.raises(KeyboardInterrupt):
                api.distill(cfg, progress=False)
        finally:
            monkeypatch.setattr(objective_cls, "loss", original)

    return run

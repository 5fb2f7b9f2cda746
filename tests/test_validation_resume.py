"""A validation variant (bench/validate_variants.py, score_layer) killed mid-way continues where it
stopped -- in its distillation or among its scorers -- and scores exactly what an uninterrupted one does."""

import pytest
import torch
from conftest import load_bench_script

import latentdd.engine.layer_auto as layer_auto
import latentdd.engine.steps as steps
from latentdd import api
from latentdd.config import build_config


def _dying(monkeypatch, module, name: str, at_call: int) -> dict[str, int]:
    """Replace ``module.name`` by a counting wrapper that raises KeyboardInterrupt (a kill) at
    ``at_call`` (0: never); returns the counter."""
    original, calls = getattr(module, name), {"n": 0}

    def wrapper(*a, **k):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_a_killed_validation_continues_where_it_stopped_with_the_same_score(
    tiny_settings, tmp_path, monkeypatch
):
    monkeypatch.setattr(layer_auto, "RESUME_EVERY_ITERATIONS", 2)
    cfg = build_config({
        **tiny_settings, "method": "dm", "space": "pixel", "layer_auto_iterations": 6,
        "layer_auto_models": ["mlp", "convnetd1"], "layer_auto_epochs": 2, "layer_auto_val_per_class": 5,
        "layer_auto_seeds": 2,
    })  # fmt: skip
    val = layer_auto.validation_splits(cfg, api.load_dataset("embedded", image_size=16))
    cpu = torch.device("cpu")
    whole = layer_auto.score_layer(cfg, 0, val, cpu, False)
    parts = tmp_path / "parts"

    with monkeypatch.context() as m:  # killed at iteration 5: the checkpoint of iteration 4 survives
        _dying(m, steps, "distill_step", at_call=5)
        with pytest.raises(KeyboardInterrupt):
            layer_auto.score_layer(cfg, 0, val, cpu, False, resume=parts)
    with monkeypatch.context() as m:  # resumed, then killed at the third scorer network
        iterations = _dying(m, steps, "distill_step", at_call=0)
        _dying(m, layer_auto, "train_and_test", at_call=3)
        with pytest.raises(KeyboardInterrupt):
            layer_auto.score_layer(cfg, 0, val, cpu, False, resume=parts)
    assert iterations["n"] == 2  # iterations 5 and 6 only
    with monkeypatch.context() as m:
        iterations = _dying(m, steps, "distill_step", at_call=0)
        networks = _dying(m, layer_auto, "train_and_test", at_call=0)
        resumed = layer_auto.score_layer(cfg, 0, val, cpu, False, resume=parts)
    assert (iterations["n"], networks["n"]) == (0, 2)  # the distillation is done; 2 of 4 networks were
    assert torch.equal(resumed.images, whole.images)
    assert (resumed.mean, resumed.runs) == (whole.mean, whole.runs)


def test_validate_variants_keeps_a_variants_parts_only_for_its_own_settings(tmp_path):
    module = load_bench_script("validate_variants")
    out, settings = tmp_path / "val.json", {"method": "dm", "lr_feat": 1, "layer_auto_models": ["alexnet"]}
    parts = module.resume_folder(out, "ae", settings)
    (parts / "distill.pt").write_text("a checkpoint")
    assert (module.resume_folder(out, "ae", dict(settings)) / "distill.pt").is_file()  # same variant: resumes
    assert not (module.resume_folder(out, "ae", {**settings, "lr_feat": 0.1}) / "distill.pt").exists()


def test_workers_share_one_validation_and_wait_for_each_others_variants(tmp_path, monkeypatch):
    """Two bench/validate_variants.py workers on one command: a variant another worker holds is left to
    it, and a worker returns only once every variant has its row."""
    import json
    import threading

    from latentdd.claims import try_claim

    module = load_bench_script("validate_variants", "validate_variants_workers")
    monkeypatch.setattr(module, "WAIT_SECONDS", 0.05)
    scored = []
    monkeypatch.setattr(
        module, "score_variant", lambda name, *a: scored.append(name) or {"name": name, "val_accuracy": 1.0}
    )
    out = tmp_path / "val.json"
    argv = [
        "--dataset",
        "embedded",
        "--out",
        str(out),
        "--variant",
        "a-lr0.1:lr_feat=0.1",
        "--variant",
        "a-lr0.3:lr_feat=0.3",
    ]
    peer = try_claim(module.claim_file(out, "a-lr0.1"))  # the other worker's variant
    worker = threading.Thread(target=module.main, args=(argv,))
    worker.start()
    for _ in range(200):
        if module.finished(out, "a-lr0.3"):
            break
        threading.Event().wait(0.05)
    assert scored == ["a-lr0.3"] and worker.is_alive()  # its own variant done; waiting for the peer's
    module.record_row(
        out, {"name": "a-lr0.1", "val_accuracy": 2.0}, {"dataset": "embedded"}
    )  # the peer's row
    peer.finish()
    worker.join(timeout=10)
    assert not worker.is_alive() and scored == ["a-lr0.3"]
    assert sorted(r["name"] for r in json.loads(out.read_text())["rows"]) == ["a-lr0.1", "a-lr0.3"]

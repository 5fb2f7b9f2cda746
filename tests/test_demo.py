"""The demo end to end with its budgets cut to seconds (the real budgets are timed in BENCHMARKS.md)."""

import json

from latentdd import demo


def test_demo_runs_offline_and_prints_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(demo, "DEMO_PRIOR_STEPS", 3)
    monkeypatch.setattr(
        demo,
        "DEMO_SETTINGS",
        {
            **demo.DEMO_SETTINGS,
            "iterations": 2,
            "batch_real": 4,
            "image_size": 16,
            "eval_epochs": 1,
            "model_args": {"width": 8, "depth": 2},
            "eval_models": ["mlp", "lenet"],
        },
    )
    text = demo.run_demo(tmp_path / "demo", device="cpu", progress=False)
    assert "random real" in text and "pixel" in text and "latent" in text and "cross-arch" in text
    assert "IPC 1," in text and "IPC 10," in text
    for ipc in (1, 10):
        for space in ("pixel", "latent"):
            run = tmp_path / "demo" / f"dm-{space}-ipc{ipc}"
            assert (run / "grid.png").is_file()
            metrics = json.loads((run / "metrics.json").read_text())
            assert set(metrics["accuracy"]) == {"mlp", "lenet"}
    assert "prior: " in (tmp_path / "demo" / "dm-latent-ipc1" / "config.yaml").read_text()
    assert list((tmp_path / "cache" / "priors").glob("*.safetensors"))
    # a second call reuses the prior and the finished runs
    again = demo.run_demo(tmp_path / "demo", device="cpu", progress=False)
    assert again == text

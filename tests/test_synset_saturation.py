"""bench/synset_saturation.py: measures every set it is given and names, without a traceback, what is not one."""

import importlib.util
from pathlib import Path

import torch

from latentdd.synth.io import SavedSynset, save_synset

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "synset_saturation.py"


def load_script():
    spec = importlib.util.spec_from_file_location("synset_saturation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_saturation_counts_pixels_at_the_bounds_and_skips_what_is_no_set(tmp_path, capsys):
    images = torch.full((4, 1, 4, 4), 0.5)
    images[:, :, 0, :] = 0.0  # a quarter of the pixels at the lower bound
    mean, std = 0.2, 0.5
    run = tmp_path / "run"
    run.mkdir()
    labels = torch.tensor([0, 0, 1, 1])
    save_synset(
        run / "synset.safetensors", SavedSynset((images - mean) / std, labels, ["a", "b"], (mean,), (std,))
    )
    (tmp_path / "run.lock").write_text("")
    status = load_script().main([str(run), str(tmp_path / "run.lock")])
    out, err = capsys.readouterr()
    assert out.strip() == f"{run}: 25.0 % of pixels within 2 % of the bounds"
    assert "run.lock: skipped:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert status == 1

"""bench/synset_saturation.py and bench/side_by_side.py: they measure or draw what they are given and name, without a traceback, what is missing."""

import torch
from conftest import load_bench_script

from latentdd.synth.io import SavedSynset, save_synset


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
    status = load_bench_script("synset_saturation").main([str(run), str(tmp_path / "run.lock")])
    out, err = capsys.readouterr()
    assert out.strip() == f"{run}: 25.0 % of pixels within 2 % of the bounds"
    assert "run.lock: skipped:" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert status == 1


def test_side_by_side_puts_run_pictures_in_one_png_and_names_a_missing_one(tmp_path, capsys):
    from PIL import Image

    module = load_bench_script("side_by_side")
    for name, size, colour in [("a", (30, 40), "red"), ("b", (20, 50), "blue")]:
        (tmp_path / name).mkdir()
        Image.new("RGB", size, colour).save(tmp_path / name / "grid.png")
    out = tmp_path / "both.png"
    assert module.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    sheet = Image.open(out)
    assert sheet.size == (30 + module.GAP + 20, 50)
    assert sheet.getpixel((0, 0)) == (255, 0, 0) and sheet.getpixel((30 + module.GAP, 49)) == (0, 0, 255)
    assert sheet.getpixel((30 + module.GAP // 2, 0)) == (255, 255, 255)
    assert module.main([str(tmp_path / "a"), str(tmp_path / "none"), "--out", str(tmp_path / "x.png")]) == 1
    assert "no picture at " in capsys.readouterr().err and not (tmp_path / "x.png").exists()

"""Dataset loading: registry names, npz / torchvision / folder / embedded sources, conversion."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentdd.data import DATASETS, load_dataset
from latentdd.data.registry import dataset_names
from latentdd.data.sources.folder import default_image_size
from latentdd.data.transforms import channel_stats, resize_square
from latentdd.errors import UserError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
EMBEDDED_SHA256 = "2457cdfbea873fef589f069c2249f9c6d470852bf69470e94cd9244ac2e808fe"


@pytest.fixture(scope="module")
def embedded():
    return load_dataset("embedded")


def _img(path: Path, mode: str, size: tuple[int, int], color) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}[
        path.suffix.lower()
    ]
    Image.new(mode, size, color).save(path, format=fmt)


def _messy_folder(root: Path) -> Path:
    """3 classes (one with spaces), mixed modes / sizes / extensions, 3 non-images."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["b class", "A", "c"]):
        for i in range(5):
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            _img(root / name / f"rgb{i}.jpg", "RGB", (40 + i, 30), colour)
        _img(root / name / "gray.png", "L", (24, 24), 40 * c)
        _img(root / name / "alpha.PNG", "RGBA", (32, 32), (0, 0, 255, 128))
        _img(root / name / "pal.bmp", "P", (36, 36), 3)
        _img(root / name / "photo.JPG", "RGB", (33, 50), (10, 200, 30))
        _img(root / name / "x.webp", "RGB", (30, 30), (200, 10, 30))
        _img(root / name / "y.jpeg", "RGB", (30, 34), (1, 2, 3))
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "A" / "notes.txt").write_text("collected by the team")
    (root / "c" / "._rgb0.jpg").write_bytes(b"\0\5\26\7 AppleDouble")  # macOS resource fork
    return root


# --- registry names and errors -------------------------------------------------------------


def test_names_are_registered():
    assert {"mnist", "fashion-mnist", "cifar10", "cifar100", "svhn", "embedded", "folder"} <= set(
        DATASETS.names()
    )
    assert "folder:PATH" in dataset_names()


def test_unknown_name_lists_the_choices():
    with pytest.raises(UserError, match="unknown dataset 'imagenot'") as e:
        load_dataset("imagenot")
    assert "mnist" in str(e.value) and "folder:PATH" in str(e.value)


def test_missing_data_dir_names_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match="does not exist") as e:
        load_dataset("mnist", data_dir=missing)
    assert str(missing) in str(e.value) and "--data-dir" in str(e.value)


def test_bad_arguments_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="folder:PATH"):
        load_dataset("folder")
    with pytest.raises(UserError, match="write folder:"):  # a bare path: suggest the folder: prefix
        load_dataset(str(tmp_path))
    with pytest.raises(UserError, match="channels"):
        load_dataset("embedded", channels=2)


# --- embedded default ----------------------------------------------------------------------


def test_embedded_shapes_dtypes_and_train_normalization(embedded):
    tr, te = embedded.train, embedded.test
    assert tr.images.shape == (5000, 1, 28, 28) and te.images.shape == (1000, 1, 28, 28)
    assert tr.images.dtype == torch.float32 and tr.labels.dtype == torch.int64
    assert tr.class_counts() == [500] * 10 and te.class_counts() == [100] * 10
    assert tr.classes == te.classes and tr.classes[0] == "T-shirt/top" and tr.classes[9] == "Ankle boot"
    assert tr.images.mean().abs() < 1e-4 and (tr.images.std() - 1).abs() < 1e-3
    assert te.mean == tr.mean and te.std == tr.std  # test uses train statistics
    assert abs(tr.mean[0] - 0.286) < 0.01  # Fashion-MNIST's own mean, within subset noise
    assert embedded.digits is False and embedded.source.startswith("embedded:")
    assert embedded.info["n_train"] == 5000 and embedded.info["n_test"] == 1000
    # denormalizing gives back the 0..1 pixels
    assert tr.denormalize(tr.images[:50]).min() >= -1e-5 and tr.denormalize(tr.images[:50]).max() <= 1 + 1e-5


def test_embedded_hash_is_stable_and_pinned(embedded):
    again = load_dataset("embedded")
    assert again.info["sha256"] == embedded.info["sha256"] == EMBEDDED_SHA256
    assert torch.equal(again.train.images, embedded.train.images)


def test_resize_and_channel_conversion_apply_to_the_embedded_set(embedded):
    s = load_dataset("embedded", image_size=32, channels=3)
    assert s.train.images.shape == (5000, 3, 32, 32) and s.test.images.shape == (1000, 3, 32, 32)
    assert torch.equal(s.train.images[:, 0], s.train.images[:, 2])  # gray -> RGB repeats the plane
    assert s.info["sha256"] != embedded.info["sha256"]  # the hash covers the converted pixels
    per_channel = s.train.images.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)
    assert torch.allclose(per_channel.std(1), torch.ones(3), atol=1e-3)


# --- npz and torchvision sources -----------------------------------------------------------


def _write_npz_folder(folder: Path, x_train, y_train, x_test, y_test, classes=None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "train.npz", x=x_train, y=y_train)
    np.savez_compressed(folder / "test.npz", x=x_test, y=y_test)
    if classes is not None:
        (folder / "classes.txt").write_text("\n".join(classes) + "\n")


def test_npz_layouts_and_train_statistics(tmp_path):
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 128, (20, 8, 8, 3), dtype=np.uint8)
    y_train = np.arange(20) % 2
    x_test = np.full((4, 8, 8, 3), 255, dtype=np.uint8)
    _write_npz_folder(tmp_path / "nested" / "fashion-mnist", x_train, y_train, x_test, np.array([0, 1, 0, 1]),
                      ["T shirt", "Trouser"])  # fmt: skip
    s = load_dataset("Fashion_MNIST", data_dir=tmp_path / "nested")  # case and _/- do not matter
    assert s.source == f"npz:{tmp_path / 'nested' / 'fashion-mnist'}" and s.digits is False
    assert s.train.classes == ["T shirt", "Trouser"] and s.train.images.shape == (20, 3, 8, 8)
    mean = x_train.reshape(-1, 3).mean(0) / 255
    std = x_train.reshape(-1, 3).std(0) / 255
    np.testing.assert_allclose(s.train.mean, mean, rtol=1e-9)
    np.testing.assert_allclose(s.train.std, std, rtol=1e-9)
    # the all-white test split is normalized with the *train* stats, not its own
    expected = torch.tensor((1 - mean) / std, dtype=torch.float32).view(1, 3, 1, 1).expand(4, 3, 8, 8)
    assert torch.allclose(s.test.images, expected, atol=1e-5)

    _write_npz_folder(tmp_path / "flat", x_train[..., 0], y_train, x_test[..., 0], np.array([0, 1, 0, 1]))
    flat = load_dataset("mnist", data_dir=tmp_path / "flat")  # <data_dir>/train.npz directly
    assert flat.digits is True and flat.train.images.shape == (20, 1, 8, 8)
    assert flat.train.classes == ["0", "1"]  # no classes.txt: numbered


def test_cifar10_uses_the_published_normalization_and_folders_their_own(tmp_path):
    """The DC/DM/MTT/GLaD code normalizes CIFAR-10 with std (0.2023, 0.1994, 0.2010), not the pixels' std;
    a grayscale conversion (no published constants for it) and any other set keep computed statistics."""
    rng = np.random.default_rng(2)
    x_train = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    for name in ("cifar10", "svhn"):
        _write_npz_folder(tmp_path / name, x_train, np.arange(20) % 2, x_test, np.array([0, 1, 0, 1]))
    s = load_dataset("cifar10", data_dir=tmp_path)
    assert s.train.mean == (0.4914, 0.4822, 0.4465) and s.train.std == (0.2023, 0.1994, 0.2010)
    expected = (torch.tensor(x_test).permute(0, 3, 1, 2) / 255 - 0.4914) / 0.2023
    assert torch.allclose(s.test.images[:, :1], expected[:, :1], atol=1e-5)
    gray = load_dataset("cifar10", data_dir=tmp_path, channels=1)
    assert gray.train.std != (0.2023,) and len(gray.train.std) == 1
    other = load_dataset("svhn", data_dir=tmp_path)
    np.testing.assert_allclose(other.train.std, x_train.reshape(-1, 3).std(0) / 255, rtol=1e-9)


def test_shared_mnist_npz_matches_the_official_statistics():
    if not (SHARED / "mnist" / "train.npz").is_file():
        pytest.skip("shared datasets not available")
    s = load_dataset("mnist", data_dir=SHARED)
    assert s.train.images.shape == (60000, 1, 28, 28) and s.test.images.shape == (10000, 1, 28, 28)
    assert abs(s.train.mean[0] - 0.1307) < 1e-4 and abs(s.train.std[0] - 0.3081) < 1e-4
    assert s.digits is True and s.train.classes == [str(i) for i in range(10)]
    assert s.train.class_counts()[1] == 6742  # MNIST's official count of ones


def _idx(path: Path, arr: np.ndarray) -> None:
    """MNIST's idx format: magic (0, 0, type 0x08 = uint8, ndim), big-endian dims, data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        struct.pack(">I", 0x0800 + arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    )


def test_torchvision_mnist_files_are_read(tmp_path):
    rng = np.random.default_rng(2)
    raw = tmp_path / "MNIST" / "raw"
    x_train, y_train = (
        rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        (np.arange(12) % 10).astype(np.uint8),
    )
    x_test, y_test = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8), np.arange(5, dtype=np.uint8)
    _idx(raw / "train-images-idx3-ubyte", x_train)
    _idx(raw / "train-labels-idx1-ubyte", y_train)
    _idx(raw / "t10k-images-idx3-ubyte", x_test)
    _idx(raw / "t10k-labels-idx1-ubyte", y_test)
    s = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert s.source == f"torchvision:MNIST:{tmp_path}" and s.digits is True
    assert s.train.images.shape == (12, 1, 28, 28) and s.test.labels.tolist() == [0, 1, 2, 3, 4]
    pixels = torch.round(s.train.denormalize(s.train.images) * 255).to(torch.uint8)[:, 0]
    assert torch.equal(pixels, torch.from_numpy(x_train))


def test_torchvision_set_missing_without_download_is_a_user_error(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="not found") as e:
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert str(tmp_path) in str(e.value) and "cifar10/train.npz" in str(e.value)
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))  # the default root follows the cache
    with pytest.raises(UserError, match="not found") as e:
        load_dataset("SVHN", download=False)
    assert str(tmp_path / "cache" / "data") in str(e.value)


# --- image folders -------------------------------------------------------------------------


def test_messy_folder_is_converted_and_skips_are_counted(tmp_path, caplog):
    root = _messy_folder(tmp_path / "team photos")
    with caplog.at_level(logging.WARNING):
        s = load_dataset(f"folder:{root}")
    assert s.info["skipped"] == 3  # .DS_Store, notes.txt, ._rgb0.jpg
    assert any("skipped 3 file(s)" in r.getMessage() for r in caplog.records)
    assert s.train.classes == ["A", "b class", "c"] == s.test.classes  # sorted by name, spaces kept
    assert s.train.channels == 3  # some images have colour
    # shorter sides per class: 5 x 30, 24, 32, 36, 33, 30, 30 -> median 30 -> multiple of 8 below: 24
    assert s.train.image_size == (24, 24) and s.test.image_size == (24, 24)
    assert s.train.images.dtype == torch.float32
    assert s.train.class_counts() == [9, 9, 9] and s.test.class_counts() == [2, 2, 2]  # 20% of 11 per class
    assert s.info["n_train"] == 27 and s.info["n_test"] == 6 and s.source == f"folder:{root.resolve()}"
    per_channel = s.train.images.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-4)


def _uint8_pixels(split) -> torch.Tensor:
    return torch.round(split.denormalize(split.images) * 255)


def test_folder_split_is_deterministic(tmp_path):
    root = _messy_folder(tmp_path / "imgs")
    a, b = load_dataset(f"folder:{root}"), load_dataset(f"folder:{root}")
    assert a.info["sha256"] == b.info["sha256"]
    assert torch.equal(a.test.images, b.test.images) and torch.equal(a.train.labels, b.train.labels)
    # adding a class does not move the other classes' images between splits
    for i in range(4):
        _img(root / "d" / f"{i}.png", "RGB", (30, 30), (i, 2 * i, 3 * i))
    c = load_dataset(f"folder:{root}")
    assert c.test.class_counts() == [2, 2, 2, 1]
    assert torch.equal(_uint8_pixels(c.test)[:6], _uint8_pixels(a.test))
    assert torch.equal(_uint8_pixels(c.train)[:27], _uint8_pixels(a.train))


def test_folder_size_and_channel_options(tmp_path):
    for cls in ("x", "y"):
        for i in range(3):
            _img(tmp_path / "g" / cls / f"{i}.png", "L", (60, 90), 50 * i + (cls == "y"))
    gray = load_dataset(f"folder:{tmp_path / 'g'}")
    assert gray.train.channels == 1 and gray.train.image_size == (56, 56)  # median 60 -> 56
    rgb = load_dataset(f"folder:{tmp_path / 'g'}", image_size=20, channels=3)
    assert rgb.train.images.shape[1:] == (3, 20, 20)
    assert torch.equal(rgb.train.images[:, 0], rgb.train.images[:, 1])


def test_transparency_is_composited_over_white(tmp_path):
    _img(tmp_path / "f" / "train" / "clear" / "a.png", "RGBA", (16, 16), (255, 0, 0, 0))
    _img(tmp_path / "f" / "train" / "dark" / "b.png", "RGB", (16, 16), (0, 0, 0))
    _img(tmp_path / "f" / "test" / "clear" / "c.png", "RGBA", (16, 16), (255, 0, 0, 0))
    _img(tmp_path / "f" / "test" / "dark" / "d.png", "RGB", (16, 16), (0, 0, 0))
    s = load_dataset(f"folder:{tmp_path / 'f'}")
    pixels = s.train.denormalize(s.train.images)
    clear = pixels[s.train.labels == 0]
    assert s.train.channels == 1  # fully transparent red over white is white: no colour left
    assert torch.allclose(clear, torch.ones_like(clear), atol=1e-5)


def test_train_test_folders_keep_the_train_class_order(tmp_path):
    root = tmp_path / "tt"
    for split, order in (("test", ["zebra", "Ant", "mid dle"]), ("train", ["mid dle", "zebra", "Ant"])):
        for k, cls in enumerate(order):
            _img(root / split / cls / f"{k}.png", "RGB", (20, 20), (10 * k, 0, 0))
    s = load_dataset(f"folder:{root}")
    assert s.train.classes == s.test.classes == ["Ant", "mid dle", "zebra"]
    assert s.info["split"] == "train/ and test/ folders" and s.info["skipped"] == 0
    (root / "test" / "zebra" / "0.png").unlink()
    (root / "test" / "zebra").rmdir()
    with pytest.raises(UserError, match=r"missing from test: \['zebra'\]"):
        load_dataset(f"folder:{root}")


def test_undecodable_image_names_the_file(tmp_path):
    root = tmp_path / "bad"
    for i in range(3):
        _img(root / "ok" / f"{i}.png", "RGB", (20, 20), (i, 0, 0))
        _img(root / "also ok" / f"{i}.png", "RGB", (20, 20), (0, i, 0))
    (root / "ok" / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(UserError, match="broken.png"):
        load_dataset(f"folder:{root}")
    (root / "ok" / "broken.png").unlink()
    _img(tmp_path / "big.jpg", "RGB", (64, 64), (5, 5, 5))
    (root / "ok" / "cut.jpg").write_bytes((tmp_path / "big.jpg").read_bytes()[:200])  # truncated JPEG
    with pytest.raises(UserError, match="cut.jpg"):
        load_dataset(f"folder:{root}", image_size=16)


def test_empty_or_missing_folders_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no class subfolders"):
        load_dataset(f"folder:{tmp_path}")
    (tmp_path / "only notes").mkdir()
    (tmp_path / "only notes" / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="holds no images"):
        load_dataset(f"folder:{tmp_path}")
    with pytest.raises(UserError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'absent'}")


# --- helpers -------------------------------------------------------------------------------


def test_resize_crops_instead_of_squashing():
    x = torch.zeros(1, 1, 20, 40, dtype=torch.uint8)
    x[..., 10:30] = 255  # a bright centre square in a wide image
    y = resize_square(x, 10)
    assert y.shape == (1, 1, 10, 10) and y.dtype == torch.uint8
    assert y[..., 2:8].min() == 255  # squashing would have mixed in the dark sides


def test_default_image_size_rule():
    assert default_image_size([24, 30, 33]) == 24 and default_image_size([31, 32, 90]) == 32
    assert default_image_size([4, 5, 6]) == 16
    assert default_image_size([1000, 2000, 3000]) == 128


def test_channel_stats_are_exact():
    x = torch.randint(0, 256, (7, 3, 5, 5), dtype=torch.uint8)
    mean, std = channel_stats(x)
    ref = x.double().div(255).transpose(0, 1).reshape(3, -1)
    assert np.allclose(mean, ref.mean(1).numpy(), rtol=1e-12)
    assert np.allclose(std, ref.std(1, unbiased=False).numpy(), rtol=1e-12)


def test_dataset_label_shortens_folders_for_titles():
    from latentdd.data import dataset_label

    assert dataset_label("folder:/data/sets/imagenette64") == "imagenette64"
    assert dataset_label("folder:/data/sets/imagenette64/") == "imagenette64"
    assert dataset_label("cifar10") == "cifar10" and dataset_label("embedded") == "embedded"

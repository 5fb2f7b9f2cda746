"""A user's own image folder: ``folder:PATH``.

Layout: one subfolder per class (``PATH/cat/x.jpg``; names may contain spaces; class
order is the sorted folder names, as torchvision's ``ImageFolder``).  If ``PATH/train``
and ``PATH/test`` both exist they are the splits (class order from ``train``; ``test``
must hold the same classes).  Otherwise (also when only ``PATH/train`` exists) a
deterministic stratified split sends :data:`TEST_FRACTION` of each class (at least one
image) to the test split.  Each class is shuffled with its own seed, derived from
:data:`SPLIT_SEED` and the class name, so adding images to one class or adding a class
does not move the other classes' images between splits.

Real folders are messy, so:

* files are images by extension (:data:`IMAGE_EXTENSIONS`, any case); anything else,
  and hidden files such as macOS ``._x.jpg`` resource forks, is skipped, counted in
  ``info["skipped"]`` and reported by a warning;
* a file with an image extension that does not decode stops loading with a
  :class:`UserError` naming it (silently dropping it would change the data unnoticed);
* grayscale, palette, 16-bit, CMYK and RGBA images are accepted: transparency is
  composited over white (:data:`BACKGROUND`), EXIF rotation is applied;
* every image is resized (shorter side, antialiased, then center-cropped) to one size:
  ``image_size`` or :func:`default_image_size` of the data; and converted to one
  channel count: ``channels`` or 3 if any image has colour, else 1.
"""

from __future__ import annotations

import logging
import math
import statistics
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ...errors import UserError
from ...seeding import make_generator
from ..transforms import convert_channels, resize_square
from .base import DatasetRequest, RawSplits, register_dataset

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".bmp", ".jpeg", ".jpg", ".png", ".webp")
TEST_FRACTION = 0.2
SPLIT_SEED = 0
SIZE_RANGE = (16, 128)  # default sizes outside this are too small to learn from / too slow to distill
SIZE_MULTIPLE = 8  # ConvNet-style nets halve the size three times; multiples of 8 divide evenly
BACKGROUND = (255, 255, 255)

_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_WIDE_GRAY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


@dataclass
class _Scan:
    classes: list[str]
    files: list[list[Path]]
    skipped: list[Path]


def _decode_error(path: Path, e: Exception) -> UserError:
    return UserError(f"cannot decode image file {path}: {e}; delete, replace or re-save it")


def _scan(root: Path) -> _Scan:
    """Class subfolders of ``root`` (sorted) and their image files (sorted by relative path)."""
    classes, files, skipped = [], [], []
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if not entry.is_dir():
            skipped.append(entry)
            continue
        if entry.name.startswith("."):
            continue
        images = []
        for p in sorted(entry.rglob("*"), key=lambda p: p.relative_to(entry).as_posix()):
            if not p.is_file():
                continue
            hidden = any(part.startswith(".") for part in p.relative_to(entry).parts)
            if p.suffix.lower() in IMAGE_EXTENSIONS and not hidden:
                images.append(p)
            else:
                skipped.append(p)
        if not images:
            raise UserError(
                f"class folder {entry} holds no images ({', '.join(IMAGE_EXTENSIONS)}); add images or remove it"
            )
        classes.append(entry.name)
        files.append(images)
    if not classes:
        raise UserError(
            f"{root} has no class subfolders; put each class's images in its own subfolder, "
            f"e.g. {root / 'cat' / 'img1.jpg'}"
        )
    return _Scan(classes, files, skipped)


def stratified_split(
    classes: Sequence[str],
    files: Sequence[Sequence[Path]],
    fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> tuple[list[list[Path]], list[list[Path]]]:
    """Per class: a seeded random ``fraction`` (at least 1, at most all but 1) goes to test."""
    train, test = [], []
    for name, paths in zip(classes, files, strict=True):
        n = len(paths)
        if n < 2:
            raise UserError(
                f"class {name!r} has only {n} image; splitting into train and test needs at least 2 "
                "per class: add images, or provide train/ and test/ folders"
            )
        n_test = min(n - 1, max(1, math.floor(n * fraction + 0.5)))
        g = make_generator(seed + zlib.crc32(name.encode("utf-8")))
        chosen = set(torch.randperm(n, generator=g)[:n_test].tolist())
        train.append([p for i, p in enumerate(paths) if i not in chosen])
        test.append([p for i, p in enumerate(paths) if i in chosen])
    return train, test


def default_image_size(min_sides: Sequence[int]) -> int:
    """The median shorter side, rounded *down* to a multiple of :data:`SIZE_MULTIPLE`, clamped
    to :data:`SIZE_RANGE`.

    The median is robust to a few huge or tiny images; rounding down means the typical
    image is never upsampled (no invented detail), and the clamp keeps distillation affordable.
    """
    s = SIZE_MULTIPLE * math.floor(statistics.median(min_sides) / SIZE_MULTIPLE)
    return min(max(s, SIZE_RANGE[0]), SIZE_RANGE[1])


def _shorter_side(path: Path) -> int:
    try:
        with Image.open(path) as im:  # reads the header only
            return min(im.size)
    except _DECODE_ERRORS as e:
        raise _decode_error(path, e) from None


def _pixels(im: Image.Image) -> np.ndarray:
    """``H x W`` (gray) or ``H x W x 3`` uint8, whatever the PIL mode."""
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return np.array(Image.alpha_composite(background, rgba).convert("RGB"))
    if im.mode in ("1", "L"):
        return np.array(im.convert("L"))
    if im.mode in _WIDE_GRAY_MODES:  # 16-bit / int / float grayscale: scale to 0..255 ourselves
        a = np.asarray(im).astype(np.float64)
        if im.mode == "F":
            scale = 255.0 if a.max(initial=0.0) <= 1.0 else 1.0
        else:
            scale = 1 / 257 if a.max(initial=0) > 255 else 1.0  # 65535 / 257 = 255
        return np.clip(np.rint(a * scale), 0, 255).astype(np.uint8)
    return np.array(im.convert("RGB"))


def _decode(path: Path, size: int) -> tuple[torch.Tensor, bool]:
    """One image resized to ``size``, as ``C x size x size`` uint8, and whether it has colour."""
    try:
        with Image.open(path) as im:
            if im.format == "JPEG":  # decode big JPEGs at reduced scale; still >= 2x the target
                im.draft(im.mode, (2 * size, 2 * size))
            arr = _pixels(ImageOps.exif_transpose(im))
    except _DECODE_ERRORS as e:
        raise _decode_error(path, e) from None
    if arr.ndim == 3:
        colour = bool((arr[..., 0] != arr[..., 1]).any() or (arr[..., 0] != arr[..., 2]).any())
        t = torch.from_numpy(arr).permute(2, 0, 1) if colour else torch.from_numpy(arr[..., 0].copy())[None]
    else:
        colour = False
        t = torch.from_numpy(arr)[None]
    return resize_square(t.contiguous(), size), colour


def _layout(root: Path) -> tuple[list[str], list[list[Path]], list[list[Path]], list[Path], str]:
    """Classes, train files, test files, skipped files and a one-line description of the split."""
    train_dir, test_dir = root / "train", root / "test"
    has_train, has_test = train_dir.is_dir(), test_dir.is_dir()
    top_skipped: list[Path] = []
    if has_train:  # PATH/train[/test] layout: other entries of PATH are not data
        others = [p for p in root.iterdir() if p.name not in ("train", "test") and not p.name.startswith(".")]
        for d in (p for p in others if p.is_dir()):
            log.warning("ignoring folder %s: only %s/train and %s/test are read", d, root, root)
        top_skipped = [p for p in others if not p.is_dir()]
    if has_train and has_test:
        train, test = _scan(train_dir), _scan(test_dir)
        if train.classes != test.classes:
            missing = sorted(set(train.classes) - set(test.classes))
            extra = sorted(set(test.classes) - set(train.classes))
            raise UserError(
                f"{train_dir} and {test_dir} hold different classes (missing from test: {missing}, "
                f"only in test: {extra}); give both the same class folders"
            )
        skipped = train.skipped + test.skipped + top_skipped
        return train.classes, train.files, test.files, skipped, "train/ and test/ folders"
    scan = _scan(train_dir if has_train else root)
    skipped = scan.skipped + (top_skipped if has_train else [])
    train_files, test_files = stratified_split(scan.classes, scan.files)
    split = f"stratified: {TEST_FRACTION:.0%} of each class to test, seed {SPLIT_SEED}"
    return scan.classes, train_files, test_files, skipped, split


def _decode_all(paths: list[list[Path]], size: int) -> tuple[list[torch.Tensor], torch.Tensor, bool]:
    """Decoded images (1 or 3 channels each), class-major labels, and whether any has colour."""
    images, labels, any_colour = [], [], False
    for label, class_paths in enumerate(paths):
        for p in class_paths:
            t, colour = _decode(p, size)
            images.append(t)
            labels.append(label)
            any_colour |= colour
    return images, torch.tensor(labels, dtype=torch.int64), any_colour


@register_dataset("folder", argument="PATH")
def load_folder(request: DatasetRequest) -> RawSplits:
    root = Path(request.argument or "").expanduser()
    if not root.is_dir():
        raise UserError(f"image folder {str(root)!r} does not exist; check the path after 'folder:'")
    root = root.resolve()
    classes, train_files, test_files, skipped, split = _layout(root)
    if skipped:
        examples = ", ".join(p.name for p in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        log.warning(
            "%s: skipped %d file(s) that are hidden or not images by extension (%s); images are %s",
            root, len(skipped), examples, "/".join(IMAGE_EXTENSIONS),
        )  # fmt: skip
    size = request.image_size
    if size is None:
        all_files = [p for group in (train_files, test_files) for paths in group for p in paths]
        size = default_image_size([_shorter_side(p) for p in all_files])
        log.info("%s: resizing images to %dx%d (pass image_size to choose)", root, size, size)
    train, y_train, colour_train = _decode_all(train_files, size)
    test, y_test, colour_test = _decode_all(test_files, size)
    channels = request.channels or (3 if colour_train or colour_test else 1)
    x_train = torch.stack([convert_channels(t, channels) for t in train])
    x_test = torch.stack([convert_channels(t, channels) for t in test])
    info = {"skipped": len(skipped), "split": split}
    return RawSplits(x_train, y_train, x_test, y_test, classes, f"folder:{root}", False, info)

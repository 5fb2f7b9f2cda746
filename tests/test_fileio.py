"""Atomic writes: replace-always and create-once, never a half-written file or a stray temp file."""

from pathlib import Path

import pytest

from latentdd.errors import UserError
from latentdd.fileio import atomic_create, atomic_write


def test_atomic_create_publishes_once_and_atomic_write_replaces(tmp_path):
    path = tmp_path / "manifest.json"
    assert atomic_create(path, lambda tmp: Path(tmp).write_text("first"))
    assert not atomic_create(path, lambda tmp: Path(tmp).write_text("second"))  # a peer got there first
    assert path.read_text() == "first"
    atomic_write(path, lambda tmp: Path(tmp).write_text("third"))
    assert path.read_text() == "third"

    def dies(tmp):
        Path(tmp).write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(UserError, match="no space left on the device while writing .*manifest.json"):
        atomic_write(path, dies)  # a full disk is the user's to fix: one line, the old file kept
    assert path.read_text() == "third" and [p.name for p in tmp_path.iterdir()] == ["manifest.json"]

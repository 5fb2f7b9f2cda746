"""The tree stays `ruff check` and `ruff format` clean (the developers' guide asks for both)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed (pip install -e '.[test]')")
@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "src", "tests", "bench"], ["ruff", "format", "--check", "src", "tests", "bench"]],
)
def test_ruff_is_clean(command):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

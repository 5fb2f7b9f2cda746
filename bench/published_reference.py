"""The published DC/DSA/DM code (VICO-UoE/DatasetCondensation), copied out for timing beside latentdd.

``bench/eval_speed.py`` and ``bench/dm_published.py`` run the published files themselves, from a
checkout or from a bare mirror (``git clone --mirror``, or the search tool's ``fetch``).  The files
are copied to a fresh folder with one patch: the networks flatten with ``x.view(x.size(0), -1)``,
which fails under current PyTorch when DiffAugment's crop (a permute of the batch) hands the network
a channels-last tensor, whose layout the convolutions then keep; ``reshape`` does the same without
failing (and without a copy when the tensor is contiguous).  Nothing else is changed.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

FLATTEN_VIEW = re.compile(r"\.view\((\w+)\.size\(0\), -1\)")


def export_reference(path: Path, names: tuple[str, ...]) -> Path:
    """A new folder holding the published files ``names`` from ``path`` (checkout or bare mirror)."""
    folder = Path(tempfile.mkdtemp(prefix="dc-reference-"))
    for name in names:
        if (path / name).is_file():
            text = (path / name).read_text()
        else:
            text = subprocess.run(
                ["git", f"--git-dir={path}", "show", f"HEAD:{name}"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        (folder / name).write_text(FLATTEN_VIEW.sub(r".reshape(\1.size(0), -1)", text))
    return folder

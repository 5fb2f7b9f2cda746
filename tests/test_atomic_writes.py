"""Every file latentdd writes goes through one atomic-write helper; a full disk keeps the old file."""

from __future__ import annotations

import errno
import re
import sys
from pathlib import Path

import pytest
import torch

from latentdd import api
from latentdd.cli.main import main
from latentdd.config import build_config
from latentdd.engine import checkpoint as checkpoint_module
from latentdd.fileio import atomic_write_text

SRC = Path(__file__).resolve().parent.parent / "src" / "latentdd"
WRITES = re.compile(
    r"write_text\(|write_bytes\(|open\([^)]*['\"][wax]b?\+?['\"]|torch\.save\(|save_file\(|savefig\(|np\.save"
    r"|\.save\(|shutil\.(copy|move)|os\.(rename|replace)|FileHandler\(|json\.dump\("
)
# Writes that do not need the helper, each with its reason.
EXEMPT = {
    (
        "runs/folder.py",
        "FileHandler(",
    ): "log.txt is appended line by line; a kill loses at most the last line",
    (
        "data/zca.py",
        "save_file(tensors, str(path)",
    ): "ZCA.write fills the temp file of atomic_write/atomic_create",
    ("report/plots.py", "savefig(buf"): "renders into memory (embedded in the report)",
    ("report/images.py", ".save(buf"): "renders into memory (embedded in the report)",
}


def bypassing_writes() -> list[str]:
    """Lines under src/ that write a file other than through fileio's helpers (the publishing
    call itself, ``atomic_write(path, lambda tmp: ...)``, is what a compliant line looks like)."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "fileio.py":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not WRITES.search(line) or re.search(r"atomic_(write|create)", line):
                continue
            if re.search(r"lambda tmp|\(tmp\b|\btmp\)", line):  # writing the helper's temporary file
                continue
            if any(rel == f and snippet in line for f, snippet in EXEMPT):
                continue
            found.append(f"{rel}:{number}: {line.strip()}")
    return found


def test_no_file_write_bypasses_the_atomic_helper():
    assert bypassing_writes() == []


def test_the_scan_catches_a_plain_write(tmp_path, monkeypatch):
    """The scan itself can fail: a plain write_text in a package file is reported."""
    fake = tmp_path / "latentdd"
    (fake / "runs").mkdir(parents=True)
    (fake / "runs" / "folder.py").write_text("p.write_text('x')\natomic_write(p, lambda tmp: f(tmp))\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    assert bypassing_writes() == ["runs/folder.py:1: p.write_text('x')"]


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tiny_settings, monkeypatch, capsys, tmp_path):
    """The third checkpoint write hits ENOSPC halfway: one line, exit 2, the second checkpoint intact
    and resumable, no temporary file left behind."""
    original, calls = torch.save, {"n": 0}

    def full_disk(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            Path(f).write_bytes(b"\x80\x02half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, f, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    run = tmp_path / "run"
    args = ["distill", "--dataset", "embedded", "--image-size", "16", "--ipc", "2", "--iterations", "6"]
    args += [
        "--batch-real",
        "8",
        "--model-args",
        "width=16,depth=2",
        "--checkpoint-every",
        "1",
        "--seed",
        "3",
    ]
    args += ["--device", "cpu", "--compile", "off", "--out", str(run), "--no-eval", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert "no space left" in err and "checkpoint.pt" in err
    assert torch.load(run / "checkpoint.pt", weights_only=True)["state"]["iteration"] == 2
    assert sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) == []
    monkeypatch.setattr(checkpoint_module.torch, "save", original)
    settings = {**tiny_settings, "iterations": 6, "checkpoint_every": 1, "compile": "off"}
    settings.pop("eval_models")
    resumed = api.resume(run, progress=False)
    straight = api.distill(build_config({**settings, "out": str(tmp_path / "straight")}), progress=False)
    a = torch.load(resumed / "checkpoint.pt", weights_only=True)["tensors"]
    b = torch.load(straight / "checkpoint.pt", weights_only=True)["tensors"]
    assert all(torch.equal(a[k], b[k]) for k in b)


def test_atomic_write_leaves_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    def fail_after_partial_write(tmp, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("latentdd.fileio._fsync", fail_after_partial_write)
    with pytest.raises(Exception, match="no space left on the device while writing"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_a_killed_writes_temporary_file_is_swept_by_the_next_claimant(tmp_path):
    """A kill between writing and publishing leaves ``.NAME.<random>.tmp``; whoever claims the work next
    deletes its own stale temporaries, and no one else's."""
    from latentdd.claims import try_claim
    from latentdd.runs import RunDir

    stale = [tmp_path / ".expert_0.safetensors.ab12.tmp", tmp_path / ".expert_0.partial.pt.cd34.tmp"]
    other = tmp_path / ".expert_1.safetensors.ef56.tmp"
    for p in [*stale, other]:
        p.write_bytes(b"half")
    claim = try_claim(tmp_path / "expert_0.lock")
    assert claim is not None and not any(p.exists() for p in stale) and other.exists()
    claim.release()
    run = tmp_path / "run"
    run.mkdir()
    (run / ".checkpoint.pt.zz99.tmp").write_bytes(b"half")
    RunDir(run).hold().release()  # the run folder's holder sweeps the whole folder
    assert not (run / ".checkpoint.pt.zz99.tmp").exists()

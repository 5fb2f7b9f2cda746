"""Expert buffers: resumable, safe to fill from several processes, compact and loadable."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from latentdd.claims import try_claim
from latentdd.cli.main import main as cli_main
from latentdd.data.dataset import DatasetSplits, ImageDataset
from latentdd.errors import UserError
from latentdd.experts import ExpertBuffer, expert_path, read_expert_header, train_experts
from latentdd.seeding import make_generator

TINY = {
    "model": "convnet",
    "model_args": {"width": 8, "depth": 1},
    "batch": 32,
    "device": "cpu",
    "progress": False,
}


def tiny_splits(n=20, classes=3, size=8, channels=3, seed=0):
    g = make_generator(seed)

    def ds(count):
        labels = torch.arange(classes).repeat_interleave(count)
        images = torch.randn(len(labels), channels, size, size, generator=g) + labels.view(-1, 1, 1, 1) * 0.5
        return ImageDataset(
            images, labels, [f"c{c}" for c in range(classes)], (0.5,) * channels, (0.25,) * channels
        )

    return DatasetSplits(ds(n), ds(5), "tiny", "test", info={"sha256": "abc"})


def test_buffer_layout_metadata_and_row_reads(tmp_path):
    report = train_experts(tiny_splits(), tmp_path / "b", num=2, epochs=3, seed=1, **TINY)
    assert report.trained == [0, 1] and report.skipped == [] and set(report.test_accuracy) == {0, 1}
    header = read_expert_header(expert_path(tmp_path / "b", 0))
    p = sum(torch.Size(s).numel() for _, s in header["index"])
    assert header["shape"] == [4, p]
    assert (
        header["settings"]["lr"] == 0.01
        and header["settings"]["momentum"] == 0.0
        and header["settings"]["dsa"]
    )
    assert header["settings"]["dataset_sha256"] == "abc" and header["extra"]["expert"] == 0
    buf = ExpertBuffer(tmp_path / "b")
    full = load_file(str(expert_path(tmp_path / "b", 1)))["trajectory"]
    start, end = buf.rows(1, [1, 3])
    assert torch.equal(start, full[1]) and torch.equal(end, full[3])
    assert not torch.equal(full[0], full[3])  # it trained
    assert not torch.equal(
        full, load_file(str(expert_path(tmp_path / "b", 0)))["trajectory"]
    )  # distinct experts


def test_resume_skips_finished_experts_and_retrains_damaged_ones(tmp_path):
    folder = tmp_path / "b"
    train_experts(tiny_splits(), folder, num=1, epochs=2, **TINY)
    first = expert_path(folder, 0)
    stamp, content = first.stat().st_mtime_ns, first.read_bytes()
    report = train_experts(tiny_splits(), folder, num=3, epochs=2, **TINY)
    assert report.skipped == [0] and report.trained == [1, 2]
    assert first.stat().st_mtime_ns == stamp and first.read_bytes() == content
    expert_path(folder, 1).write_bytes(b"not a safetensors file")  # e.g. a damaged copy
    again = train_experts(tiny_splits(), folder, num=3, epochs=2, **TINY)
    assert again.trained == [1] and again.skipped == [0, 2]
    assert read_expert_header(expert_path(folder, 1)) is not None
    with pytest.raises(UserError, match="other settings.*epochs"):
        train_experts(tiny_splits(), folder, num=3, epochs=5, **TINY)


def test_an_expert_killed_mid_training_continues_where_it_stopped(tmp_path, monkeypatch):
    """A kill inside expert 0's fourth epoch: the re-run resumes from the state saved after the third
    (not from epoch 0) and writes the trajectory an uninterrupted run writes, bit for bit."""
    import latentdd.experts.train as train_module

    whole = train_experts(tiny_splits(), tmp_path / "whole", num=1, epochs=5, **TINY)
    assert whole.trained == [0]
    monkeypatch.setattr(train_module, "RESUME_EVERY_SECONDS", 0.0)  # save after every epoch
    real_epoch, calls = train_module.train_epoch, []

    def dies_in_epoch_4(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as a kill would stop it: no clean-up runs
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", dies_in_epoch_4)
    with pytest.raises(KeyboardInterrupt):
        train_experts(tiny_splits(), tmp_path / "cut", num=1, epochs=5, **TINY)
    assert (tmp_path / "cut" / "expert_0.resume.pt").is_file() and not expert_path(
        tmp_path / "cut", 0
    ).exists()
    calls.clear()
    resumed = train_experts(tiny_splits(), tmp_path / "cut", num=1, epochs=5, **TINY)
    assert resumed.trained == [0] and len(calls) == 2  # epochs 4 and 5 only
    assert not (tmp_path / "cut" / "expert_0.resume.pt").exists()  # the expert file holds it all now
    cut = load_file(str(expert_path(tmp_path / "cut", 0)))["trajectory"]
    assert torch.equal(cut, load_file(str(expert_path(tmp_path / "whole", 0)))["trajectory"])


def test_expert_depends_only_on_seed_and_index(tmp_path):
    a = train_experts(tiny_splits(), tmp_path / "a", num=2, epochs=2, **TINY)
    # another process holds expert 0 of buffer c, so this call trains expert 1 alone
    (tmp_path / "c").mkdir()
    with try_claim(tmp_path / "c" / "expert_0.lock"):
        c = train_experts(tiny_splits(), tmp_path / "c", num=2, epochs=2, **TINY)
    assert a.trained == [0, 1] and c.busy == [0] and c.trained == [1]

    def traj(folder, k):
        return load_file(str(expert_path(tmp_path / folder, k)))["trajectory"]

    assert torch.equal(traj("a", 1), traj("c", 1))
    train_experts(tiny_splits(), tmp_path / "s7", num=1, epochs=2, seed=7, **TINY)
    assert not torch.equal(traj("a", 0), traj("s7", 0))


HOLD = """
import sys, time
from filelock import FileLock  # what latentdd.claims uses; no torch import
lock = FileLock(sys.argv[1], timeout=0)
lock.acquire()
print("claimed", flush=True)
time.sleep(60)
"""


def test_claim_is_exclusive_and_dies_with_its_holder(tmp_path):
    lock = tmp_path / "expert_0.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "claimed"
        assert try_claim(lock) is None  # a live holder keeps it
    finally:
        holder.kill()
        holder.wait()
    claim = try_claim(lock)  # the holder died without releasing: the kernel dropped its lock
    assert claim is not None
    assert try_claim(lock) is None  # now we hold it, also against this process
    claim.release()
    assert try_claim(lock) is not None


def test_two_cli_processes_fill_one_buffer_without_duplicates(tmp_path):
    out = tmp_path / "buf"
    cmd = [
        sys.executable,
        "-m",
        "latentdd.cli.main",
        "experts",
        "--dataset",
        "embedded",
        "--image-size",
        "8",
        "--model-args",
        "width=8,depth=1",
        "--num",
        "6",
        "--epochs",
        "1",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--no-zca",
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    files = sorted(p.name for p in out.iterdir())
    assert files == ["buffer.json"] + sorted(f"expert_{k}.safetensors" for k in range(6)), files
    trained = [int(o.split("trained ")[1].split(" ")[0]) for o, _ in outputs]
    assert sum(trained) == 6, outputs  # every expert trained exactly once across the two processes
    buf = ExpertBuffer(out)
    assert len(buf) == 6
    firsts = {tuple(buf.rows(k, [1])[0][:20].tolist()) for k in range(6)}
    assert len(firsts) == 6  # six different experts, none written twice
    assert all(read_expert_header(expert_path(out, k))["extra"]["expert"] == k for k in range(6))


def test_cli_experts_resumes_and_reports(tmp_path, capsys):
    def run(*extra):
        args = [
            "experts",
            "--dataset",
            "embedded",
            "--image-size",
            "8",
            "--model-args",
            "width=8,depth=1",
            "--num",
            "1",
            "--out",
            str(tmp_path / "b"),
            "--device",
            "cpu",
            "--quiet",
            *extra,
        ]
        with pytest.raises(SystemExit) as exit_:
            cli_main(args)
        captured = capsys.readouterr()
        return exit_.value.code, captured.out + captured.err

    assert run("--epochs", "1") == (
        0,
        f"experts: {tmp_path / 'b'} (1 of 1 finished; trained 1 now, ZCA on)\n",
    )
    assert run("--epochs", "1")[1].endswith("trained 0 now, ZCA on)\n")
    code, text = run("--epochs", "2")
    assert code == 2 and "other settings (epochs: folder has 1, asked 2)" in text


def test_experts_whiten_as_the_mtt_preset_and_distill_follows_the_buffer(tmp_path):
    """The README's two MTT commands in a row must agree: `experts` takes MTT's whitening for the dataset
    and IPC (CIFAR-10 rows: ZCA at IPC 1/10, not at 50), and `distill --method mtt` without --zca follows
    the buffer it is given; an explicit --zca still wins (and is then checked against the buffer)."""
    from latentdd.config import build_config
    from latentdd.data import load_dataset
    from latentdd.engine.build import build_objective
    from latentdd.experts.buffer import read_manifest

    common = ["--dataset", "embedded", "--image-size", "8", "--model-args", "width=8,depth=1", "--num", "1"]
    for ipc, whitened in ((10, True), (50, False)):
        out = tmp_path / f"ipc{ipc}"
        args = ["experts", *common, "--epochs", "1", "--ipc", str(ipc), "--out", str(out), "--quiet"]
        with pytest.raises(SystemExit) as exit_:
            cli_main([*args, "--device", "cpu"])
        assert exit_.value.code == 0 and read_manifest(out)["zca"] is whitened
        settings = {"method": "mtt", "dataset": "embedded", "image_size": 8, "ipc": 10, "experts": str(out),
                    "max_start_epoch": 1, "expert_epochs": 1,
                    "model_args": {"width": 8, "depth": 1}}  # fmt: skip
        splits, cpu = load_dataset("embedded", image_size=8), torch.device("cpu")
        objective = build_objective(build_config(settings), splits, cpu)  # the buffer decides, not the table
        assert (objective.zca is not None) is whitened
        with pytest.raises(UserError, match="--zca"):  # an explicit --zca that disagrees is refused
            build_objective(build_config({**settings, "zca": not whitened}), splits, cpu)


def test_torchrun_ranks_fill_one_buffer_with_the_experts_of_one_process(tmp_path):
    """Under torchrun (2 ranks, gloo) the ranks train different experts; the buffer holds exactly the
    trajectories one process makes (an expert depends only on the seed and its index)."""
    common = ["--dataset", "embedded", "--image-size", "8", "--model-args", "width=8,depth=1", "--num-experts", "3",
              "--epochs", "1", "--device", "cpu", "--no-zca", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    done = subprocess.run(
        [*launch, "-m", "latentdd", "experts", *common, "--out", str(tmp_path / "ranks")],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("experts:") == 1 and "3 of 3 finished; trained 3 now" in done.stdout
    from latentdd.data import load_dataset

    train_experts(load_dataset("embedded", image_size=8), tmp_path / "one", num=3, epochs=1, model_args={"width": 8, "depth": 1},
                  zca=False, device="cpu", progress=False)  # fmt: skip
    for k in range(3):
        a = load_file(str(expert_path(tmp_path / "ranks", k)))["trajectory"]
        b = load_file(str(expert_path(tmp_path / "one", k)))["trajectory"]
        assert torch.equal(a, b), k


def test_experts_train_compiled_on_the_same_recipe_and_record_the_path(tmp_path):
    """``--fast`` for experts: ``compile`` trains through torch.compile (about 2x on a CPU for the real
    ConvNet) and lands where eager does up to summation order; ``auto`` leaves runs too short to repay
    compiling plain; each expert file says which path made it."""
    from latentdd.compile import can_compile

    splits = tiny_splits()
    if not can_compile(torch.device("cpu")):  # without a compiler: refused by name, and auto stays plain
        with pytest.raises(UserError, match="needs a C compiler"):
            train_experts(splits, tmp_path / "compiled", num=1, epochs=1, fast="compile", **TINY)
        train_experts(splits, tmp_path / "auto", num=1, epochs=1, **TINY)
        assert read_expert_header(expert_path(tmp_path / "auto", 0))["extra"]["fast_path"] == "plain"
        return
    train_experts(splits, tmp_path / "plain", num=1, epochs=2, seed=1, fast="off", **TINY)
    train_experts(splits, tmp_path / "compiled", num=1, epochs=2, seed=1, fast="compile", **TINY)
    train_experts(splits, tmp_path / "auto", num=1, epochs=2, seed=1, **TINY)
    paths = {
        n: read_expert_header(expert_path(tmp_path / n, 0))["extra"]["fast_path"]
        for n in ("plain", "compiled", "auto")
    }
    assert paths == {"plain": "plain", "compiled": "compiled", "auto": "plain"}  # 60 images x 2 epochs: short
    plain, compiled, auto = (
        load_file(str(expert_path(tmp_path / n, 0)))["trajectory"] for n in ("plain", "compiled", "auto")
    )
    assert torch.equal(plain, auto)
    assert not torch.equal(plain[0], plain[-1]) and torch.allclose(compiled, plain, atol=1e-4, rtol=1e-3)
    with pytest.raises(UserError, match="--fast must be auto, off or compile"):
        train_experts(splits, tmp_path / "bad", num=1, epochs=1, fast="turbo", **TINY)
    assert not (tmp_path / "bad").exists()  # refused before anything was written

"""Damaged and hostile files in every place latentdd reads (issue 19, point 3).

For each reader -- synthetic set, prior file, StyleGAN pickle, distillation checkpoint, prior-training
checkpoint, expert buffer, config YAML (``--config`` and a run's ``config.yaml``), npz data, image
folder -- hypothesis derives damaged copies of a valid tiny original: truncated (down to zero bytes),
replaced by foreign bytes, retyped, reshaped, NaN-filled, or built to run code when unpickled.  Each
goes through the command line in this process and must end in exactly one line
``latentdd: error: ...`` that names the file and the problem, with exit code 2 and no file written
outside the run folder.

Examples per test: ``LATENTDD_FUZZ_EXAMPLES`` (default 3, derandomized so the suite is stable); a
larger number also draws fresh examples on every run, for a fuzzing session.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors import safe_open
from safetensors.torch import save_file

from latentdd import api
from latentdd.cli.main import main
from latentdd.config import build_config
from latentdd.experts import train_experts
from latentdd.priors.loading.io import save_prior, weights_sha256
from latentdd.priors.models.random_prior import make_random_prior
from latentdd.priors.models.sgen import SGenNetwork

N_EXAMPLES = int(os.environ.get("LATENTDD_FUZZ_EXAMPLES", "3"))
fuzz = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    derandomize=N_EXAMPLES <= 3,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

DAMAGED = r"corrupt|damaged|truncated|unreadable|not a readable|empty|not a latentdd|is not a"
NAN = r"NaN or Inf"
DTYPE = r"dtype"
SHAPE = r"shape"

QUIET = ["--device", "cpu", "--quiet"]
TINY_DISTILL = ["--ipc", "1", "--iterations", "1", "--model-args", "width=8,depth=1", "--compile", "off"]
TINY_DISTILL += ["--no-eval", *QUIET]
EXPERT_WIDTH = {"width": 8, "depth": 1}


# ----------------------------------------------------------------------------- the valid originals
@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> Path:
    """One of each file latentdd reads, valid and tiny (about 5 s in all)."""
    root = tmp_path_factory.mktemp("originals")
    run = {
        "dataset": "embedded", "image_size": 16, "ipc": 2, "iterations": 2, "batch_real": 8,
        "model_args": {"width": 8, "depth": 1}, "checkpoint_every": 1, "seed": 3, "device": "cpu",
        "compile": "off", "out": str(root / "run"),
    }  # fmt: skip
    api.distill(build_config(run), progress=False)  # config.yaml, checkpoint.pt, synset.safetensors
    save_prior(make_random_prior(10, 1, 16, seed=0), root / "prior.safetensors", {"source": "test"})
    api.train_prior(
        "embedded",
        root / "trained" / "gan.safetensors",
        steps=2,
        arch="cgen",
        image_size=16,
        device="cpu",
        score=False,
        progress=False,
    )  # fmt: skip  (leaves trained/gan.ckpt.pt)
    splits = api.load_dataset("embedded", image_size=8)
    train_experts(
        splits, root / "experts", num=1, epochs=2, model_args=EXPERT_WIDTH, device="cpu", progress=False
    )
    npz = root / "npz" / "mnist"
    npz.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 20)):
        np.savez(npz / f"{split}.npz", x=rng.integers(0, 256, (n, 8, 8), dtype=np.uint8), y=np.arange(n) % 10)
    (npz / "classes.txt").write_text("\n".join(map(str, range(10))) + "\n")
    for c, name in enumerate(("cat", "dog")):
        (root / "images" / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / name / f"{i}.{'png' if (c + i) % 2 else 'jpg'}")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        network = SGenNetwork(8, 10, 16, 16, 1, [16, 8, 8])
    (root / "network.pkl").write_bytes(pickle.dumps({"G_ema": network}))
    return root


# ----------------------------------------------------------------------------- helpers
def listing(root: Path, run: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root`` except the run folder, with size and modification time of files."""
    out: dict[str, tuple[int, int] | None] = {}
    for p in sorted(root.rglob("*")):
        if p == run or run in p.parents:
            continue
        out[str(p.relative_to(root))] = (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else None
    return out


def refused(capsys, args: list[str], *, root: Path, run: Path, names: str | Path, problem: str) -> str:
    """Run the CLI; assert exit 2, one line on stderr naming ``names`` (a path or file name) and
    matching ``problem``, and nothing written under ``root`` outside ``run``.  Returns the line."""
    before = listing(root, run)
    capsys.readouterr()
    console = logging.StreamHandler(sys.stderr)  # warnings reach the console, as in a real shell
    console.setLevel(logging.WARNING)
    logging.getLogger("latentdd").addHandler(console)
    try:
        with pytest.raises(SystemExit) as exc:
            main(args)
    finally:
        logging.getLogger("latentdd").removeHandler(console)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("latentdd: error: "), err
    assert str(names) in err, err
    assert re.search(problem, err), err
    assert listing(root, run) == before, "files were written outside the run folder"
    return err


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh folder per hypothesis example (examples share the test's tmp_path); the user cache lives
    under tmp_path too, so a write to it would count as a write outside the run folder."""
    monkeypatch.setenv("LATENTDD_CACHE", str(tmp_path / "cache"))

    def fresh() -> Path:
        return Path(tempfile.mkdtemp(dir=tmp_path, prefix="example-"))

    return tmp_path, fresh


def broken_bytes(original: bytes) -> st.SearchStrategy[bytes]:
    """A truncated copy (zero bytes included), or foreign bytes of another kind of file."""
    truncated = st.integers(0, len(original) - 1).map(lambda n: original[:n])
    foreign = st.one_of(
        st.binary(max_size=256),
        st.sampled_from(
            [b'{"not": "this kind of file"}', b"\x89PNG\r\n\x1a\n", b"PK\x03\x04", b"\x80\x04N."]
        ),
    ).filter(lambda b: b != original)
    return st.one_of(truncated, foreign)


def read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata()  # noqa: SIM118


BAD_DTYPES = [torch.float64, torch.float16, torch.int32, torch.int64, torch.uint8, torch.bool]


@dataclass
class Damage:
    """One drawn way to spoil a tensor: NaN/Inf at some positions, another dtype, another shape."""

    positions: list[int]
    value: float
    dtype: torch.dtype
    how: int

    def nan(self, t: torch.Tensor) -> torch.Tensor:
        out = t.clone().reshape(-1)
        for p in self.positions:
            out[p % out.numel()] = self.value
        return out.reshape(t.shape)

    def retype(self, t: torch.Tensor) -> torch.Tensor:
        dtype = self.dtype if self.dtype != t.dtype else torch.float16
        return (t if dtype != torch.bool else t > 0).to(dtype)

    def reshape(self, t: torch.Tensor) -> torch.Tensor:
        """Flattened, one more axis, or one element fewer along the last axis."""
        if self.how == 0 and t.ndim != 1:
            return t.reshape(-1).clone()
        if self.how == 1:
            return t.unsqueeze(0).clone()
        return t[..., :-1].clone() if t.shape[-1] > 1 else t.unsqueeze(-1).repeat_interleave(2, -1)

    def spoil_weights(self, weights: dict[str, torch.Tensor], kind: str, which: int) -> str:
        """Spoil one floating tensor of a state dict (``kind``: nan, dtype, shape or missing) in
        place; return the pattern of the problem the reader should name."""
        floating = sorted(k for k, t in weights.items() if t.is_floating_point())
        key = floating[which % len(floating)]
        if kind == "missing":
            del weights[key]
            return "do not match the network"
        spoil, problem = {
            "nan": (self.nan, NAN),
            "dtype": (self.retype, DTYPE),
            "shape": (self.reshape, SHAPE),
        }[kind]
        weights[key] = spoil(weights[key])
        return problem


damages = st.builds(
    Damage,
    positions=st.lists(st.integers(0, 10**6), min_size=1, max_size=5),
    value=st.sampled_from([float("nan"), float("inf"), -float("inf")]),
    dtype=st.sampled_from(BAD_DTYPES),
)


# ----------------------------------------------------------------------------- synthetic sets
def copy_run(originals: Path, work: Path, keep_synset: bool = True) -> Path:
    run = work / "run"
    shutil.copytree(originals / "run", run)
    if not keep_synset:
        (run / "synset.safetensors").unlink()
    return run


@fuzz
@given(data=st.data())
def test_damaged_synset_file(originals, workspace, capsys, data):
    root, fresh = workspace
    run = copy_run(originals, fresh())
    synset = run / "synset.safetensors"
    synset.write_bytes(data.draw(broken_bytes(synset.read_bytes())))
    refused(capsys, ["evaluate", str(run), *QUIET], root=root, run=run, names=synset, problem=DAMAGED)


@fuzz
@given(
    damage=st.sampled_from(["nan", "dtype", "shape", "labels"]),
    d=damages,
    key=st.sampled_from(["images", "labels"]),
    label=st.one_of(st.integers(-5, -1), st.integers(10, 1000)),
)
def test_synset_with_unusable_tensors(originals, workspace, capsys, damage, d, key, label):
    """A NaN-filled, retyped or reshaped set is refused on load, never evaluated."""
    root, fresh = workspace
    run = copy_run(originals, fresh())
    synset = run / "synset.safetensors"
    tensors, metadata = read_safetensors(synset)
    if damage == "nan":
        tensors["images"], problem = d.nan(tensors["images"]), NAN
    elif damage == "dtype":
        tensors[key], problem = d.retype(tensors[key]), DTYPE
    elif damage == "shape":
        tensors[key], problem = d.reshape(tensors[key]), SHAPE
    else:
        tensors["labels"] = Damage([0], label, torch.int64, 0).nan(tensors["labels"])
        problem = r"'labels' span .* but there are 10 classes"
    save_file(tensors, str(synset), metadata=metadata)
    refused(capsys, ["evaluate", str(run), *QUIET], root=root, run=run, names=synset, problem=problem)


# ----------------------------------------------------------------------------- prior files
def distill_with_prior(prior: Path | str, work: Path, *extra: str) -> list[str]:
    return ["distill", "--dataset", "embedded", "--image-size", "16", "--space", "latent",
            "--prior", str(prior), "--out", str(work / "run"), *TINY_DISTILL, *extra]  # fmt: skip


@fuzz
@given(data=st.data(), command=st.sampled_from(["distill", "score"]))
def test_damaged_prior_file(originals, workspace, capsys, data, command):
    root, fresh = workspace
    work = fresh()
    prior = work / "prior.safetensors"
    prior.write_bytes(data.draw(broken_bytes((originals / "prior.safetensors").read_bytes())))
    if command == "distill":
        args = distill_with_prior(prior, work)
    else:
        args = ["prior", "score", str(prior), "--dataset", "embedded", "--image-size", "16", "--no-cas"]
    refused(capsys, args, root=root, run=work / "run", names=prior, problem=DAMAGED)


@fuzz
@given(
    damage=st.sampled_from(["nan", "dtype", "shape", "missing"]),
    which=st.integers(0, 10**6),
    d=damages,
)
def test_prior_with_unusable_weights(originals, workspace, capsys, damage, which, d):
    """A prior file whose hash matches its weights (written after a training blow-up, or by other
    code) but whose weights hold NaN, another dtype or another shape is refused by name."""
    root, fresh = workspace
    work = fresh()
    state, metadata = read_safetensors(originals / "prior.safetensors")
    problem = d.spoil_weights(state, damage, which)
    metadata["sha256"] = weights_sha256(state)
    prior = work / "prior.safetensors"
    save_file(state, str(prior), metadata=metadata)
    refused(
        capsys, distill_with_prior(prior, work), root=root, run=work / "run", names=prior, problem=problem
    )


@fuzz
@given(kind=st.sampled_from(["synset", "no-metadata", "other-kind"]))
def test_foreign_safetensors_as_prior(originals, workspace, capsys, kind):
    root, fresh = workspace
    work = fresh()
    prior = work / "prior.safetensors"
    if kind == "synset":
        shutil.copy(originals / "run" / "synset.safetensors", prior)
    else:
        metadata = None if kind == "no-metadata" else {"latentdd_kind": "something-else"}
        save_file({"weight": torch.zeros(3)}, str(prior), metadata=metadata)
    problem = r"not a prior|not a latentdd prior file"
    refused(
        capsys, distill_with_prior(prior, work), root=root, run=work / "run", names=prior, problem=problem
    )


# ----------------------------------------------------------------------------- StyleGAN pickles
class _RunsCode:
    """Unpickling this makes a folder: what a hostile pickle could do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@fuzz
@given(content=st.one_of(st.just("hostile"), st.just("network"), st.binary(max_size=64)),
       spec=st.sampled_from(["{}", "stylegan:{}", "stylegan:{}?truncation_psi=0.7"]),
       command=st.sampled_from(["distill", "score"]))  # fmt: skip
def test_pickle_refused_without_trust_pickle(originals, workspace, capsys, content, spec, command):
    """No byte of a pickle is unpickled without --trust-pickle, and the error says why."""
    root, fresh = workspace
    work = fresh()
    pkl, marker = work / "net.pkl", work / "code-ran"
    if content == "hostile":
        pkl.write_bytes(pickle.dumps(_RunsCode(marker)))
    elif content == "network":
        shutil.copy(originals / "network.pkl", pkl)
    else:
        pkl.write_bytes(content)
    if command == "distill":
        args = distill_with_prior(spec.format(pkl), work)
    else:
        args = ["prior", "score", spec.format(pkl), "--dataset", "embedded", "--image-size", "16", "--no-cas"]
    line = refused(capsys, args, root=root, run=work / "run", names=pkl, problem="--trust-pickle")
    assert "runs" in line and "code" in line and "trust" in line
    assert not marker.exists()


@fuzz
@given(data=st.data())
def test_damaged_pickle_with_trust_pickle(originals, workspace, capsys, data):
    root, fresh = workspace
    work = fresh()
    original = (originals / "network.pkl").read_bytes()
    pkl = work / "net.pkl"
    damaged = data.draw(
        st.one_of(
            st.integers(0, len(original) - 1).map(lambda n: original[:n]),
            st.sampled_from([b"", b"not a pickle", (originals / "prior.safetensors").read_bytes()[:4096]]),
        )
    )
    pkl.write_bytes(damaged)
    args = distill_with_prior(pkl, work, "--trust-pickle")
    refused(capsys, args, root=root, run=work / "run", names=pkl, problem="not a readable network pickle")


def test_trusted_pickle_still_loads(originals, tmp_path, capsys):
    """--trust-pickle is the whole opt-in: the same network distills with it."""
    pkl = tmp_path / "net.pkl"
    shutil.copy(originals / "network.pkl", pkl)
    args = distill_with_prior(pkl, tmp_path, "--trust-pickle", "--iterations", "0")
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 0, capsys.readouterr().err
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["trust_pickle"] is True


# ----------------------------------------------------------------------------- distillation checkpoints
def resume(run: Path) -> list[str]:
    return ["distill", "--resume", str(run), "--no-eval", "--quiet"]


@fuzz
@given(data=st.data())
def test_damaged_distill_checkpoint(originals, workspace, capsys, data):
    root, fresh = workspace
    run = copy_run(originals, fresh(), keep_synset=False)
    ckpt = run / "checkpoint.pt"
    ckpt.write_bytes(data.draw(broken_bytes(ckpt.read_bytes())))
    refused(capsys, resume(run), root=root, run=run, names=ckpt, problem=DAMAGED)


@fuzz
@given(
    damage=st.sampled_from(["nan", "momentum-nan", "dtype", "shape", "momentum-shape", "foreign", "code"]),
    d=damages,
    foreign=st.sampled_from([[1, 2], {"tensors": {}}, torch.zeros(3), {"state": {"iteration": "x"}}]),
)
def test_distill_checkpoint_with_unusable_content(originals, workspace, capsys, damage, d, foreign):
    root, fresh = workspace
    work = fresh()
    run = copy_run(originals, work, keep_synset=False)
    ckpt = run / "checkpoint.pt"
    payload = torch.load(ckpt, weights_only=True)
    name = next(iter(payload["tensors"]))
    momentum = next(iter(payload["optimizer"]["state"].values()))
    problem = NAN
    if damage == "nan":
        payload["tensors"][name] = d.nan(payload["tensors"][name])
    elif damage == "momentum-nan":
        momentum["momentum_buffer"] = d.nan(momentum["momentum_buffer"])
    elif damage == "dtype":
        payload["tensors"][name], problem = d.retype(payload["tensors"][name]), DTYPE
    elif damage == "shape":
        payload["tensors"][name], problem = d.reshape(payload["tensors"][name]), SHAPE
    elif damage == "momentum-shape":
        momentum["momentum_buffer"], problem = d.reshape(momentum["momentum_buffer"]), SHAPE
    elif damage == "foreign":
        payload, problem = foreign, r"not a latentdd distillation checkpoint|no iteration count"
    else:
        payload["state"]["note"], problem = _RunsCode(work / "code-ran"), r"names Python code.*refused"
    torch.save(payload, ckpt)
    refused(capsys, resume(run), root=root, run=run, names=ckpt, problem=problem)
    assert not (work / "code-ran").exists()


# ----------------------------------------------------------------------------- prior-training checkpoints
def train_prior_into(folder: Path) -> list[str]:
    return ["prior", "train", "--dataset", "embedded", "--image-size", "16", "--steps", "2", "--arch", "cgen",
            "--no-score", "--out", str(folder / "gan.safetensors"), *QUIET]  # fmt: skip


@fuzz
@given(data=st.data())
def test_damaged_prior_training_checkpoint(originals, workspace, capsys, data):
    root, fresh = workspace
    folder = fresh() / "prior"
    folder.mkdir()
    ckpt = folder / "gan.ckpt.pt"
    ckpt.write_bytes(data.draw(broken_bytes((originals / "trained" / "gan.ckpt.pt").read_bytes())))
    refused(capsys, train_prior_into(folder), root=root, run=folder, names=ckpt, problem=DAMAGED)


@fuzz
@given(
    damage=st.sampled_from(["nan", "dtype", "shape", "missing", "optimizer-shape"]),
    part=st.sampled_from(["generator", "ema", "discriminator"]),
    which=st.integers(0, 10**6),
    d=damages,
)
def test_prior_training_checkpoint_with_unusable_content(
    originals, workspace, capsys, damage, part, which, d
):
    root, fresh = workspace
    folder = fresh() / "prior"
    folder.mkdir()
    ckpt = folder / "gan.ckpt.pt"
    state = torch.load(originals / "trained" / "gan.ckpt.pt", weights_only=True)
    if damage == "optimizer-shape":
        moments = next(iter(state["opt_g"]["state"].values()))
        moments["exp_avg"], problem = d.reshape(moments["exp_avg"]), SHAPE
    else:
        problem = d.spoil_weights(state[part], damage, which)
    torch.save(state, ckpt)
    refused(capsys, train_prior_into(folder), root=root, run=folder, names=ckpt, problem=problem)


# ----------------------------------------------------------------------------- expert buffers
def distill_mtt(experts: Path, work: Path) -> list[str]:
    return ["distill", "--dataset", "embedded", "--image-size", "8", "--method", "mtt", "--experts", str(experts),
            "--syn-steps", "2", "--expert-epochs", "1", "--max-start-epoch", "1", "--no-zca", "--out",
            str(work / "run"), *TINY_DISTILL]  # fmt: skip


@fuzz
@given(data=st.data(), target=st.sampled_from(["expert_0.safetensors", "buffer.json"]))
def test_damaged_expert_buffer(originals, workspace, capsys, data, target):
    root, fresh = workspace
    work = fresh()
    experts = work / "experts"
    shutil.copytree(originals / "experts", experts)
    damaged = experts / target
    damaged.write_bytes(data.draw(broken_bytes(damaged.read_bytes())))
    name = damaged if target == "buffer.json" else target  # the expert is named inside its folder
    refused(capsys, distill_mtt(experts, work), root=root, run=work / "run", names=name, problem=DAMAGED)


BAD_MANIFEST_VALUES = {
    "epochs": ["many", 1.5, None, [2]], "channels": ["one", 1.5, None], "image_size": [8, [8, "x"], None],
    "lr": ["fast", None, float("nan"), [0.01]], "zca": ["yes", None, 2], "dataset": [None, 5, ["embedded"]],
}  # fmt: skip


@fuzz
@given(
    damage=st.sampled_from(["nan", "dtype", "shape", "manifest"]),
    d=damages,
    setting_and_value=st.sampled_from(sorted(BAD_MANIFEST_VALUES)).flatmap(
        lambda k: st.sampled_from(BAD_MANIFEST_VALUES[k]).map(lambda v: (k, v))
    ),
)
def test_expert_buffer_with_unusable_content(originals, workspace, capsys, damage, d, setting_and_value):
    root, fresh = workspace
    work = fresh()
    experts = work / "experts"
    shutil.copytree(originals / "experts", experts)
    expert = experts / "expert_0.safetensors"
    tensors, metadata = read_safetensors(expert)
    trajectory = tensors["trajectory"]
    names: str | Path = expert.name
    if damage == "nan":  # every epoch, so the rows a run reads hold it
        columns = [p % trajectory.shape[1] for p in d.positions]
        trajectory[:, columns] = d.value
        problem, names = NAN, expert
    elif damage == "dtype":
        tensors["trajectory"], problem = d.retype(trajectory), DTYPE
    elif damage == "shape":
        tensors["trajectory"], problem = d.reshape(trajectory), SHAPE
    else:
        manifest = json.loads((experts / "buffer.json").read_text())
        setting, manifest[setting_and_value[0]] = setting_and_value
        (experts / "buffer.json").write_text(json.dumps(manifest))
        problem, names = rf"damaged: its setting '{setting}'", experts / "buffer.json"
    save_file(tensors, str(expert), metadata=metadata)
    refused(capsys, distill_mtt(experts, work), root=root, run=work / "run", names=names, problem=problem)


# ----------------------------------------------------------------------------- config YAML
SETTINGS_OF_EACH_TYPE = {
    "ipc": "int", "iterations": "int", "image_size": "int", "lr_img": "float", "momentum": "float",
    "dsa": "bool", "learn_prior": "bool", "eval_models": "list", "model_args": "dict", "method": "str",
}  # fmt: skip
WRONG_VALUES = {
    "int": ["[1, 2]", "{a: 1}", "many", "1.5", "true", ".nan", ".inf"],
    "float": [".nan", ".inf", "-.inf", "[1]", "fast", "true"],
    "bool": ["maybe", "2", "[true]", "{a: 1}", "0.5"],
    "list": ["{a: 1}", "[[1, 2]]", "[{a: 1}]"],
    "dict": ["[1, 2]", "42"],
    "str": ["[dm]", "{a: 1}"],
}


KNOWN = set(build_config().to_dict())


def broken_yaml() -> st.SearchStrategy[tuple[str, bytes]]:
    """(what is wrong, file content) for a settings file."""
    wrong_value = st.sampled_from(sorted(SETTINGS_OF_EACH_TYPE)).flatmap(
        lambda k: st.sampled_from(WRONG_VALUES[SETTINGS_OF_EACH_TYPE[k]]).map(
            lambda v: ("expects", f"dataset: embedded\n{k}: {v}\n".encode())
        )
    )
    flow = yaml.safe_dump({"dataset": "embedded", "ipc": 1, "lr_img": 1.0, "eval_models": ["mlp"]},
                          default_flow_style=True).encode()  # fmt: skip
    truncated_flow = st.integers(1, len(flow.rstrip()) - 1).map(lambda n: ("not valid YAML", flow[:n]))
    not_utf8 = st.tuples(st.binary(max_size=40), st.binary(max_size=40)).map(
        lambda ab: ("not UTF-8", ab[0] + b"\xff\xfe" + ab[1])
    )
    not_mapping = st.sampled_from([b"- ipc\n- 1\n", b"just words\n", b"42\n", b"[ipc, 1]\n"]).map(
        lambda b: ("must hold a mapping", b)
    )
    odd_key = st.sampled_from([b"1: 2\n", b"true: 1\n", b"null: x\n", b"3.5: 1\n"]).map(
        lambda b: ("not a setting name", b)
    )
    unknown = (
        st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
        .filter(
            lambda k: (
                k not in KNOWN and yaml.safe_load(f"{k}: 1") == {k: 1}
            )  # not a YAML word (yes, null, ...)
        )
        .map(lambda k: ("unknown setting", f"{k}: 1\n".encode()))
    )
    empty = st.sampled_from([b"", b"\n", b"   \n\n"]).map(lambda b: ("is empty", b))
    return st.one_of(wrong_value, truncated_flow, not_utf8, not_mapping, odd_key, unknown, empty)


@fuzz
@given(case=broken_yaml())
def test_broken_config_file(workspace, capsys, case):
    root, fresh = workspace
    work = fresh()
    problem, content = case
    config = work / "settings.yaml"
    config.write_bytes(content)
    args = ["distill", "--config", str(config), "--out", str(work / "run"), *TINY_DISTILL]
    refused(capsys, args, root=root, run=work / "run", names=config, problem=re.escape(problem))


@fuzz
@given(data=st.data(), command=st.sampled_from(["resume", "evaluate"]))
def test_damaged_run_config(originals, workspace, capsys, data, command):
    root, fresh = workspace
    run = copy_run(originals, fresh(), keep_synset=command == "evaluate")
    config = run / "config.yaml"
    text = config.read_bytes()
    # a cut right after a line break leaves a shorter, valid file: indistinguishable from an old run's
    cut = st.integers(0, len(text) - 1).filter(lambda n: n == 0 or text[n - 1 : n] != b"\n")
    key = st.sampled_from(sorted(SETTINGS_OF_EACH_TYPE))
    retyped_value = key.flatmap(
        lambda k: st.sampled_from(WRONG_VALUES[SETTINGS_OF_EACH_TYPE[k]]).map(
            lambda v: re.sub(rf"(?m)^{k}:.*(?:\n(?:- |  ).*)*$", f"{k}: {v}", text.decode()).encode()
        )
    )
    config.write_bytes(data.draw(st.one_of(cut.map(lambda n: text[:n]), retyped_value, broken_bytes(text))))
    args = resume(run) if command == "resume" else ["evaluate", str(run), *QUIET]
    problem = DAMAGED + "|expects|must hold|not valid YAML|not a setting name|unknown setting"
    refused(capsys, args, root=root, run=run, names=config, problem=problem)


# ----------------------------------------------------------------------------- npz data
def distill_npz(data_dir: Path, work: Path) -> list[str]:
    return [
        "distill",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--out",
        str(work / "run"),
        *TINY_DISTILL,
    ]


def write_npz(path: Path, **arrays) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


@fuzz
@given(data=st.data(), split=st.sampled_from(["train", "test"]))
def test_damaged_npz_file(originals, workspace, capsys, data, split):
    root, fresh = workspace
    work = fresh()
    shutil.copytree(originals / "npz", work / "npz")
    target = work / "npz" / "mnist" / f"{split}.npz"
    target.write_bytes(data.draw(broken_bytes(target.read_bytes())))
    refused(
        capsys,
        distill_npz(work / "npz", work),
        root=root,
        run=work / "run",
        names=target,
        problem=r"cannot read",
    )


@fuzz
@given(
    damage=st.sampled_from(
        ["float-images", "nan-images", "shape", "labels", "float-labels", "range", "object"]
    ),
    split=st.sampled_from(["train", "test"]),
    dtype=st.sampled_from([np.float32, np.float64, np.int16, np.int64]),
    shape=st.sampled_from([(40, 64), (40, 8, 8, 2), (40,), (40, 1, 8, 8, 1)]),
    count=st.integers(0, 39),
    label=st.one_of(st.integers(-100, -1), st.integers(10, 10**6)),
)
def test_npz_with_unusable_arrays(originals, workspace, capsys, damage, split, dtype, shape, count, label):
    root, fresh = workspace
    work = fresh()
    shutil.copytree(originals / "npz", work / "npz")
    target = work / "npz" / "mnist" / f"{split}.npz"
    with np.load(target) as npz:
        x, y = npz["x"], npz["y"]
    n = len(x)
    if damage == "float-images":
        arrays, problem = {"x": x.astype(dtype), "y": y}, r"images must be uint8"
    elif damage == "nan-images":
        arrays, problem = {"x": np.full(x.shape, np.nan, np.float32), "y": y}, r"images must be uint8"
    elif damage == "shape":
        arrays, problem = {"x": np.zeros((n, *shape[1:]), np.uint8), "y": y}, r"images must be N x H x W"
    elif damage == "labels":
        arrays, problem = {"x": x, "y": y[: count % n]}, r"images but labels of shape"
    elif damage == "float-labels":
        arrays, problem = (
            {"x": x, "y": np.where(np.arange(n) == count, np.nan, y)},
            r"labels must be integers",
        )
    elif damage == "range":
        y = y.copy()
        y[count % n] = label
        arrays, problem = {"x": x, "y": y}, r"labels span"
    else:  # labels as pickled Python objects, which loading must not unpickle
        marker = work / "code-ran"
        arrays, problem = {"x": x, "y": np.array([_RunsCode(marker)] * n, dtype=object)}, r"cannot read"
    np.savez(target.with_suffix(""), **arrays)
    refused(
        capsys, distill_npz(work / "npz", work), root=root, run=work / "run", names=target, problem=problem
    )
    assert not (work / "code-ran").exists()


@fuzz
@given(content=st.binary(min_size=1, max_size=64).map(lambda b: b + b"\xff\xfe"))
def test_classes_txt_not_text(originals, workspace, capsys, content):
    root, fresh = workspace
    work = fresh()
    shutil.copytree(originals / "npz", work / "npz")
    classes = work / "npz" / "mnist" / "classes.txt"
    classes.write_bytes(content)
    refused(
        capsys,
        distill_npz(work / "npz", work),
        root=root,
        run=work / "run",
        names=classes,
        problem="not UTF-8",
    )


# ----------------------------------------------------------------------------- image folders
@fuzz
@given(data=st.data(), which=st.sampled_from(["cat/0.jpg", "cat/1.png", "dog/0.png", "dog/1.jpg"]))
def test_damaged_image_in_a_folder(originals, workspace, capsys, data, which):
    root, fresh = workspace
    work = fresh()
    shutil.copytree(originals / "images", work / "images")
    image = work / "images" / which
    original = image.read_bytes()
    # a PNG cut inside its last checksum or IEND marker still decodes to every pixel: no damage
    keep = len(original) - 20 if image.suffix == ".png" else len(original)
    damaged = data.draw(
        st.one_of(
            st.integers(0, keep - 1).map(lambda n: original[:n]),
            st.binary(max_size=128),
            st.just(b"<html>a web page saved with an image name</html>"),
        )
    )
    image.write_bytes(damaged)
    args = ["distill", "--dataset", f"folder:{work / 'images'}", "--out", str(work / "run"), *TINY_DISTILL]
    refused(capsys, args, root=root, run=work / "run", names=image, problem=r"cannot decode image file")

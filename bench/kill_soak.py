"""Kill at random moments (issue 19.1): SIGKILL every long command, resume it, compare with a run
that was never interrupted.

For each command -- ``distill`` (dm, dc, dsa, mtt x pixel, latent), ``experts``, ``prior train``
(ae, cgen) and ``evaluate``, all at a tiny size -- the harness makes one uninterrupted reference run,
one more uninterrupted run (the control: the outputs must already be reproducible), then trials.  A
trial kills the command one to three times, each time either during its N-th atomic write (the temp
file complete, not yet renamed: ``LATENTDD_KILL_AT_WRITE=N``, N drawn from the control's write
count) or after a random delay (``SIGKILL`` from outside, drawn from the control's duration), and
runs it again the way a user would (``distill --resume RUN`` once the folder holds a run, the same
command otherwise) until it finishes.  Then the outputs must equal the reference's bit for bit:
the synthetic set (images, labels, every saved tensor), the loss curve, the expert trajectories,
the prior's tensors, the accuracies of ``metrics.json``, and the list of files left.

    python bench/kill_soak.py --trials 5 --seed 0 --json bench/results/kill_soak.json

Launching: the reference is a fresh ``python -m latentdd`` process (``--reference-launcher exec``);
the control and the trials run in children forked from one process that imported latentdd once
(a few seconds of imports saved per launch; each child runs the same ``cli.main`` in its own process
and its own working folder, so it is killed and resumed like any other).  The control matching the
reference shows that the fork launch changes nothing.  A forked child also lists the files of its
writes (so each kill is reported with the write it hit) and can be killed during the n-th write of a
named file; ``tests/test_kills.py`` runs the same code inside the suite with such chosen kill points.
Exit status 1 when any resume did not match.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KILLED = -int(signal.SIGKILL)


# ------------------------------------------------------------------------------------ launching
@dataclass
class Kill:
    """A kill point of one launch: during its ``at``-th atomic write (``write``), during the
    ``at``-th write of the file ``name`` (``file``), or ``at`` seconds after its start (``delay``)."""

    kind: str
    at: float
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "write":
            return f"write {int(self.at)}"
        return f"{self.name} write {int(self.at)}" if self.kind == "file" else f"after {self.at:.2f}s"


@dataclass
class Launch:
    """How one launch of a command ended: ``rc`` is ``KILLED`` after a SIGKILL."""

    rc: int
    seconds: float
    writes: list[str] | None  # the files of its atomic writes, in order (fork launcher only)
    log: str  # its stdout and stderr

    def where(self) -> str:
        """The last write it began: the one it was killed in, or the last before a delayed kill."""
        return f"{len(self.writes)}: {self.writes[-1]}" if self.writes else "before any write"


def _env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def _log_path(cwd: Path) -> Path:
    return cwd / f"launch-{len(list(cwd.glob('launch-*.log')))}.log"


class ExecLauncher:
    """Every command a fresh ``python -m latentdd`` process (kills by write index or delay)."""

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], kill: Kill | None = None) -> Launch:
        log = _log_path(cwd)
        if kill is not None and kill.kind == "file":
            raise ValueError("the exec launcher kills at a write index or after a delay only")
        if kill is not None and kill.kind == "write":
            env = {**env, "LATENTDD_KILL_AT_WRITE": str(int(kill.at))}
        timeout = kill.at if kill is not None and kill.kind == "delay" else None
        started = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "latentdd", *argv], cwd=cwd, env=_env(env), stdout=out, stderr=out
            )
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()  # SIGKILL
                rc = proc.wait()
        return Launch(rc, time.perf_counter() - started, None, log.read_text(errors="replace"))

    def close(self) -> None:
        pass


class ForkLauncher:
    """Children forked from one server process that has imported latentdd (:func:`serve`)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=_env({}),
            text=True,
        )

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], kill: Kill | None = None) -> Launch:
        log = _log_path(cwd)
        log.touch()  # a child killed before it opens the log leaves it empty
        request = {"argv": argv, "cwd": str(cwd), "env": env, "log": str(log)}
        request["kill"] = vars(kill) if kill is not None else None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        reply = json.loads(line)
        writes = Path(f"{log}.writes")
        names = writes.read_text().splitlines() if writes.exists() else []
        return Launch(reply["rc"], reply["seconds"], names, log.read_text(errors="replace"))

    def close(self) -> None:
        """End the server (idle between requests, its children all reaped)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.stdout.close()


def _arm(kill: dict[str, Any] | None, record: Path) -> None:
    """In a forked child: note every atomic write's file in ``record`` (the line is flushed before
    the write can be killed) and arm the kill point.  ``LATENTDD_KILL_AT_WRITE`` is read when
    :mod:`latentdd.fileio` is imported, so the child sets what the variable would have set."""
    from latentdd import fileio

    hook = fileio._fault_point
    names = open(record, "w", buffering=1)  # line-buffered, open until the child exits
    count: dict[str, int] = {}

    def fault_point(path: Path) -> None:
        name = Path(path).name
        names.write(name + "\n")
        count[name] = count.get(name, 0) + 1
        if kill and kill["kind"] == "file" and (kill["name"], kill["at"]) == (name, count[name]):
            os.kill(os.getpid(), signal.SIGKILL)  # the moment LATENTDD_KILL_AT_WRITE picks
        hook(path)

    fileio._fault_point = fault_point
    fileio._KILL_AT_WRITE = int(kill["at"]) if kill and kill["kind"] == "write" else 0
    fileio._writes = 0


def serve() -> None:
    """The fork server: import latentdd once, then one forked child per request line on stdin, its
    exit status (``-9`` after a SIGKILL) on stdout.  Being the children's parent, it alone reaps
    them, so a delayed kill never hits a reused pid."""
    from latentdd.cli.main import main

    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever else prints goes to stderr, not into the replies
    for line in sys.stdin:
        req = json.loads(line)
        kill = req["kill"]
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.perf_counter()
        pid = os.fork()
        if pid == 0:  # the child: the command, as `python -m latentdd` would run it
            code = 1
            try:
                os.chdir(req["cwd"])
                os.environ.update(req["env"])
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                _arm(kill, Path(req["log"] + ".writes"))
                try:
                    main(req["argv"])
                    code = 0
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = started + kill["at"] if kill and kill["kind"] == "delay" else None
        while True:
            done, status = os.waitpid(pid, os.WNOHANG if deadline else 0)
            if done:
                break
            if deadline is not None and time.perf_counter() >= deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = None
            else:
                time.sleep(0.005)
        rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        protocol.write(json.dumps({"rc": rc, "seconds": time.perf_counter() - started}) + "\n")
        protocol.flush()


# ------------------------------------------------------------------------------------ outputs
def _files(folder: Path) -> list[str]:
    """What a run leaves, less what may differ by design: claims (``.lock``), the log, launch logs,
    and temporary files (counted apart: :func:`litter`)."""
    names = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        name = p.name
        if p.is_dir() or rel.startswith(("launch-", "cache/")) or name.endswith((".tmp", ".writes")):
            continue
        if ".lock" in name or name == "log.txt":
            continue
        names.append(rel)
    return names


def litter(folder: Path) -> list[str]:
    """Temporary files of atomic writes left behind (a SIGKILL skips their clean-up)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob(".*.tmp"))


def _tensors(path: Path, prefix: str) -> dict[str, Any]:
    from safetensors.torch import load_file

    return {f"{prefix}:{k}": v for k, v in load_file(str(path)).items()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def distill_outputs(folder: Path) -> dict[str, Any]:
    from latentdd.synth.io import load_synset

    run = folder / "run"
    out: dict[str, Any] = {"files": _files(run)}
    if (run / "synset.safetensors").exists():
        s = load_synset(run / "synset.safetensors")
        out.update({"synset:images": s.images, "synset:labels": s.labels})
        out.update({f"synset:{k}": v for k, v in s.tensors.items()})
    if (run / "distill.json").exists():
        stats = json.loads((run / "distill.json").read_text())
        out.update({"distill.json:loss": stats["loss"], "distill.json:blowups": stats.get("blowup_events")})
    out["grid.png"] = _sha(run / "grid.png")
    return out


def experts_outputs(folder: Path) -> dict[str, Any]:
    from safetensors import safe_open

    buffer = folder / "experts"
    out: dict[str, Any] = {"files": _files(buffer)}
    for path in sorted(buffer.glob("expert_*.safetensors")):
        out.update(_tensors(path, path.name))
        with safe_open(str(path), framework="pt") as f:
            extra = json.loads((f.metadata() or {}).get("extra", "{}"))
        out[f"{path.name}:test_accuracy"] = extra.get("test_accuracy")
    return out


def prior_outputs(folder: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"files": _files(folder)}
    if (folder / "prior.safetensors").exists():
        out.update(_tensors(folder / "prior.safetensors", "prior"))
    return out


def evaluate_outputs(folder: Path) -> dict[str, Any]:
    run = folder / "run"
    out: dict[str, Any] = {"files": _files(run)}
    if (run / "metrics.json").exists():
        metrics = json.loads((run / "metrics.json").read_text())
        out["metrics:accuracy"] = metrics.get("accuracy")
        out["metrics:baseline"] = metrics.get("baseline_random_real")
    return out


def differences(reference: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """The names of the outputs that are not bitwise the same (tensors: dtype, shape and values)."""
    import torch

    differ = []
    for key in sorted(set(reference) | set(got)):
        a, b = reference.get(key), got.get(key)
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            same = a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        else:
            same = a == b
        if not same:
            if key == "files":
                key += f" (missing {sorted(set(a or []) - set(b or []))}, extra {sorted(set(b or []) - set(a or []))})"
            differ.append(key)
    return differ


# ------------------------------------------------------------------------------------ the commands
TINY_DISTILL = [
    "--dataset", "embedded", "--image-size", "16", "--ipc", "2", "--iterations", "6", "--batch-real", "8",
    "--model", "convnet", "--model-args", "width=16,depth=2", "--checkpoint-every", "2", "--seed", "3",
]  # fmt: skip
EXPERT_NET = ["--image-size", "8", "--model-args", "width=8,depth=1"]
TINY_EXPERTS = ["experts", "--dataset", "embedded", "--num-experts", "2", "--epochs", "3", *EXPERT_NET]
TINY_EXPERTS += ["--no-zca", "--seed", "0"]
TINY_MTT = ["--dataset", "embedded", "--method", "mtt", "--ipc", "1", "--iterations", "4", *EXPERT_NET]
TINY_MTT += ["--syn-steps", "2", "--expert-epochs", "1", "--max-start-epoch", "2", "--lr-lr", "1e-5"]
TINY_MTT += ["--zca", "false", "--seed", "3", "--checkpoint-every", "1"]
CPU = ["--device", "cpu", "--quiet"]


@dataclass
class Command:
    """One command under test: how to launch it in a trial folder (the first time and again after a
    kill), what it needs made beforehand, and which outputs must match."""

    name: str
    first: list[str]
    outputs: Callable[[Path], dict[str, Any]]
    again: list[str] | None = None  # once ``resume_when`` exists in the folder
    resume_when: str = ""
    needs: str = ""  # "experts": an expert buffer; "run": a finished distillation, copied in

    def argv(self, folder: Path, prereq: dict[str, Path]) -> list[str]:
        argv = self.again if self.again and (folder / self.resume_when).exists() else self.first
        return [a.replace("{experts}", str(prereq.get("experts", ""))) for a in argv]

    def prepare(self, folder: Path, prereq: dict[str, Path]) -> None:
        folder.mkdir(parents=True)
        if self.needs == "run":
            shutil.copytree(prereq["run"], folder / "run", ignore=shutil.ignore_patterns(".lock*", "log.txt"))


def distill_command(method: str, space: str) -> Command:
    if method == "mtt":
        first = ["distill", *TINY_MTT, "--experts", "{experts}"]
    else:
        first = ["distill", *TINY_DISTILL, "--method", method]
        if method in ("dc", "dsa"):  # checkpoints fall inside an outer loop
            first += ["--outer-loop", "3", "--inner-loop", "1"]
    first += ["--space", space] + (["--prior", "random", "--layer", "0"] if space == "latent" else [])
    first += ["--compile", "off", "--out", "run", "--no-eval", *CPU]
    return Command(
        f"distill-{method}-{space}",
        first,
        distill_outputs,
        again=["distill", "--resume", "run", "--no-eval", "--quiet"],
        resume_when="run/config.yaml",
        needs="experts" if method == "mtt" else "",
    )


def prior_command(arch: str, steps: int) -> Command:
    argv = ["prior", "train", "--dataset", "embedded", "--arch", arch, "--steps", str(steps)]
    argv += ["--image-size", "8", "--no-score", "--seed", "0", "--out", "prior.safetensors", *CPU]
    return Command(f"prior-{arch}", argv, prior_outputs)


EVALUATE = ["evaluate", "run", "--models", "convnet,mlp", "--runs", "1", "--epochs", "4"]
EVALUATE += ["--protocol", "quick", "--baseline", "--seed", "0", *CPU]


def commands(cgen_steps: int = 260) -> dict[str, Command]:
    """Every command at its tiny size.  ``cgen_steps`` past 250 crosses the GAN trainer's periodic
    checkpoint (the autoencoder's costs too much per step here: it checkpoints only at its end)."""
    table = [distill_command(m, s) for m in ("dm", "dc", "dsa", "mtt") for s in ("pixel", "latent")]
    table += [Command("experts", [*TINY_EXPERTS, "--out", "experts", *CPU], experts_outputs)]
    table += [prior_command("ae", 4), prior_command("cgen", cgen_steps)]
    table += [Command("evaluate", EVALUATE, evaluate_outputs, needs="run")]
    return {c.name: c for c in table}


# ------------------------------------------------------------------------------------ trials
@dataclass
class Trial:
    """One killed-and-resumed run: the kills that landed (with the write each hit), the launches,
    and what differed from the reference (``problem``: '' when the outputs match)."""

    planned: list[str]
    kills: list[str] = field(default_factory=list)
    launches: int = 0
    problem: str = ""
    litter: list[str] = field(default_factory=list)

    @property
    def matched(self) -> bool:
        return bool(self.kills) and not self.problem


@dataclass
class Reference:
    folder: Path
    outputs: dict[str, Any]
    writes: list[str]  # the files an uninterrupted run writes, in order
    seconds: float
    control_differs: list[str]


class Harness:
    """Runs commands in folders under ``root``: uninterrupted references (cached) and trials."""

    def __init__(
        self,
        root: Path,
        launcher: Any,
        reference_launcher: Any = None,
        table: dict[str, Command] | None = None,
        control: bool = True,
    ) -> None:
        self.root = root
        self.launcher = launcher
        self.reference_launcher = reference_launcher or launcher
        self.table = table or commands()
        self.control = control
        self.references: dict[str, Reference] = {}

    def prereq(self, command: Command) -> dict[str, Path]:
        """The expert buffer MTT reads, the run ``evaluate`` evaluates: other commands' references."""
        if command.needs == "experts":
            return {"experts": self.reference(self.table["experts"]).folder / "experts"}
        if command.needs == "run":
            return {"run": self.reference(self.table["distill-dm-pixel"]).folder / "run"}
        return {}

    def launch_until_done(self, command: Command, folder: Path, kills: list[Kill], launcher: Any = None):
        """Launch ``command`` in ``folder``, killing it at each of ``kills`` in turn, then again without
        a kill until it finishes; the launches and a problem ('' when it finished)."""
        prereq = self.prereq(command)
        env = {"LATENTDD_CACHE": str(folder / "cache")}  # nothing shared between trials
        launches: list[Launch] = []
        for i in range(len(kills) + 1):
            launch = (launcher or self.launcher).run(
                command.argv(folder, prereq), folder, env, kills[i] if i < len(kills) else None
            )
            launches.append(launch)
            if launch.rc == 0:
                return launches, ""
            if launch.rc != KILLED or i == len(kills):
                tail = " | ".join(launch.log.strip().splitlines()[-3:])
                return launches, f"launch {i + 1} exited {launch.rc}: {tail}"
        raise AssertionError("unreachable")

    def fresh(self, command: Command, label: str) -> Path:
        folder = self.root / command.name / label
        if folder.exists():
            shutil.rmtree(folder)
        command.prepare(folder, self.prereq(command))
        return folder

    def reference(self, command: Command) -> Reference:
        """An uninterrupted run (``reference_launcher``) and, with ``control``, a second one on the
        trial launcher (it lists the writes): both must give the same outputs."""
        if command.name in self.references:
            return self.references[command.name]
        runs = [(self.fresh(command, "reference"), self.reference_launcher)]
        if self.control or runs[0][1] is not self.launcher:
            runs.append((self.fresh(command, "control"), self.launcher))
        for where, launcher in runs:
            launches, problem = self.launch_until_done(command, where, [], launcher)
            if problem:
                raise RuntimeError(f"{command.name}: an uninterrupted run failed: {problem}")
        folder, last = runs[0][0], launches[0]
        outputs = command.outputs(folder)
        differ = differences(outputs, command.outputs(runs[-1][0])) if len(runs) > 1 else []
        ref = Reference(folder, outputs, last.writes or [], last.seconds, differ)
        self.references[command.name] = ref
        return ref

    def trial(self, command: Command, kills: list[Kill], label: str) -> Trial:
        """Kill ``command`` at ``kills``, resume it to the end, compare with the reference."""
        ref = self.reference(command)
        folder = self.fresh(command, label)
        launches, problem = self.launch_until_done(command, folder, kills)
        trial = Trial([str(k) for k in kills], launches=len(launches), litter=litter(folder))
        for kill, launch in zip(kills, launches, strict=False):  # + the last launch
            if launch.rc == KILLED:
                trial.kills.append(str(kill) if kill.kind == "file" else f"{kill} ({launch.where()})")
        if not problem:
            differ = differences(ref.outputs, command.outputs(folder))
            problem = f"differs: {', '.join(differ)}" if differ else ""
        trial.problem = problem
        return trial


def draw_kills(rng: random.Random, writes: int, seconds: float, most: int) -> list[Kill]:
    """One to ``most`` kill points, each at a write (1..writes) or after a delay (0..seconds)."""
    kills = []
    for _ in range(rng.randint(1, most)):
        if rng.random() < 0.5 and writes:
            kills.append(Kill("write", rng.randint(1, writes)))
        else:
            kills.append(Kill("delay", round(rng.uniform(0.02, seconds), 3)))
    return kills


def soak_command(
    harness: Harness,
    command: Command,
    trials: int,
    rng: random.Random,
    most_kills: int = 3,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The reference, then ``trials`` runs killed at random points and resumed; the tally."""
    ref = harness.reference(command)
    say(f"{command.name}: {len(ref.writes)} writes ({', '.join(ref.writes)}), {ref.seconds:.1f} s"
        + (f"; CONTROL DIFFERS: {ref.control_differs}" if ref.control_differs else ""))  # fmt: skip
    tally = []
    for t in range(trials):
        trial = harness.trial(
            command, draw_kills(rng, len(ref.writes), ref.seconds, most_kills), f"trial-{t}"
        )
        tally.append(trial)
        verdict = "match" if trial.matched else (trial.problem or "no kill landed")
        say(f"  trial {t}: killed at {trial.kills or '-'} (planned {trial.planned}), {trial.launches} launches: {verdict}")  # fmt: skip
    killed = [t for t in tally if t.kills]
    return {
        "writes": ref.writes,
        "uninterrupted_seconds": round(ref.seconds, 2),
        "control_differs": ref.control_differs,
        "trials": len(tally),
        "kills": sum(len(t.kills) for t in tally),
        "killed_trials": len(killed),
        "resumes_matched": sum(t.matched for t in killed),
        "mismatches": [{"kills": t.kills, "problem": t.problem} for t in tally if t.problem],
        "temp_files_left": sorted({f for t in tally for f in t.litter}),
        "detail": [vars(t) for t in tally],
    }


def table(report: dict[str, dict[str, Any]]) -> str:
    rows = [("command", "writes", "trials", "kills", "resumes matched", "control", "temp files left")]
    for name, r in report.items():
        rows.append(
            (
                name,
                str(len(r["writes"])),
                str(r["trials"]),
                str(r["kills"]),
                f"{r['resumes_matched']}/{r['killed_trials']}",
                "DIFFERS" if r["control_differs"] else "same",
                str(len(r["temp_files_left"])),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trials", type=int, default=5, help="killed runs per command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    parser.add_argument("--most-kills", type=int, default=3, help="kills per trial at most")
    parser.add_argument("--commands", nargs="*", help=f"a selection of: {' '.join(commands())}")
    parser.add_argument("--work", default="bench/out/kill_soak", help="folder for the runs (wiped)")
    parser.add_argument("--json", help="write the tally here")
    parser.add_argument("--reference-launcher", choices=("exec", "fork"), default="exec")
    args = parser.parse_args()
    if args.serve:
        return serve()
    known = commands()
    chosen = args.commands or list(known)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown commands {unknown}; choose from {list(known)}")
    root = Path(args.work).resolve()
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    launcher = ForkLauncher()
    harness = Harness(root, launcher, ExecLauncher() if args.reference_launcher == "exec" else launcher)
    report: dict[str, dict[str, Any]] = {}
    started = time.perf_counter()
    try:
        for name in chosen:
            report[name] = soak_command(harness, known[name], args.trials, rng, args.most_kills)
    finally:
        launcher.close()
    seconds = round(time.perf_counter() - started)
    print(f"\n{table(report)}\n{seconds} s")
    if args.json:
        summary = {
            "seed": args.seed,
            "trials": args.trials,
            "most_kills": args.most_kills,
            "seconds": seconds,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({**summary, "commands": report}, indent=2) + "\n")
    if any(r["mismatches"] or r["control_differs"] for r in report.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()

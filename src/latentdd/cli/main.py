"""The ``latentdd`` command: thin over the Python API (:mod:`latentdd.api`)."""

from __future__ import annotations

import logging
import sys

import click

from .. import api, distributed
from ..config import build_config
from ..demo import run_demo
from ..errors import UserError
from ..evaluate.protocols import PROTOCOLS
from ..evaluate.speed import FAST_MODES
from .options import parse_extra_flags

TRUST_PICKLE_HELP = "Allow a StyleGAN .pkl prior: unpickling runs code, so pass it only for files you trust."
EXTRA = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": ["-h", "--help"]}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentdd")
@click.option("-v", "--verbose", is_flag=True, help="Log more detail.")
def cli(verbose: bool) -> None:
    """Dataset distillation with deep generative priors (GLaD): DM in pixel or latent space."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s"
    )


@cli.command(context_settings=EXTRA)
@click.option("--dataset", help="mnist, fashion-mnist, cifar10, cifar100, svhn, embedded, folder:PATH")
@click.option(
    "--data-dir", help="Folder with the data (torchvision root or npz folders like ../shared/datasets)."
)
@click.option("--method", help="Distillation objective: dm, dc, dsa, mtt.")
@click.option(
    "--space", type=click.Choice(["pixel", "latent"]), help="Optimize pixels or a generator's latents."
)
@click.option(
    "--prior",
    help="Prior: a file (latentdd prior train), random, builtin:NAME, module:PKG.MOD:FACTORY, "
    "a StyleGAN .pkl, or diffusers:MODEL; latent space only (docs/priors.md).",
)
@click.option(
    "--layer", help="Generator layer k to split at (latent space), or 'auto' (validation-split choice)."
)
@click.option(
    "--learn-prior", is_flag=True, default=None, help="Also fine-tune the generator's weights (--lr-prior)."
)
@click.option("--trust-pickle", is_flag=True, default=None, help=TRUST_PICKLE_HELP)
@click.option("--prior-license", help="License you declare for the prior (recorded in the run's prior.json).")
@click.option(
    "--prior-source", help="Where the prior came from: URL, paper, training run (recorded in prior.json)."
)
@click.option("--ipc", type=int, help="Images per class.")
@click.option("--iterations", type=int, help="Distillation iterations.")
@click.option("--preset", help="paper (published settings, default) or cpu-small (PROTOCOL.md budgets).")
@click.option("--config", "config_file", type=click.Path(), help="YAML file of settings.")
@click.option("--seed", type=int, help="Seed for everything random.")
@click.option("--device", help="auto, cpu, cuda, cuda:N.")
@click.option("--out", help="Run folder to create.")
@click.option("--resume", "resume_dir", help="Continue the run in this folder.")
@click.option("--eval/--no-eval", "do_eval", default=True, help="Evaluate the synthetic set when done.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def distill(
    ctx: click.Context,
    config_file: str | None,
    resume_dir: str | None,
    do_eval: bool,
    quiet: bool,
    **options: object,
) -> None:
    """Distill a dataset into a few synthetic images per class.

    Any other setting can be passed as --name value (e.g. --lr-img 1 --batch-real 64);
    see `config.yaml` of a run for the full list.
    """
    extra = parse_extra_flags(ctx.args)
    if resume_dir:
        given = {k: v for k, v in {**options, **extra}.items() if v is not None}
        if given or config_file:
            raise UserError("--resume continues a run exactly as configured; drop the other settings")
        run = api.resume(resume_dir, progress=not quiet)
    else:
        cfg = build_config({**options, **extra}, config_file)
        run = api.distill(cfg, progress=not quiet)
    if api.is_main_process():  # under torchrun: one rank reports
        click.echo(f"synthetic set: {run / 'synset.safetensors'}")
    if do_eval:
        metrics = api.evaluate(run, progress=not quiet)
        if api.is_main_process():
            click.echo(api.format_metrics(metrics))


@cli.command()
@click.argument("target")
@click.option("--models", help="Comma-separated architectures, e.g. convnet,alexnet,vgg11,resnet18,vit.")
@click.option("--runs", type=int, help="Networks trained per architecture.")
@click.option("--epochs", type=int, help="Training epochs per network.")
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOLS.names()),
    help='Evaluation protocol (README, "Evaluation protocols"); default: the one the run was distilled with.',
)
@click.option(
    "--baseline/--no-baseline", default=None, help="Also evaluate a random real subset at the same IPC."
)
@click.option("--data-dir", help="Where the dataset of the set lives (if not the run's).")
@click.option("--seed", type=int, help="First seed (runs use seed, seed+1, ...).")
@click.option("--device", help="auto, cpu, cuda.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--fresh",
    is_flag=True,
    help="Train every network again instead of reusing those finished in RUN_DIR/eval_runs.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Networks trained at once, in separate processes that share the threads "
    "(on a CPU, one per core trains the most networks per hour).",
)
@click.option(
    "--fast",
    type=click.Choice(FAST_MODES, case_sensitive=False),
    default=None,
    help="How networks train: auto (default; each architecture on the path measured fastest for "
    "it -- torch.compile or channels-last -- in runs long enough to repay it), off (plain eager, "
    "bit for bit as before), compile (torch.compile every architecture).  Same figures in "
    "distribution, not bit for bit.",
)
def evaluate(
    target: str,
    models: str | None,
    runs: int | None,
    epochs: int | None,
    protocol: str | None,
    baseline: bool | None,
    data_dir: str | None,
    seed: int | None,
    device: str | None,
    quiet: bool,
    fresh: bool,
    jobs: int,
    fast: str | None,
) -> None:
    """Train fresh networks on a synthetic set (RUN_DIR or SYNSET_FILE) and report test accuracy.

    Each finished network is kept in RUN_DIR/eval_runs, so an interrupted evaluation
    resumes where it stopped when the same command is run again.
    """
    metrics = api.evaluate(
        target,
        protocol=protocol,
        models=models.split(",") if models else None,
        runs=runs,
        epochs=epochs,
        baseline=baseline,
        data_dir=data_dir,
        seed=seed,
        device=device,
        progress=not quiet,
        fresh=fresh,
        jobs=jobs,
        fast=fast,
    )
    if api.is_main_process():  # under torchrun every rank has the metrics; one prints them
        click.echo(api.format_metrics(metrics))


@cli.group()
def prior() -> None:
    """Generative priors."""


@prior.command("train")
@click.option("--dataset", required=True, help="Dataset name, as for distill.")
@click.option("--data-dir", help="Folder with the data.")
@click.option("--out", required=True, help="Prior file to write (.safetensors).")
@click.option("--epochs", type=float, help="Passes over the training set (fractions allowed).")
@click.option("--steps", type=int, help="Generator steps (overrides --epochs).")
@click.option("--image-size", type=int, help="Train at this resolution (default: the data's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--license", "license_text", default=None, help="License you declare for the prior (provenance)."
)
@click.option(
    "--arch",
    default="cgen",
    show_default=True,
    help="cgen (conditional GAN), sgen (StyleGAN-style GAN) or ae (KL autoencoder).",
)
@click.option(
    "--diffaug",
    default=None,
    help="GAN priors: DiffAugment policy for the discriminator's inputs, e.g. color_crop_cutout.",
)
@click.option(
    "--spectral-norm", is_flag=True, default=None, help="GAN priors: spectral norm in the discriminator."
)
@click.option(
    "--score/--no-score",
    default=True,
    show_default=True,
    help="Log prior scores while training (<out>.scores.jsonl) and record the final ones in the file.",
)
@click.option("--quiet", is_flag=True)
def prior_train(
    dataset: str,
    data_dir: str | None,
    out: str,
    epochs: float | None,
    steps: int | None,
    image_size: int | None,
    seed: int,
    device: str,
    license_text: str | None,
    arch: str,
    diffaug: str | None,
    spectral_norm: bool | None,
    score: bool,
    quiet: bool,
) -> None:
    """Train a built-in prior (conditional GAN or KL autoencoder) on a dataset."""
    path = api.train_prior(
        dataset,
        out,
        data_dir=data_dir,
        epochs=epochs,
        steps=steps,
        image_size=image_size,
        seed=seed,
        device=device,
        license_text=license_text,
        progress=not quiet,
        arch=arch,
        score=score,
        diffaug=diffaug,
        spectral_norm=spectral_norm,
    )
    if api.is_main_process():
        click.echo(f"prior: {path}")


@prior.command("score")
@click.argument("prior_spec", metavar="PRIOR")
@click.option("--dataset", required=True, help="Dataset the prior should model, as for distill.")
@click.option("--data-dir", help="Folder with the data.")
@click.option(
    "--cas/--no-cas",
    default=True,
    show_default=True,
    help="Classification accuracy score (trains ConvNets: minutes on a CPU).",
)
@click.option("--cas-per-class", type=int, default=10, show_default=True, help="Images per class for CAS.")
@click.option("--cas-runs", type=int, default=2, show_default=True, help="ConvNets (seeds) per CAS figure.")
@click.option(
    "--samples-per-class",
    type=int,
    default=100,
    show_default=True,
    help="Samples per class for Fréchet distance and diversity.",
)
@click.option("--image-size", type=int, help="Score at this resolution (a prior trained with --image-size).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "json_out", help="Also write the scores to this JSON file.")
@click.option("--trust-pickle", is_flag=True, help=TRUST_PICKLE_HELP)
def prior_score(
    prior_spec: str,
    dataset: str,
    data_dir: str | None,
    cas: bool,
    cas_per_class: int,
    cas_runs: int,
    samples_per_class: int,
    image_size: int | None,
    seed: int,
    device: str,
    json_out: str | None,
    trust_pickle: bool,
) -> None:
    """How good is PRIOR for a dataset: CAS, Fréchet distance, diversity, saturated pixels."""
    for name, value in (
        ("--cas-per-class", cas_per_class),
        ("--cas-runs", cas_runs),
        ("--samples-per-class", samples_per_class),
    ):
        if value < 1 or (name == "--samples-per-class" and value < 2):
            raise UserError(
                f"{name} must be at least {2 if name == '--samples-per-class' else 1}, got {value}"
            )
    scores = api.score_prior(
        prior_spec,
        dataset,
        data_dir=data_dir,
        image_size=image_size,
        device=device,
        cas=cas,
        out=json_out,
        cas_per_class=cas_per_class,
        cas_runs=cas_runs,
        feature_per_class=samples_per_class,
        seed=seed,
        trust_pickle=trust_pickle,
    )
    click.echo(api.format_prior_scores(scores))


@prior.command("list")
def prior_list() -> None:
    """The priors shipped with latentdd (use them as --prior builtin:NAME, offline)."""
    shipped = api.describe_builtin_priors()
    if not shipped:
        click.echo("no built-in priors are installed; train one with `latentdd prior train`")
        return
    spec_w = max(len(p["spec"]) for p in shipped)  # columns as wide as the longest entry
    data_w = max(len(p["dataset"] or "?") for p in shipped)
    for p in shipped:
        minutes = f"{p['train_seconds'] / 60:.0f} min" if p["train_seconds"] else "?"
        click.echo(
            f"{p['spec']:{spec_w}s} {p['dataset'] or '?':{data_w}s} {p['arch'] or '?':5s} {p['steps'] or '?':>6} steps "
            f"({minutes} to train)  sha256 {str(p['sha256'])[:12]}  license: {p['license']}"
        )


@cli.command()
@click.option("--dataset", required=True, help="Dataset name, as for distill.")
@click.option("--data-dir", help="Folder with the data.")
@click.option(
    "--num-experts",
    "--num",
    "num",
    type=int,
    required=True,
    help="Experts the folder should hold (finished ones are skipped). Under torchrun write --num-experts: "
    "torchrun reads --num as its own --numa-binding.",
)
@click.option(
    "--epochs",
    type=int,
    required=True,
    help="Training epochs per expert (an expert is saved when all its epochs are done).",
)
@click.option("--out", required=True, help="Expert folder (several processes may fill one concurrently).")
@click.option("--model", default="convnet", show_default=True, help="Network; must match distill's --model.")
@click.option("--model-args", help="Network options, e.g. width=64,depth=2; must match distill's.")
@click.option("--image-size", type=int, help="Resize images to this size; must match distill's.")
@click.option(
    "--zca/--no-zca",
    default=None,
    help="Train on ZCA-whitened data. Default: as the MTT preset for the dataset and --ipc whitens "
    "(CIFAR-10 IPC 1/10: yes); distill follows the buffer's setting.",
)
@click.option(
    "--ipc",
    type=int,
    default=10,
    show_default=True,
    help="The IPC the experts are for (only chooses the default --zca from MTT's table).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option(
    "--fast",
    type=click.Choice(FAST_MODES, case_sensitive=False),
    default="auto",
    show_default=True,
    help="How experts train: auto (a ConvNet compiled with torch.compile where a C compiler exists: "
    "about 2x on a CPU), off (plain eager), compile.  Same recipe, not the same bits; each expert "
    "file records its path.",
)
@click.option("--quiet", is_flag=True)
def experts(
    dataset: str,
    data_dir: str | None,
    num: int,
    epochs: int,
    out: str,
    model: str,
    model_args: str | None,
    image_size: int | None,
    zca: bool | None,
    ipc: int,
    seed: int,
    device: str,
    fast: str,
    quiet: bool,
) -> None:
    """Train expert trajectories for --method mtt (MTT's buffer.py settings)."""
    report = api.train_experts(
        dataset,
        out,
        num=num,
        epochs=epochs,
        data_dir=data_dir,
        image_size=image_size,
        model=model,
        model_args=model_args,
        zca=zca,
        ipc=ipc,
        seed=seed,
        device=device,
        progress=not quiet,
        fast=fast,
    )
    done = len(report.trained) + len(report.skipped)
    if not api.is_main_process():  # under torchrun: every rank has the merged report; one prints it
        return
    click.echo(
        f"experts: {report.folder} ({done} of {num} finished; trained {len(report.trained)} now"
        + (f"; {len(report.busy)} in progress elsewhere" if report.busy else "")
        + f", ZCA {'on' if report.zca else 'off'})"
    )


@cli.command()
@click.option("--out", default="latentdd-demo", show_default=True, help="Folder for the demo's runs.")
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True)
def demo(out: str, device: str, quiet: bool) -> None:
    """End to end on the embedded dataset, offline: prior, DM in pixel and latent space, evaluation."""
    click.echo(run_demo(out, device=device, progress=not quiet))


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True)
@click.option(
    "--out", required=True, help="HTML file to write; the same tables go beside it as Markdown (.md)."
)
@click.option(
    "--full-data/--no-full-data",
    "full_data",
    default=None,
    help="Train the runs' architectures on the full training set as the upper reference (cached in "
    "$LATENTDD_CACHE/fulldata). Default: use the cache, measure only on a GPU.",
)
@click.option(
    "--full-data-epochs", type=int, help="Shorten full-data training to N epochs (the report says so)."
)
@click.option(
    "--full-data-models",
    help="Measure the full data for these of the runs' architectures only (comma-separated, e.g. convnet).",
)
@click.option("--full-data-runs", type=int, help="Measure the full data for the runs' first N seeds only.")
@click.option("--data-dir", help="Where the runs' dataset lives (if not where they were distilled from).")
@click.option("--device", default="auto", show_default=True, help="Device for full-data training.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def report(
    run_dirs: tuple[str, ...],
    out: str,
    full_data: bool | None,
    full_data_epochs: int | None,
    full_data_models: str | None,
    full_data_runs: int | None,
    data_dir: str | None,
    device: str,
    quiet: bool,
) -> None:
    """Write one self-contained HTML report (and its Markdown) of one or more runs of one dataset."""
    files = api.write_report(
        list(run_dirs),
        out,
        full_data=full_data,
        full_data_epochs=full_data_epochs,
        full_data_models=full_data_models.split(",") if full_data_models else None,
        full_data_runs=full_data_runs,
        data_dir=data_dir,
        device=device,
        progress=not quiet,
    )
    if api.is_main_process():
        click.echo(f"report: {files.html}\nmarkdown: {files.markdown}")


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True)
@click.option(
    "--metric",
    default="cross",
    show_default=True,
    help="cross (cross-architecture mean) or one architecture, e.g. convnet.",
)
@click.option("--markdown", is_flag=True, help="Print a Markdown table instead of the terminal table.")
def compare(run_dirs: tuple[str, ...], metric: str, markdown: bool) -> None:
    """Lay runs of one dataset out as one grid: objective/space (rows) x IPC (columns), best marked."""
    click.echo(api.format_comparison(list(run_dirs), metric, markdown))


def main(argv: list[str] | None = None) -> None:
    try:
        rc = cli.main(args=argv, prog_name="latentdd", standalone_mode=False)
    except UserError as e:
        click.echo(f"latentdd: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("latentdd: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo(
            "latentdd: interrupted; a distill run continues with `latentdd distill --resume RUN_DIR`, "
            "an evaluation with the same `latentdd evaluate` command (finished networks are kept)",
            err=True,
        )
        sys.exit(130)
    distributed.shutdown()  # only on success: after an error torchrun stops the other ranks itself
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()

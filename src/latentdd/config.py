"""One flat, typed config for a distillation run, composed of the settings every method reads
(:class:`CommonSettings`) and each method's own, declared beside its presets
(``presets/<method>.py``, :func:`~latentdd.presets.register_settings`).

Everything a run needs to be repeated lives here and is written to ``config.yaml``.
Values are resolved in this order (later wins): field defaults -> the preset of the
method (published settings, or the ``cpu-small`` budgets of PROTOCOL.md) -> the
``--config`` YAML file -> command-line flags.  Any field can be set on the command line
as ``--field-name value`` and in YAML as ``field_name: value``.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError
from .presets import METHOD_SETTINGS, resolve_preset


@dataclass
class CommonSettings:
    """What every method reads; each method's own settings are declared beside its presets."""

    # what to distill
    dataset: str = "embedded"
    data_dir: str | None = None
    image_size: int | None = None
    ipc: int = 10
    # how
    method: str = "dm"
    space: str = "pixel"
    prior: str | None = None  # prior spec (file, random, builtin:, module:, .pkl, diffusers:); latent only
    prior_license: str | None = None  # the license you declare for a prior you bring (provenance)
    prior_source: str | None = None  # where that prior came from (URL, paper, run) (provenance)
    trust_pickle: bool = False  # unpickle a StyleGAN .pkl prior (pickles run code: trusted files only)
    layer: int | str = 1  # GLaD's split layer k, or "auto" (chosen on a validation split)
    layer_candidates: list[str] | None = None  # --layer auto: layers to try (default: all)
    layer_auto_iterations: int = 50  # --layer auto: distillation iterations per candidate
    layer_auto_models: list[str] = field(default_factory=lambda: ["lenet", "mlp"])  # held-out scorers
    layer_auto_epochs: int = 300  # --layer auto: training epochs of each scorer (cpu-small's 300)
    layer_auto_val_per_class: int = 100  # --layer auto: validation images carved per class
    # --layer auto: seeds per scorer, averaged (one AlexNet seed at IPC 1 ends at chance about one time in three)
    layer_auto_seeds: int = 1
    learn_prior: bool = False  # GLaD's option: fine-tune the generator's weights too
    lr_prior: float = 1e-4  # learning rate of the generator weights with --learn-prior
    preset: str = "paper"  # "paper" (published settings) or "cpu-small" (PROTOCOL.md budgets)
    iterations: int = 20000
    # "real" images (latent: encoded or inverted), "noise" (pixel), "sample" (latent: GLaD's samples), or
    # "auto": real images, except GAN priors (no encoder) start from samples -- inversion alone lost to
    # sampling on MNIST's validation split (BENCHMARKS.md, issue 15)
    init: str = "auto"
    # latent: keep each feature map within this multiple of its start's norm (0: off)
    feat_radius: float = 0.0
    # latent: H-PD's walk -- start at --layer, carry the feature maps one layer deeper at evenly spaced
    # iterations, up to this layer (None: stay at --layer)
    walk_to: int | None = None
    invert_steps: int = 200  # latent, --init real, priors without an encoder: Adam steps per inversion stage
    invert_lr: float = 0.05  # ... and their learning rate
    # distillation network
    model: str = "convnet"
    model_args: dict[str, Any] = field(default_factory=dict)  # e.g. width=64,depth=2
    # optimizer of the synthetic tensors (SGD, as the DM/GLaD code)
    lr_img: float = 1.0  # pixels
    lr_feat: float = 10.0  # GLaD: intermediate feature map
    lr_latent: float = 0.01  # GLaD: latent code w
    momentum: float = 0.5
    # objective
    batch_real: int = 256
    dsa: bool = True
    dsa_strategy: str = "color_crop_cutout_flip_scale_rotate"
    # engine
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 100
    compile: str = "auto"  # torch.compile the embedding pass: auto (long runs), on, off
    decode_chunk: int = 64  # latent space: images decoded per chunk (memory flat in IPC)
    # DC, DSA, MTT: synthetic images of a class per step (None: all of them)
    batch_syn: int | None = None
    # evaluation after distilling
    eval_protocol: str = "quick"
    eval_models: list[str] | None = None
    eval_runs: int | None = None
    eval_epochs: int | None = None
    eval_baseline: bool = True
    # how evaluation networks train: auto (fastest measured path per architecture), off, compile
    eval_fast: str = "auto"
    # bookkeeping
    out: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _compose_config() -> type:
    """``CommonSettings`` plus every method's settings class (:data:`METHOD_SETTINGS`), one flat
    dataclass: every field stays a flag and a YAML key, and a new method edits nothing here."""
    groups = list(dict.fromkeys(METHOD_SETTINGS.values()))
    seen: dict[str, str] = {f.name: "common" for f in fields(CommonSettings)}
    for group in groups:
        for f in fields(group):
            if f.name in seen:
                raise ValueError(f"setting {f.name!r} of {group.__name__} is also declared by {seen[f.name]}")
            seen[f.name] = group.__name__
    doc = (
        "The settings of a run: common ones, then each method's (" + ", ".join(sorted(METHOD_SETTINGS)) + ")."
    )
    # bases in reverse: a dataclass orders fields from the last base to the first, common ones first
    return dataclass(type("DistillConfig", (*reversed(groups), CommonSettings), {"__doc__": doc}))


DistillConfig = _compose_config()


def _coerce(name: str, tp: Any, value: Any) -> Any:
    """Turn a YAML/CLI value into the field's type, or raise a UserError naming the flag."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        options = [a for a in args if a is not type(None)]
        for option in options[:-1]:  # "int | str": the first type that takes the value wins
            try:
                return _coerce(name, option, value)
            except UserError:
                continue
        tp = options[-1]
        origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if not isinstance(value, bool | int) or value not in (0, 1):
                raise ValueError
            return bool(value)
        if tp in (int, float) and isinstance(value, bool | list | dict):
            raise ValueError
        if tp is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if tp is float:
            number = float(value)
            if not math.isfinite(number):  # a NaN learning rate would only surface as a blown-up run
                raise ValueError
            return number
        if origin is list:
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or any(isinstance(v, list | dict) for v in value):
                raise ValueError
            return [str(v) for v in value]
        if origin is dict:
            if isinstance(value, str):  # "width=64,depth=2" from the command line
                pairs = [kv.split("=", 1) for kv in value.split(",") if kv.strip()]
                if any(len(p) != 2 for p in pairs):
                    raise ValueError
                return {k.strip(): yaml.safe_load(v) for k, v in pairs}
            return dict(value)
        if isinstance(value, list | dict):
            raise ValueError
        return str(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        flag = "--" + name.replace("_", "-")
        wanted = "a finite number" if tp is float else getattr(tp, "__name__", tp)
        raise UserError(f"{flag} expects {wanted}, got {value!r}") from None


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(DistillConfig)
    return {f.name: hints[f.name] for f in fields(DistillConfig)}


def apply_overrides(cfg: DistillConfig, overrides: dict[str, Any], source: str) -> DistillConfig:
    types_ = _field_types()
    for key, value in overrides.items():
        name = key.replace("-", "_")
        if name not in types_:
            known = ", ".join("--" + n.replace("_", "-") for n in types_ if n != "extra")
            raise UserError(f"unknown setting {key!r} in {source}; known settings: {known}")
        try:
            setattr(cfg, name, _coerce(name, types_[name], value))
        except UserError as e:
            if source in ("command line", "preset"):
                raise
            raise UserError(f"{source}: {e}") from None  # name the file that holds the bad value
    return cfg


def parse_settings(text: str, source: str) -> dict[str, Any]:
    """The ``key: value`` mapping of a YAML settings text; anything else is a one-line
    :class:`UserError` naming ``source`` (e.g. ``config file 'x.yaml'``) and the problem."""
    if not text.strip():
        raise UserError(f"{source} is empty; write settings into it (key: value) or leave it out")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise UserError(f"{source} is not valid YAML{where}; fix the syntax") from None
    except RecursionError:
        raise UserError(f"{source} nests too deeply to be a settings file") from None
    if data is None:  # only comments
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{source} must hold a mapping of settings (key: value), not a {type(data).__name__}")
    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise UserError(f"{source} has a key {odd[0]!r} that is not a setting name; keys are names like ipc")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file {str(p)!r} does not exist; pass an existing YAML file to --config")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(
            f"config file {str(p)!r} is not UTF-8 text (binary or damaged); pass a YAML file"
        ) from None
    return parse_settings(text, f"config file {str(p)!r}")


def build_config(cli: dict[str, Any] | None = None, config_file: str | Path | None = None) -> DistillConfig:
    """Defaults -> method preset -> YAML file -> CLI flags (``None`` CLI values are ignored)."""
    cli = {k.replace("-", "_"): v for k, v in (cli or {}).items() if v is not None}
    file_values = {k.replace("-", "_"): v for k, v in load_yaml(config_file).items()} if config_file else {}
    # The preset depends on method, preset, dataset and IPC, which may come from either source.
    probe = DistillConfig()
    keys = ("method", "preset", "dataset", "ipc")
    file_source = f"config file {str(config_file)!r}"
    apply_overrides(probe, {k: v for k, v in file_values.items() if k in keys}, file_source)
    apply_overrides(probe, {k: v for k, v in cli.items() if k in keys}, "command line")
    preset = resolve_preset(probe.method, probe.preset, probe.dataset, probe.ipc)
    cfg = DistillConfig()
    apply_overrides(cfg, preset, "preset")
    apply_overrides(cfg, file_values, file_source)
    apply_overrides(cfg, cli, "command line")
    validate(cfg)
    # Paths are stored absolute so `--resume` works from any working directory.
    for name in ("experts", "data_dir"):
        value = getattr(cfg, name)
        if value:
            setattr(cfg, name, str(Path(value).expanduser().resolve()))
    if cfg.prior:
        from .priors.loading.resolve import absolute_spec  # torch-heavy; only when a prior is named

        cfg.prior = absolute_spec(cfg.prior)
        if cfg.space == "latent":
            apply_prior_recommendations(cfg, set(file_values) | set(cli))
    return cfg


def apply_prior_recommendations(cfg: DistillConfig, set_by_user: set[str]) -> dict[str, Any]:
    """Settings the prior file recommends for this method (its validated layer and step sizes), over
    the preset's GLaD values but under anything the user's config file or flags set; returns them."""
    from .priors.recommended import recommended_settings

    chosen = {k: v for k, v in recommended_settings(cfg.prior, cfg.method).items() if k not in set_by_user}
    apply_overrides(cfg, chosen, f"prior {cfg.prior!r} (its recommended settings)")
    validate(cfg)
    if chosen:
        cfg.extra["prior_recommended"] = chosen  # config.yaml and distill.json say where they came from
    return chosen


def validate(cfg: DistillConfig) -> None:
    cfg.method = cfg.method.lower()
    cfg.space = cfg.space.lower()
    if cfg.space not in ("pixel", "latent"):
        raise UserError(f"--space must be 'pixel' or 'latent', got {cfg.space!r}")
    if cfg.ipc < 1:
        raise UserError(f"--ipc must be at least 1, got {cfg.ipc}")
    if cfg.iterations < 0:
        raise UserError(f"--iterations must be >= 0, got {cfg.iterations}")
    if cfg.init not in ("auto", "real", "noise", "sample"):
        raise UserError(
            f"--init must be 'auto', 'real', 'noise' (pixel space) or 'sample' (latent space), got {cfg.init!r}"
        )
    if cfg.init == "sample" and cfg.space == "pixel":
        raise UserError(
            "--init sample starts from a prior's samples, so it needs --space latent; use real or noise"
        )
    if cfg.invert_steps < 0 or not cfg.invert_lr > 0:
        raise UserError(
            f"--invert-steps must be >= 0 and --invert-lr > 0, got {cfg.invert_steps} and {cfg.invert_lr}"
        )
    if cfg.layer_auto_seeds < 1:
        raise UserError(f"--layer-auto-seeds must be at least 1, got {cfg.layer_auto_seeds}")
    if cfg.feat_radius < 0:
        raise UserError(f"--feat-radius must be >= 0 (0 switches the bound off), got {cfg.feat_radius}")
    _check_walk(cfg)
    if cfg.space == "latent" and not cfg.prior:
        raise UserError(
            "--space latent needs a generator: pass --prior FILE (from `latentdd prior train`) or --prior random"
        )
    if isinstance(cfg.layer, str):
        if cfg.layer.lower() != "auto":
            raise UserError(f"--layer must be a layer index (0, 1, ...) or 'auto', got {cfg.layer!r}")
        cfg.layer = "auto"
    elif cfg.layer < 0:
        raise UserError(f"--layer must be >= 0 or 'auto', got {cfg.layer}")
    cfg.eval_fast = str(cfg.eval_fast).lower()
    if cfg.eval_fast not in ("auto", "off", "compile"):
        raise UserError(f"--eval-fast must be auto, off or compile, got {cfg.eval_fast!r}")
    if cfg.learn_prior and cfg.space != "latent":
        raise UserError("--learn-prior fine-tunes a generator, so it needs --space latent")


def _check_walk(cfg: DistillConfig) -> None:
    if cfg.walk_to is None:
        return
    if cfg.space != "latent":
        raise UserError("--walk-to walks through a generator's layers, so it needs --space latent")
    if isinstance(cfg.layer, str) or isinstance(cfg.walk_to, bool) or not isinstance(cfg.walk_to, int):
        raise UserError(
            f"--walk-to needs a layer index to walk to and a fixed --layer to start from (not auto); "
            f"got --layer {cfg.layer} --walk-to {cfg.walk_to!r}"
        )
    if cfg.walk_to <= cfg.layer:
        raise UserError(f"--walk-to {cfg.walk_to} must be deeper than the starting --layer {cfg.layer}")


def config_from_yaml_text(text: str, source: str = "config.yaml") -> DistillConfig:
    return apply_overrides(DistillConfig(), parse_settings(text, source), source)

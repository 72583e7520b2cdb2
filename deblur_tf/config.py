"""Pipeline recipes: a TOML file -> typed dataclasses, with `--set section.key=value` overrides.

A pipeline names everything a training run needs (generator, critic, losses, optimiser, data, schedule of
checkpoints), so a run is reproduced from its resolved config alone: `deblur-tf train` writes the resolved
config into the run directory and `--resume` reads it back from there.

Unknown sections or keys are errors (a typo like `perceptual_wieght` must not silently train the default).
The `[generator]` section is the exception that proves the rule: besides `kind` it holds the builder's
keyword arguments, which are checked against that builder's signature.

Relative paths in a pipeline are relative to the repository root (so `../shared/...` is the shared data
beside the checkout). When such a path starts with `../shared/` and does not exist, `$DEBLUR_SHARED/...` and
`<repo>/shared/...` are tried too, so the same TOML works where the shared folder sits inside the checkout.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deblur_tf.blur.trajectory import SHAKE_PRESETS
from deblur_tf.errors import DeblurError

# Largest training-crop scale (data.scale_range): a crop enlarged twice is as soft as a photo upscaled from half
# its size; more would be mostly interpolation.
MAX_CROP_SCALE = 2.0

ROOT = Path(__file__).resolve().parents[1]
# an installed wheel carries the pipelines inside the package (setup.py copies the checkout's top-level
# pipelines/ there at build time); a checkout or an editable install reads pipelines/ itself
_PACKAGED_PIPELINES = Path(__file__).resolve().parent / "pipelines"
PIPELINES_DIR = _PACKAGED_PIPELINES if _PACKAGED_PIPELINES.is_dir() else ROOT / "pipelines"

# The allowed values of the options that name an algorithm: this is their one list (the GAN, the losses and
# the optimizer schedule check against these too, so a value config accepts is one they run)
ADVERSARIAL_KINDS = ("wgan-gp", "lsgan", "ragan-ls", "none")  # "none": the content stage, no critic step
GP_MODES = ("sample", "pixel")
SCHEDULES = ("linear", "cosine")
PRECISIONS = ("float32", "mixed_bfloat16")


class ConfigError(DeblurError):
    """A pipeline file or override that cannot be used as it is."""


@dataclass
class GeneratorConfig:
    """`kind` for `deblur_tf.models.build_generator`, plus that builder's keyword arguments."""

    kind: str = "resnet"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class CriticConfig:
    ndf: int = 64
    n_layers: int = 3
    norm: str = "instance"


@dataclass
class LossConfig:
    adversarial: str = "wgan-gp"  # wgan-gp | lsgan | ragan-ls | none (content stage: no critic step)
    adversarial_weight: float = 1.0  # weight of the generator's adversarial term
    gp_weight: float = 10.0
    gp_mode: str = "sample"  # sample (Gulrajani et al.) | pixel (the DeblurGAN authors' code)
    perceptual_weight: float = 100.0
    perceptual_source: str = "vgg16_npz"  # vgg16_npz (offline, ../shared) | vgg19_imagenet (the paper)
    perceptual_layers: list[str] = field(default_factory=lambda: ["block3_conv3"])
    vgg_weights: str = ""  # "" = search the usual places (see deblur_tf.models.vgg)
    l1_weight: float = 0.0
    charbonnier_weight: float = 0.0  # Charbonnier pixel loss (eps 1e-3), the content stage's main term
    fft_weight: float = 0.0  # L1 of the FFT difference (MIMO-UNet), weights what the blur removed


@dataclass
class OptimConfig:
    lr: float = 1e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    n_critic: int = 5
    constant_steps: int = 100_000  # generator steps at `lr` ...
    decay_steps: int = 100_000  # ... then linear decay to 0 over these (0: stay constant)
    schedule: str = "linear"  # linear (the paper) | cosine (warm-up, constant_steps, cosine to min_lr_ratio*lr)
    warmup_steps: int = 0  # cosine only: linear warm-up from 0
    min_lr_ratio: float = 1e-3  # cosine only: the rate at the end of decay_steps, as a fraction of lr
    schedule_offset: int = 0  # cosine only: start the schedule at this step (a run continued with a fresh Adam)
    d_lr: float = 0.0  # the critic's peak rate (0 = lr)
    ema: float = 0.0  # generator weights: momentum of their exponential moving average (0 = off; 0.999 ~ the last
    # 1000 steps). When on, validation and RUN/generator.weights.h5 (what ships, what init_from reads) are the average


@dataclass
class DataConfig:
    kind: str = "synthetic"  # synthetic (sharp photos + on-device blur) | paired (blur/ + sharp/) | mixture
    train_dir: str = "../shared/data/sharp/train"  # sharp photos (synthetic) or the paired root (paired)
    paired_dir: str = ""  # mixture only: the paired root mixed with train_dir's synthetic pairs
    mix_ratio: float = 0.5  # mixture only: fraction of synthetic batches
    val_dir: str = "../shared/data/sharp/val"  # sharp photos blurred with a fixed seed; "" = no validation
    crop: int = 256
    batch_size: int = 16
    load_size: int = 0  # resize the shorter side before cropping (0 = no resize)
    augment: bool = True
    kernel_size: int = 31
    kernel_bank: int = 4096
    noise_std: list[float] = field(default_factory=lambda: [0.0, 0.01])
    gamma: float = 2.2
    shake: str = "boracchi"  # trajectory parameters: boracchi (the paper's) | realistic (10-30 px, docs/BLUR.md)
    srgb_fraction: float = 0.0  # on-device camera: fraction of crops blurred on sRGB values instead of linear light
    saturation: float = 0.0  # ... fraction of crops whose highlights are boosted x1.5-4 before the blur (clipped streaks)
    shot_noise: float = 0.0  # ... Poisson-Gaussian: variance noise_std^2 + U(0, shot_noise) * value
    quantize: bool = False  # ... round the blurred crop to 8 bits
    match_mean: bool = False  # ... shift each blurred crop to its sharp crop's mean (no learned darkening)
    jpeg_fraction: float = 0.0  # ... fraction of crops written as a JPEG (4:2:0) after the noise and rounding
    jpeg_quality: list[int] = field(default_factory=lambda: [60, 95])  # ... its quality, uniform in [lo, hi]
    varying_fraction: float = 0.0  # ... fraction of crops whose blur changes across the frame (two PSFs interpolated)
    sharp_fraction: float = 0.0  # share of training crops left unblurred (delta kernel): teaches 'sharp stays sharp'
    scale_range: list[float] = field(default_factory=lambda: [1.0, 1.0])  # crop scales U(lo, hi) <= 2: photos at several sizes (> 1: enlarged, soft)
    exposures: list[float] = field(default_factory=lambda: [0.1, 0.5, 1.0])  # training kernels keep one of these fractions of their trajectory
    val_crop: int = 256  # 0 = whole validation images (batch 1)
    val_batch_size: int = 4
    val_limit: int = 0  # validate on the first N batches only (0 = all)
    workers: int = 4  # threads building batches ahead of the accelerator
    samples_per_epoch: int = 0  # 0 = one pass over the images
    skip_bad: bool = False  # leave unreadable / too small images out (each logged) instead of stopping


@dataclass
class TrainConfig:
    steps: int = 200_000  # total generator steps of the run (the schedule runs to optim.constant+decay)
    seed: int = 0
    precision: str = "float32"  # float32 | mixed_bfloat16
    jit_compile: str = "auto"  # auto | true | false (TensorFlow; JAX always compiles)
    devices: int = 1  # data-parallel replicas: 1, N, or 0 = all; data.batch_size is the global batch (deblur_tf.distributed)
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 100
    val_every: int = 1000
    sample_every: int = 1000  # TensorBoard triptychs (blurred | restored | sharp)
    # fine-tuning: start a new run from a trained generator (shipped name, .keras, .weights.h5 + generator.json
    # or a run folder) and from the critic stored with it, if any; "" = random initialisation
    init_from: str = ""
    # init_from may be a smaller network of the same kind (fewer blocks): its layers are copied by name and
    # the new ones keep their initialisation; checked to give the same output (nafnet's new blocks start as
    # the identity), so training continues from the source's function with more capacity
    init_grow: bool = False


@dataclass
class PipelineConfig:
    name: str = "unnamed"
    description: str = ""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    source: str = ""  # the file it was loaded from (not written back)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "description": self.description}
        out["generator"] = {"kind": self.generator.kind, **self.generator.kwargs}
        for sec in ("critic", "loss", "optim", "data", "train"):
            out[sec] = dataclasses.asdict(getattr(self, sec))
        return out

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    def generator_spec(self) -> dict[str, Any]:
        """What `build_generator` needs, as written to RUN/generator.json."""
        return {"kind": self.generator.kind, "kwargs": dict(self.generator.kwargs)}


SECTIONS: dict[str, type] = {
    "critic": CriticConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "data": DataConfig,
    "train": TrainConfig,
}
TOP_LEVEL = ("name", "description")


# ------------------------------------------------------------------------------------------ loading
def resolve_pipeline_path(path_or_name: str | os.PathLike) -> Path:
    """A path to a TOML file, or a pipeline name from `pipelines/` (`deblurgan-synthetic`)."""
    p = Path(path_or_name).expanduser()
    if p.is_file():
        return p
    for candidate in (PIPELINES_DIR / f"{path_or_name}.toml", PIPELINES_DIR / str(path_or_name)):
        if candidate.is_file():
            return candidate
    names = ", ".join(sorted(q.stem for q in PIPELINES_DIR.glob("*.toml"))) or "none found"
    raise ConfigError(f"pipeline {str(path_or_name)!r} is neither a TOML file nor a name in {PIPELINES_DIR} "
                      f"(available: {names})")


def load_pipeline(path_or_name: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> PipelineConfig:
    """Read a pipeline TOML (path or name), apply `section.key=value` overrides, check every key."""
    path = resolve_pipeline_path(path_or_name)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the pipeline ({exc})") from exc
    for item in overrides:
        apply_override(raw, item)
    cfg = from_dict(raw, str(path))
    cfg.source = str(path)
    return cfg


def parse_value(text: str) -> Any:
    """A TOML value (`1e-4`, `true`, `[0.0, 0.01]`, `"x"`), or the bare text as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one `section.key=value` (or `name=value`) to a raw TOML dict, in place."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set train.steps=1000")
    key, _, value = item.partition("=")
    key = key.strip()
    parts = key.split(".")
    if len(parts) == 1 and key in TOP_LEVEL:
        raw[key] = parse_value(value.strip())
        return
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: expected section.key=value, e.g. --set data.train_dir=/data/sharp")
    section, name = parts
    raw.setdefault(section, {})
    if not isinstance(raw[section], dict):
        raise ConfigError(f"--set {item!r}: {section!r} is not a section")
    raw[section][name] = parse_value(value.strip())


def _coerce(value: Any, typ: Any, where: str) -> Any:
    """Check a TOML value against a dataclass field type (ints are accepted for floats)."""
    origin = getattr(typ, "__origin__", None)
    if typ is float or typ == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if typ is int or typ == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if typ is bool or typ == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if typ is str or typ == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if origin is list or (isinstance(typ, str) and typ.startswith("list")):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return list(value)
    return value


def _section(cls: type, values: dict[str, Any], name: str, source: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: [{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {name}.{key} (known keys of [{name}]: {', '.join(fields)})")
        kwargs[key] = _coerce(value, fields[key].type, f"{source}: {name}.{key}")
    return cls(**kwargs)


def _check_generator_kwargs(kind: str, kwargs: dict[str, Any], source: str) -> None:
    from deblur_tf.models import GENERATORS  # imports Keras: config stays importable without it

    if kind not in GENERATORS:
        raise ConfigError(f"{source}: generator.kind = {kind!r} is unknown; choose one of {', '.join(GENERATORS)}")
    params = inspect.signature(GENERATORS[kind]).parameters
    for key in kwargs:
        if key not in params or key == "name":
            known = ", ".join(p for p in params if p != "name")
            raise ConfigError(f"{source}: unknown key generator.{key} for kind {kind!r} (known: kind, {known})")


def from_dict(raw: dict[str, Any], source: str = "<dict>") -> PipelineConfig:
    """Build and validate a PipelineConfig from a parsed TOML dict."""
    known = set(TOP_LEVEL) | set(SECTIONS) | {"generator"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: unknown key or section {key!r} (known: {', '.join(sorted(known))})")
    cfg = PipelineConfig()
    for key in TOP_LEVEL:
        if key in raw:
            setattr(cfg, key, _coerce(raw[key], str, f"{source}: {key}"))
    gen = dict(raw.get("generator", {}))
    kind = gen.pop("kind", "resnet")
    _check_generator_kwargs(kind, gen, source)
    # TOML arrays of ints for tuple-typed builder arguments (mobile widths etc.) are passed as tuples
    cfg.generator = GeneratorConfig(kind, {k: tuple(v) if isinstance(v, list) else v for k, v in gen.items()})
    for name, cls in SECTIONS.items():
        if name in raw:
            setattr(cfg, name, _section(cls, raw[name], name, source))
    validate(cfg, source)
    return cfg


def _choices(values: tuple[str, ...]) -> str:
    """'a, b or c': how an error lists the allowed values."""
    return f"{', '.join(values[:-1])} or {values[-1]}"


def validate(cfg: PipelineConfig, source: str) -> None:
    """Value checks that a type alone cannot express, each naming the key and the fix."""
    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {key} {why}")

    if cfg.loss.adversarial not in ADVERSARIAL_KINDS:
        raise bad("loss.adversarial", f"= {cfg.loss.adversarial!r}: choose {_choices(ADVERSARIAL_KINDS)}")
    content = (cfg.loss.perceptual_weight, cfg.loss.l1_weight, cfg.loss.charbonnier_weight, cfg.loss.fft_weight)
    if cfg.loss.adversarial == "none" and not any(w > 0 for w in content):
        raise bad("loss.adversarial", "= 'none' trains on the content loss alone: set loss.charbonnier_weight, "
                  "loss.l1_weight, loss.fft_weight or loss.perceptual_weight > 0")
    if cfg.optim.schedule not in SCHEDULES:
        raise bad("optim.schedule", f"= {cfg.optim.schedule!r}: choose {_choices(SCHEDULES)}")
    if not 0.0 <= cfg.optim.ema < 1.0:
        raise bad("optim.ema", f"= {cfg.optim.ema}: must be a momentum in [0, 1) (0 = no weight average; 0.999 averages "
                  "about the last 1000 steps)")

    if cfg.data.shake not in SHAKE_PRESETS:
        raise bad("data.shake", f"= {cfg.data.shake!r}: choose {' or '.join(SHAKE_PRESETS)}")
    for key in ("srgb_fraction", "saturation"):
        if not 0.0 <= getattr(cfg.data, key) <= 1.0:
            raise bad(f"data.{key}", f"= {getattr(cfg.data, key)}: must be a fraction in [0, 1]")
    if cfg.data.shot_noise < 0:
        raise bad("data.shot_noise", f"= {cfg.data.shot_noise}: must be >= 0")
    if not 0.0 <= cfg.data.sharp_fraction < 1.0:
        raise bad("data.sharp_fraction", f"= {cfg.data.sharp_fraction}: must be a fraction in [0, 1)")
    sr = cfg.data.scale_range
    if (len(sr) != 2 or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in sr)
            or not 0.0 < sr[0] <= sr[1] <= MAX_CROP_SCALE):
        raise bad("data.scale_range", f"= {sr}: needs [lo, hi] with 0 < lo <= hi <= {MAX_CROP_SCALE:g} ([1, 1] = plain "
                  "crops, below 1 shrunk, above 1 enlarged)")
    ex = cfg.data.exposures
    if (not ex or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in ex)
            or not all(0.0 < v <= 1.0 for v in ex)):
        raise bad("data.exposures", f"= {ex}: needs one or more fractions in (0, 1] (one is drawn per training "
                  "kernel; [0.1, 0.5, 1.0] is DeblurGAN's, [0.5, 1.0] leaves out the small 10 % cuts)")
    if not 0.0 <= cfg.data.jpeg_fraction <= 1.0:
        raise bad("data.jpeg_fraction", f"= {cfg.data.jpeg_fraction}: must be a fraction in [0, 1]")
    if not 0.0 <= cfg.data.varying_fraction <= 1.0:
        raise bad("data.varying_fraction", f"= {cfg.data.varying_fraction}: must be a fraction in [0, 1]")
    jq = cfg.data.jpeg_quality
    if (len(jq) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in jq)
            or not 1 <= jq[0] <= jq[1] <= 100):
        raise bad("data.jpeg_quality", f"= {jq}: must be [lo, hi], integers with 1 <= lo <= hi <= 100")
    if cfg.loss.gp_mode not in GP_MODES:
        raise bad("loss.gp_mode", f"= {cfg.loss.gp_mode!r}: choose {_choices(GP_MODES)}")
    if cfg.loss.perceptual_source not in ("vgg16_npz", "vgg19_imagenet"):
        raise bad("loss.perceptual_source", f"= {cfg.loss.perceptual_source!r}: choose vgg16_npz or vgg19_imagenet")
    if cfg.data.kind not in ("synthetic", "paired", "mixture"):
        raise bad("data.kind", f"= {cfg.data.kind!r}: choose synthetic, paired or mixture")
    if cfg.data.kind == "mixture" and not cfg.data.paired_dir:
        raise bad("data.paired_dir", "is needed when data.kind = 'mixture'")
    if cfg.train.precision not in PRECISIONS:
        raise bad("train.precision", f"= {cfg.train.precision!r}: choose {_choices(PRECISIONS)}")
    if str(cfg.train.jit_compile).lower() not in ("auto", "true", "false"):
        raise bad("train.jit_compile", f"= {cfg.train.jit_compile!r}: choose auto, true or false")
    counts = ("optim.n_critic", "optim.constant_steps", "optim.decay_steps", "optim.warmup_steps",
              "optim.schedule_offset", "train.steps", "train.checkpoint_every", "train.keep_checkpoints",
              "train.log_every", "train.val_every", "train.sample_every", "data.batch_size", "data.workers")
    may_be_zero = {"optim.constant_steps", "optim.decay_steps", "optim.warmup_steps", "optim.schedule_offset",
                   "data.workers"}
    for key in counts:
        section, name = key.split(".")
        value, low = getattr(getattr(cfg, section), name), 0 if key in may_be_zero else 1
        if value < low:
            raise bad(key, f"= {value}: must be >= {low}")
    if not (cfg.optim.lr > 0 and math.isfinite(cfg.optim.lr)):
        raise bad("optim.lr", f"= {cfg.optim.lr}: must be a positive number")
    if len(cfg.data.noise_std) != 2:
        raise bad("data.noise_std", f"= {cfg.data.noise_std}: give a range [low, high]")
    # sizes the networks and the blur can take: checked here, before a run folder is made, not at step 1
    if cfg.data.kernel_size < 1:
        raise bad("data.kernel_size", f"= {cfg.data.kernel_size}: must be >= 1")
    multiple = generator_multiple(cfg.generator)
    for key, value, blurred_here in (("data.crop", cfg.data.crop, cfg.data.kind != "paired"),
                                     ("data.val_crop", cfg.data.val_crop, bool(cfg.data.val_dir))):
        if key == "data.val_crop" and value == 0:
            continue  # whole validation images
        if value < multiple or value % multiple:
            raise bad(key, f"= {value}: must be a positive multiple of {multiple} (the {cfg.generator.kind!r} "
                           f"generator halves the size {multiple.bit_length() - 1} times), e.g. "
                           f"{max(multiple, round(value / multiple) * multiple)}")
        if blurred_here and value <= cfg.data.kernel_size // 2:
            raise bad(key, f"= {value}: too small for data.kernel_size = {cfg.data.kernel_size} (the blur "
                           f"reflect-pads {cfg.data.kernel_size // 2} pixels); use a crop above "
                           f"{cfg.data.kernel_size // 2} or a smaller kernel")


def generator_multiple(gen: GeneratorConfig) -> int:
    """What H and W of the generator's input must divide by (resnet: 4; mobile: 2^(levels - 1); nafnet:
    2^levels)."""
    if gen.kind == "mobile":
        from deblur_tf.models import GENERATORS  # imports Keras: only when a pipeline is checked

        default = inspect.signature(GENERATORS["mobile"]).parameters["widths"].default
        return 2 ** (len(gen.kwargs.get("widths", default)) - 1)
    if gen.kind == "nafnet":
        from deblur_tf.models import GENERATORS

        default = inspect.signature(GENERATORS["nafnet"]).parameters["encoder_blocks"].default
        return 2 ** len(gen.kwargs.get("encoder_blocks", default))
    return 4


def resolve_path(text: str) -> Path:
    """A path from a pipeline: absolute, `~`, or relative to the repository root (see module docstring)."""
    p = Path(text).expanduser()
    if p.is_absolute():
        return p
    candidate = (ROOT / p).resolve()
    parts = p.parts
    if not candidate.exists() and len(parts) > 1 and parts[0] == ".." and parts[1] == "shared":
        rest = Path(*parts[2:]) if len(parts) > 2 else Path()
        alternatives = [ROOT / "shared" / rest]
        if os.environ.get("DEBLUR_SHARED"):
            alternatives.insert(0, Path(os.environ["DEBLUR_SHARED"]) / rest)
        for alt in alternatives:
            if alt.exists():
                return alt.resolve()
    return candidate


# ------------------------------------------------------------------------------------------ writing
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise ValueError(f"cannot write {value} to TOML")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} {value!r} to TOML")


def dumps_toml(data: dict[str, Any]) -> str:
    """TOML text for a dict of scalars and one level of tables (all a pipeline needs)."""
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for key, table in data.items():
        if isinstance(table, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"

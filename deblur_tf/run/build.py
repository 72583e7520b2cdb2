"""Building a run from its pipeline: the only code that reads the training config.

Config -> networks (under the precision policy) -> a compiled `DeblurGAN` with both Adams; config -> the training
and validation `BatchSource`s; `train.init_from` -> weights copied into the new GAN (fine-tuning). The loop
(`deblur_tf.run.loop`) receives what these build and never looks at the config's sections itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from deblur_tf.blur.trajectory import SHAKE_PRESETS
from deblur_tf.config import PipelineConfig, apply_override, from_dict, load_pipeline, resolve_path
from deblur_tf.data import PairedFolder, SyntheticPairs, mix
from deblur_tf.errors import DeblurError
from deblur_tf.gan import DeblurGAN, make_optimizers, set_precision
from deblur_tf.models import build_critic, build_generator, build_vgg_features
from deblur_tf.run.checkpoints import list_checkpoints
from deblur_tf.zoo import find_critic, load_critic, load_model, load_weights_strict


def enable_jax_compile_cache() -> Path | None:
    """Under JAX, keep compiled train steps on disk so that each resumed chunk of a run starts in seconds
    instead of recompiling (minutes for the paper model). `$JAX_COMPILATION_CACHE_DIR` wins; otherwise
    `$XDG_CACHE_HOME/deblur_tf/jax` (~/.cache/...). Returns the directory, or None under other backends."""
    if keras.backend.backend() != "jax":
        return None
    import jax  # only under JAX: the TensorFlow backend may run without it

    path = os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "deblur_tf" / "jax"
    )
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
    except (OSError, AttributeError):  # read-only home, or an older JAX without the option: just recompile
        return None
    return Path(path)


def build_networks(cfg: PipelineConfig, pretrained_vgg: bool = True) -> tuple[keras.Model, keras.Model, keras.Model | None]:
    """(generator, critic, feature_extractor or None) under the pipeline's precision policy."""
    set_precision(cfg.train.precision)
    generator = build_generator(cfg.generator.kind, **cfg.generator.kwargs)
    critic = build_critic(ndf=cfg.critic.ndf, n_layers=cfg.critic.n_layers, norm=cfg.critic.norm)
    features = None
    if cfg.loss.perceptual_weight > 0:
        features = build_vgg_features(
            cfg.loss.perceptual_source,
            cfg.loss.perceptual_layers,
            weights_path=resolve_path(cfg.loss.vgg_weights) if cfg.loss.vgg_weights else None,
            pretrained=pretrained_vgg,
        )
    return generator, critic, features


def build_gan(cfg: PipelineConfig, pretrained_vgg: bool = True) -> DeblurGAN:
    """A compiled DeblurGAN for a pipeline (models, losses, both Adams with the paper's schedule)."""
    keras.utils.set_random_seed(cfg.train.seed)
    generator, critic, features = build_networks(cfg, pretrained_vgg)
    gan = DeblurGAN(
        generator,
        critic,
        features,
        n_critic=cfg.optim.n_critic,
        adversarial=cfg.loss.adversarial,
        gp_weight=cfg.loss.gp_weight,
        gp_mode=cfg.loss.gp_mode,
        perceptual_weight=cfg.loss.perceptual_weight,
        l1_weight=cfg.loss.l1_weight,
        charbonnier_weight=cfg.loss.charbonnier_weight,
        fft_weight=cfg.loss.fft_weight,
        adversarial_weight=cfg.loss.adversarial_weight,
        blur_gamma=cfg.data.gamma,
        camera=camera_model(cfg),
        seed=cfg.train.seed,
    )
    o = cfg.optim
    g_opt, d_opt = make_optimizers(
        o.lr, o.beta_1, o.beta_2, o.constant_steps, o.decay_steps, o.n_critic, schedule=o.schedule,
        warmup_steps=o.warmup_steps, min_lr_ratio=o.min_lr_ratio, schedule_offset=o.schedule_offset,
        d_lr=o.d_lr or None, ema=o.ema,
    )
    jit = {"auto": "auto", "true": True, "false": False}[str(cfg.train.jit_compile).lower()]
    gan.compile(g_opt, d_opt, jit_compile=jit)
    return gan


def camera_model(cfg: PipelineConfig) -> dict[str, Any] | None:
    """The on-device camera model of a pipeline (`DeblurGAN(camera=...)`), None when it uses none of it."""
    d = cfg.data
    cam = {"srgb_fraction": d.srgb_fraction, "saturation": d.saturation, "shot_noise": d.shot_noise,
           "quantize": d.quantize, "match_mean": d.match_mean}
    if d.jpeg_fraction > 0:  # only when on, so that pipelines without JPEG build the same camera as before
        cam.update(jpeg_fraction=d.jpeg_fraction, jpeg_quality=tuple(d.jpeg_quality))
    if d.varying_fraction > 0:  # likewise
        cam.update(varying_fraction=d.varying_fraction)
    return cam if any(cam.values()) else None


def grow_into(target: keras.Model, src: keras.Model, spec: str, echo: Callable[[str], None] = print,
               atol: float = 1e-4) -> int:
    """Copy a smaller generator into a deeper one of the same kind (`train.init_grow`), layer by layer by name.

    Why: a cosine cycle of the same network plateaued (docs/TRAINING.md, cycles 1-2); growing keeps what was
    learnt and adds capacity. Every layer of the source must exist in the target with the same weight shapes,
    and the grown network must compute what the source computes (its extra layers start as the identity,
    as nafnet's zero-scaled blocks do), checked on a random input; anything else is an error, not a silent
    partial copy. Returns the number of layers that keep their initialisation.
    """
    import numpy as np

    layers = {layer.name: layer for layer in target.layers if layer.weights}
    for layer in src.layers:
        if not layer.weights:
            continue
        dst = layers.pop(layer.name, None)
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if dst is None or [tuple(w.shape) for w in dst.get_weights()] != shapes:
            got = "missing" if dst is None else [tuple(w.shape) for w in dst.get_weights()]
            raise DeblurError(f"train.init_from {spec!r} with train.init_grow: layer {layer.name!r} {shapes} is "
                              f"{got} in the pipeline's generator; growing only adds blocks to the same network")
        dst.set_weights(layer.get_weights())
    probe = np.random.default_rng(0).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    diff = float(np.max(np.abs(np.asarray(target(probe)) - np.asarray(src(probe)))))
    if diff > atol:
        raise DeblurError(f"train.init_from {spec!r} with train.init_grow: the grown generator differs from it by "
                          f"{diff:.3g} on a random input; its new layers {sorted(layers)[:4]}... do not start as "
                          "the identity")
    echo(f"grown from {spec}: {len(layers)} new layers start as the identity (max output difference {diff:.1e})")
    return len(layers)


def init_from_model(gan, spec: str, echo: Callable[[str], None] = print,
                    grow: bool = False) -> dict[str, str | None]:
    """Fine-tuning: copy a trained generator (and the critic stored with it, when one fits) into a new run.

    The pipeline's [generator] must describe the same network; a mismatch is an error that names both, since
    silently training a different architecture from scratch is not what someone fine-tuning asked for. The
    critic is optional: shipped models and run folders may lack one, or one of another size; then it starts
    from random weights and a note says so. Returns where each came from.
    """
    loaded = load_model(spec)
    src = loaded.keras_model
    if src is None:
        raise DeblurError(f"train.init_from {spec!r}: a {loaded.kind} artifact has no trainable Keras weights; give "
                          "a shipped model name, a .keras file, a .weights.h5 with generator.json, or a run folder")
    want = [tuple(w.shape) for w in gan.generator.get_weights()]
    have = [tuple(w.shape) for w in src.get_weights()]
    if want != have and grow:
        grow_into(gan.generator, src, spec, echo)
    elif want != have:
        desc = loaded.info.get("kind", loaded.kind), loaded.info.get("kwargs", "?")
        raise DeblurError(
            f"train.init_from {spec!r}: its generator ({desc[0]} {desc[1]}, {loaded.params:,} parameters) is not "
            f"the pipeline's ({gan.generator.count_params():,} parameters); use a pipeline whose [generator] "
            "matches it (mobile models: -p mobile-synthetic; ResNet ones: a deblurgan-* pipeline), or --set "
            "generator.<key>=<value> to make it match")
    else:
        gan.generator.set_weights(src.get_weights())
    origin: dict[str, str | None] = {"generator": loaded.source, "critic": None}
    echo(f"generator initialised from {loaded.name} ({loaded.source})")

    critic_file = _stored_critic(loaded.source)
    if critic_file is None:
        echo(f"note: {loaded.name} has no stored critic; the critic starts from random weights")
        return origin
    fresh = gan.critic.get_weights()  # a failed load must not leave a half-trained critic behind
    try:
        if critic_file.name.endswith(".keras"):
            weights = load_critic(critic_file).get_weights()
            if [w.shape for w in weights] != [w.shape for w in gan.critic.get_weights()]:
                raise ValueError("its layers have other shapes than the pipeline's [critic]")
            gan.critic.set_weights(weights)
        else:
            load_weights_strict(gan.critic, critic_file)
    except Exception as exc:  # noqa: BLE001 - keras raises many types for weights that do not fit
        gan.critic.set_weights(fresh)
        echo(f"note: the critic stored with {loaded.name} ({critic_file}) does not fit the pipeline's [critic] "
             f"({type(exc).__name__}: {exc}); the critic starts from random weights")
        return origin
    origin["critic"] = str(critic_file)
    echo(f"critic initialised from {critic_file}")
    return origin


def _stored_critic(model_source: str) -> Path | None:
    """The critic that belongs with a model: beside it (shipped models, exports) or a run's last checkpoint."""
    found = find_critic(model_source)
    if found is not None:
        return found
    src = Path(model_source)
    run = src if src.is_dir() else src.parent
    ckpts = list_checkpoints(run) if (run / "checkpoints").is_dir() else []
    if ckpts and (ckpts[-1] / "critic.weights.h5").is_file():
        return ckpts[-1] / "critic.weights.h5"
    return None


def build_data(cfg: PipelineConfig) -> tuple[Any, Any]:
    """(training BatchSource, fixed validation BatchSource of (blurred, sharp) or None)."""
    d, seed = cfg.data, cfg.train.seed
    load_size = d.load_size or None
    spe = d.samples_per_epoch or None

    def synthetic(folder: str, **kw):
        return SyntheticPairs(resolve_path(folder), crop=d.crop, batch_size=d.batch_size,
                              kernel_size=d.kernel_size, kernel_bank=d.kernel_bank, noise_std=tuple(d.noise_std),
                              gamma=d.gamma, seed=seed, load_size=load_size, augment=d.augment,
                              samples_per_epoch=spe, trajectory=SHAKE_PRESETS[d.shake], skip_bad=d.skip_bad,
                              sharp_fraction=d.sharp_fraction, exposures=tuple(d.exposures),
                              scale_range=tuple(d.scale_range), **kw)

    if d.kind == "synthetic":
        train = synthetic(d.train_dir)
    elif d.kind == "paired":
        train = PairedFolder(resolve_path(d.train_dir), crop=d.crop, batch_size=d.batch_size, load_size=load_size,
                             augment=d.augment, seed=seed, samples_per_epoch=spe, skip_bad=d.skip_bad)
    else:
        paired = PairedFolder(resolve_path(d.paired_dir), crop=d.crop, batch_size=d.batch_size,
                              load_size=load_size, augment=d.augment, seed=seed, samples_per_epoch=spe,
                              skip_bad=d.skip_bad)
        train = mix(paired, synthetic(d.train_dir), d.mix_ratio, seed=seed)
    val = None
    if d.val_dir:
        crop = d.val_crop or None
        val = SyntheticPairs(resolve_path(d.val_dir), crop=crop, batch_size=d.val_batch_size if crop else 1,
                             kernel_size=d.kernel_size, kernel_bank=0, noise_std=tuple(d.noise_std), gamma=d.gamma,
                             mode="fixed", seed=seed + 1, trajectory=SHAKE_PRESETS[d.shake],
                             skip_bad=d.skip_bad).blurred_pairs()
    return train, val

def resolve_run_config(run_dir: Path, pipeline: str | None, overrides: tuple[str, ...], resume: bool) -> PipelineConfig:
    """The config of a run: RUN/config.toml when resuming one that exists, else the pipeline."""
    saved = run_dir / "config.toml"
    if resume and saved.is_file():
        try:
            raw = tomllib.loads(saved.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
            raise DeblurError(f"{saved}: the run's saved config is corrupt ({exc}); restore it, or start the "
                              "run again with -p PIPELINE --overwrite") from exc
        for item in overrides:
            apply_override(raw, item)
        cfg = from_dict(raw, str(saved))
        cfg.source = str(saved)
        return cfg
    if pipeline is None:
        raise DeblurError(f"--pipeline is needed: {run_dir} holds no run to resume (no config.toml)")
    return load_pipeline(pipeline, overrides)


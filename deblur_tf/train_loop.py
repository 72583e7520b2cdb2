"""A training run: pipeline config -> data + DeblurGAN -> a run directory with checkpoints and logs.

Why an explicit loop of `train_on_batch` instead of `fit`: the run must stop and resume *exactly* at any
step (a GPU lease of a few minutes, Ctrl-C), which needs the step, both optimizers and the seed state
on disk together, and the data stream addressed by step. `BatchSource.batch(epoch, step)` is a pure
function, so global step `s` is batch `s % steps_per_epoch` of epoch `s // steps_per_epoch` on any backend,
and a resumed run sees the batches the uninterrupted run would have seen. Under JAX `train_on_batch` still
runs the whole 5+1 iteration as one jitted program; worker threads build the next batches meanwhile.

Run directory (other tools load from it; keep the layout):

    RUN/config.toml             resolved pipeline (what --resume reads back)
    RUN/generator.json          {"kind": ..., "kwargs": {...}} for deblur_tf.models.build_generator
    RUN/generator.weights.h5    latest generator weights (refreshed at every checkpoint)
    RUN/checkpoints/step_XXXXXXXX/{generator,critic}.weights.h5, optimizers.npz, state.json  (last K kept)
    RUN/log.csv                 step, wall_time_s, d_loss, gp, g_adv, g_perc, psnr, val_psnr, val_ssim, lr
    RUN/tb/                     TensorBoard scalars and blurred|restored|sharp triptychs (when TF imports)
    RUN/samples/step_XXXXXXXX.png  the same triptychs as PNG (any backend: the JAX GPU machines have no TF)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from deblur_tf.config import PipelineConfig, from_dict, load_pipeline, resolve_path
from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.io import ensure_dir, load_npz
from deblur_tf.sysinfo import tensorboard_missing

LOG_COLUMNS = ("step", "wall_time_s", "d_loss", "gp", "g_adv", "g_perc", "psnr", "val_psnr", "val_ssim", "lr",
               "g_content")
RUN_FILES = ("config.toml", "generator.json", "generator.weights.h5", "checkpoints", "log.csv", "tb", "samples")


# ------------------------------------------------------------------------------------------ building
def enable_jax_compile_cache() -> Path | None:
    """Under JAX, keep compiled train steps on disk so that each resumed chunk of a run starts in seconds
    instead of recompiling (minutes for the paper model). `$JAX_COMPILATION_CACHE_DIR` wins; otherwise
    `$XDG_CACHE_HOME/deblur_tf/jax` (~/.cache/...). Returns the directory, or None under other backends."""
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

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


def build_networks(cfg: PipelineConfig, pretrained_vgg: bool = True):
    """(generator, critic, feature_extractor or None) under the pipeline's precision policy."""
    from deblur_tf.models import build_critic, build_generator, build_vgg_features
    from deblur_tf.training import set_precision

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


def build_gan(cfg: PipelineConfig, pretrained_vgg: bool = True):
    """A compiled DeblurGAN for a pipeline (models, losses, both Adams with the paper's schedule)."""
    import keras

    from deblur_tf.training import DeblurGAN, make_optimizers

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
        d_lr=o.d_lr or None,
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
    return cam if any(cam.values()) else None


def init_from_model(gan, spec: str, echo: Callable[[str], None] = print) -> dict[str, str | None]:
    """Fine-tuning: copy a trained generator (and the critic stored with it, when one fits) into a new run.

    The pipeline's [generator] must describe the same network; a mismatch is an error that names both, since
    silently training a different architecture from scratch is not what someone fine-tuning asked for. The
    critic is optional: shipped models and run folders may lack one, or one of another size; then it starts
    from random weights and a note says so. Returns where each came from.
    """
    from deblur_tf.zoo import load_model

    loaded = load_model(spec)
    src = loaded.keras_model
    if src is None:
        raise DeblurError(f"train.init_from {spec!r}: a {loaded.kind} artifact has no trainable Keras weights; give "
                          "a shipped model name, a .keras file, a .weights.h5 with generator.json, or a run folder")
    want = [tuple(w.shape) for w in gan.generator.get_weights()]
    have = [tuple(w.shape) for w in src.get_weights()]
    if want != have:
        desc = loaded.info.get("kind", loaded.kind), loaded.info.get("kwargs", "?")
        raise DeblurError(
            f"train.init_from {spec!r}: its generator ({desc[0]} {desc[1]}, {loaded.params:,} parameters) is not "
            f"the pipeline's ({gan.generator.count_params():,} parameters); use a pipeline whose [generator] "
            "matches it (mobile models: -p mobile-synthetic; ResNet ones: a deblurgan-* pipeline), or --set "
            "generator.<key>=<value> to make it match")
    gan.generator.set_weights(src.get_weights())
    origin: dict[str, str | None] = {"generator": loaded.source, "critic": None}
    echo(f"generator initialised from {loaded.name} ({loaded.source})")

    critic_file = _stored_critic(loaded.source)
    if critic_file is None:
        echo(f"note: {loaded.name} has no stored critic; the critic starts from random weights")
        return origin
    from deblur_tf.zoo import load_weights_strict

    fresh = gan.critic.get_weights()  # a failed load must not leave a half-trained critic behind
    try:
        if critic_file.name.endswith(".keras"):
            from deblur_tf.explain import load_critic

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
    from deblur_tf.explain import find_critic

    found = find_critic(model_source)
    if found is not None:
        return found
    src = Path(model_source)
    run = src if src.is_dir() else src.parent
    ckpts = list_checkpoints(run) if (run / "checkpoints").is_dir() else []
    if ckpts and (ckpts[-1] / "critic.weights.h5").is_file():
        return ckpts[-1] / "critic.weights.h5"
    return None


def build_data(cfg: PipelineConfig):
    """(training BatchSource, fixed validation BatchSource of (blurred, sharp) or None)."""
    from deblur_tf.blur.trajectory import SHAKE_PRESETS
    from deblur_tf.data import PairedFolder, SyntheticPairs, mix

    d, seed = cfg.data, cfg.train.seed
    load_size = d.load_size or None
    spe = d.samples_per_epoch or None

    def synthetic(folder: str, **kw):
        return SyntheticPairs(resolve_path(folder), crop=d.crop, batch_size=d.batch_size,
                              kernel_size=d.kernel_size, kernel_bank=d.kernel_bank, noise_std=tuple(d.noise_std),
                              gamma=d.gamma, seed=seed, load_size=load_size, augment=d.augment,
                              samples_per_epoch=spe, trajectory=SHAKE_PRESETS[d.shake], skip_bad=d.skip_bad, **kw)

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


# ------------------------------------------------------------------------------------------ checkpoints
def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _np(v) -> np.ndarray:
    from keras import ops

    return np.asarray(ops.convert_to_numpy(v))


def rng_variables(gan) -> list:
    """Every random-stream state of the GAN: its own seed generator and the dropout layers' (model
    `variables` that are not `weights`). `save_weights` skips them, but an exact resume needs them."""
    out = [gan.seed_generator.state]
    for model in (gan.generator, gan.critic):
        weight_ids = {id(w) for w in model.weights}
        out += [v for v in model.variables if id(v) not in weight_ids]
    return out


def save_checkpoint(gan, run_dir: Path, step: int, extra: dict[str, Any] | None = None, keep: int = 3) -> Path:
    """Write the full training state for `step`; refresh RUN/generator.weights.h5; keep the last `keep`."""
    ckdir = Path(run_dir) / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"step_{step:08d}"
    tmp = ckdir / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        gan.generator.save_weights(tmp / "generator.weights.h5")
        gan.critic.save_weights(tmp / "critic.weights.h5")
        arrays = {}
        for prefix, opt in (("g", gan.optimizer), ("d", gan.d_optimizer)):
            for i, v in enumerate(opt.variables):
                arrays[f"{prefix}/{i:04d}"] = _np(v.value)
        for i, v in enumerate(rng_variables(gan)):
            arrays[f"rng/{i:04d}"] = _np(v.value)
        np.savez(tmp / "optimizers.npz", **arrays)
        state = {"step": int(step), "seed": gan.seed, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:  # full disk, quota, permissions: the earlier checkpoints are untouched
        shutil.rmtree(tmp, ignore_errors=True)
        earlier = [p.name for p in list_checkpoints(run_dir) if p != final]
        keep_note = (f"the latest complete checkpoint is {earlier[-1]}; free space, then --resume continues from it"
                     if earlier else "no earlier checkpoint exists; free space and start the run again")
        raise DeblurError(f"{final}: cannot write the step-{step} checkpoint ({exc.strerror or exc}); "
                          f"{keep_note}") from exc
    try:
        _atomic_copy(final / "generator.weights.h5", Path(run_dir) / "generator.weights.h5")
    except OSError as exc:
        Path(run_dir, "generator.weights.h5.tmp").unlink(missing_ok=True)
        raise DeblurError(f"{final} is saved, but {Path(run_dir) / 'generator.weights.h5'} could not be refreshed "
                          f"({exc.strerror or exc}); free space, then --resume continues from {final.name}") from exc
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    ckdir = Path(run_dir) / "checkpoints"
    if not ckdir.is_dir():
        return []
    return sorted(p for p in ckdir.glob("step_*") if (p / "state.json").is_file())


def restore_checkpoint(gan, ckpt: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (either backend) into a compiled DeblurGAN."""
    ckpt = Path(ckpt)
    current = ckpt / "state.json"
    try:
        state = json.loads(current.read_text())
        current = ckpt / "generator.weights.h5"
        gan.generator.load_weights(current)
        current = ckpt / "critic.weights.h5"
        gan.critic.load_weights(current)
        arrays = load_npz(ckpt / "optimizers.npz", "optimizer state",
                          "delete that checkpoint folder to resume from an older one, or start again with --overwrite")
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeblurError(f"{current}: checkpoint file cannot be loaded ({reason}); delete {ckpt} to resume from "
                          "an older one, or start again with --overwrite") from exc
    for prefix, opt in (("g", gan.optimizer), ("d", gan.d_optimizer)):
        keys = sorted(k for k in arrays if k.startswith(prefix + "/"))
        if len(keys) != len(opt.variables):
            raise DeblurError(f"checkpoint {ckpt}: {len(keys)} {prefix}-optimizer arrays but the optimizer has "
                              f"{len(opt.variables)} variables (was it written for another model?)")
        for key, var in zip(keys, opt.variables, strict=True):
            value = arrays[key]
            if tuple(value.shape) != tuple(var.shape):
                raise DeblurError(f"checkpoint {ckpt}: {key} has shape {value.shape}, expected {tuple(var.shape)}")
            var.assign(value)
    rng_vars = rng_variables(gan)
    keys = sorted(k for k in arrays if k.startswith("rng/"))
    if len(keys) != len(rng_vars):
        raise DeblurError(f"checkpoint {ckpt}: {len(keys)} random-state arrays, the model has {len(rng_vars)}")
    for key, var in zip(keys, rng_vars, strict=True):
        var.assign(arrays[key])
    return state


# ------------------------------------------------------------------------------------------ data feeding
class Prefetcher:
    """Batches for global steps start, start+1, ... built ahead by worker threads, returned in order.

    OpenCV and numpy release the GIL, so threads overlap batch building with the accelerator; they also
    keep JAX/TF runtimes out of forked processes.
    """

    def __init__(self, source, start: int, workers: int = 4, depth: int | None = None) -> None:
        self.source, self.next_step = source, int(start)
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
        self.depth = depth or max(2, 2 * workers)
        self.queue: list = []

    def _build(self, step: int):
        epoch, idx = divmod(step, self.source.steps_per_epoch)
        return self.source.batch(epoch, idx)

    def get(self):
        if self.pool is None:
            batch = self._build(self.next_step)
            self.next_step += 1
            return batch
        while len(self.queue) < self.depth:
            self.queue.append(self.pool.submit(self._build, self.next_step + len(self.queue)))
        future = self.queue.pop(0)
        self.next_step += 1
        return future.result()

    def close(self) -> None:
        if self.pool is not None:
            for f in self.queue:
                f.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)


def train_on(gan, batch) -> dict[str, float]:
    """One DeblurGAN step on a (blurred, sharp) tuple or a synthetic dict."""
    if isinstance(batch, dict):
        return gan.train_on_batch(batch, return_dict=True)
    blurred, sharp = batch
    return gan.train_on_batch(blurred, sharp, return_dict=True)


class JaxDeviceLoop:
    """Single-device JAX training steps that keep the whole training state on the accelerator between logs.

    `gan.train_on_batch` under JAX reads every variable into a state tuple, runs the jitted step, writes
    every variable back and converts the logs to numpy: a device sync and a few hundred Python-level
    assignments per step, during which the GPU idles (the trainer ran at 131-138 img/s where the bare jitted
    step does 164, docs/BENCHMARKS.md). Here the state tuple is threaded from step to step, as
    `keras.Model.fit` does; the Keras variables are only written (`sync`) when something reads the model
    (log line, validation, checkpoint, the end), and the only host sync is the log line.

    Window means come for free: the step's `keras.metrics.Mean` trackers accumulate across steps, so the
    logs at a log line are the means since the previous one; `window_means` then zeroes their state.
    The state is copied on the way in and out of the Keras variables, because the jitted step donates
    its input buffers: a variable must never alias a buffer the next step will consume.
    """

    def __init__(self, gan) -> None:
        import keras

        if not all(isinstance(m, keras.metrics.Mean) for m in gan.metrics):
            raise DeblurError("JaxDeviceLoop needs keras.metrics.Mean trackers (their state resets to zeros)")
        self.gan = gan
        self.state: tuple | None = None
        self.logs: dict | None = None
        self.dirty = False

    def _groups(self) -> tuple[list, list, list, list]:
        g = self.gan
        return g.trainable_variables, g.non_trainable_variables, g.optimizer.variables, g.metrics_variables

    def step(self, batch) -> None:
        import jax.numpy as jnp

        if self.state is None:
            # the first step goes through Keras: it builds the metrics and compiles the train function
            self.logs = train_on(self.gan, batch)
            self.state = tuple([jnp.copy(v.value) for v in group] for group in self._groups())
            return
        data = (batch, None, None) if isinstance(batch, dict) else (batch[0], batch[1], None)
        self.logs, self.state = self.gan.train_function(self.state, iter([data]))
        self.dirty = True

    def window_means(self) -> dict[str, float]:
        """Means of the logged values since the last call (the one host sync), then a fresh window."""
        import jax.numpy as jnp

        means = {k: float(v) for k, v in self.logs.items()}
        tv, ntv, ov, mv = self.state
        self.state = (tv, ntv, ov, [jnp.zeros_like(v) for v in mv])
        if not self.dirty:  # the Keras trackers equal the state now (synced, or only the Keras first step)
            self.gan.reset_metrics()
        return means

    def sync(self) -> None:
        """Write the device state into the Keras variables (copies: the next step donates the state)."""
        import jax.numpy as jnp

        if not self.dirty:
            return
        for group, values in zip(self._groups(), self.state, strict=True):
            for var, value in zip(group, values, strict=True):
                var.assign(jnp.copy(value))
        self.dirty = False


# ------------------------------------------------------------------------------------------ logging
class TensorBoardLog:
    """TensorBoard scalars and images when TensorFlow and tensorboard import; otherwise only says so once."""

    def __init__(self, logdir: Path, enabled: bool, echo: Callable[[str], None] | None = None) -> None:
        self.writer = None
        if not enabled:
            return
        missing = tensorboard_missing()
        if missing is not None:  # CSV log only
            if echo is not None:
                echo(f"TensorBoard logging off: {missing}; log.csv has every logged value")
            return
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            for k, v in values.items():
                if v is not None and np.isfinite(v):
                    self.tf.summary.scalar(k, v)
        self.writer.flush()

    def images(self, step: int, name: str, images01: np.ndarray) -> None:
        if self.writer is None:
            return
        with self.writer.as_default(step=step):
            self.tf.summary.image(name, images01, max_outputs=len(images01))
        self.writer.flush()


def explain_to_tensorboard(gan, val, tb, step: int, echo: Callable[[str], None] | None = None) -> None:
    """Critic-saliency panels (deblur_tf.explain.panel) of the first validation batch, into TensorBoard.

    A picture must never stop a training run: any failure is reported once and the panels are switched off.
    """
    if tb.writer is None or getattr(tb, "explain_off", False):
        return
    try:
        from deblur_tf.explain import panel

        blurred = val.batch(0, 0)[0]
        image = panel(gan.generator, gan.critic, blurred, max_images=2)
        tb.images(step, "explain/input|restored|saliency(input)|saliency(restored)|diff",
                  image[None].astype(np.float32) / 255.0)
    except Exception as exc:  # noqa: BLE001 - visualisation only
        tb.explain_off = True
        if echo is not None:
            echo(f"note: explain panels switched off ({type(exc).__name__}: {exc})")


def validate(gan, val, limit: int = 0, predict: Callable | None = None) -> tuple[float, float, np.ndarray | None]:
    """Mean PSNR/SSIM (8-bit RGB, whole image) of the generator on the fixed validation set, plus a
    blurred|restored|sharp triptych batch of the first batch (for TensorBoard)."""
    from deblur_tf.metrics import psnr, ssim

    psnrs, ssims, trip = [], [], None
    for i in range(val.steps_per_epoch):
        if limit and i >= limit:
            break
        blurred, sharp = val.batch(0, i)
        restored = np.asarray((predict or gan.predict_on_batch)(blurred), np.float32)
        to01 = lambda x: np.clip((x + 1.0) * 0.5, 0.0, 1.0)  # noqa: E731
        for r, s in zip(to01(restored), to01(sharp), strict=True):
            psnrs.append(psnr(r, s))
            ssims.append(ssim(r, s))
        if trip is None:
            trip = np.concatenate([to01(blurred), to01(restored), to01(sharp)], axis=2)[:3]
    return float(np.mean(psnrs)), float(np.mean(ssims)), trip


def save_triptych(path: Path, trip: np.ndarray) -> None:
    """Rows of blurred | restored | sharp (validation images) as one PNG, replacing an older one of that step."""
    from deblur_tf.io import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.concatenate(list(trip), axis=0), overwrite=True)


class CsvLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            with open(path, "w", newline="") as f:
                csv.writer(f).writerow(LOG_COLUMNS)

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after `step` (an interrupted run resumed from an earlier checkpoint)."""
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
        if len(keep) != len(rows):
            with open(self.path, "w", newline="") as f:
                csv.writer(f).writerows(keep)

    def write(self, row: dict[str, Any]) -> None:
        def fmt(v):
            if v is None:
                return ""
            return f"{v:.6g}" if isinstance(v, float) else str(v)

        with open(self.path, "a", newline="") as f:
            csv.writer(f).writerow([fmt(row.get(c)) for c in LOG_COLUMNS])


# ------------------------------------------------------------------------------------------ the run
def prepare_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix a new run into an old one unless asked (--resume continues, --overwrite replaces)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise OutputExistsError(f"--out {run_dir} is a file; give a directory for the run")
    if run_dir.is_dir() and any(run_dir.iterdir()) and not resume:
        if not overwrite:
            raise OutputExistsError(
                f"run directory {run_dir} is not empty: pass --resume to continue it, --overwrite to replace "
                "it, or choose another --out"
            )
        for name in RUN_FILES:  # only what a run writes: never a user's other files
            p = run_dir / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    ensure_dir(run_dir, "run directory")


def resolve_run_config(run_dir: Path, pipeline: str | None, overrides: tuple[str, ...], resume: bool) -> PipelineConfig:
    """The config of a run: RUN/config.toml when resuming one that exists, else the pipeline."""
    saved = run_dir / "config.toml"
    if resume and saved.is_file():
        import tomllib

        from deblur_tf.config import apply_override

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


class _StopFlag:
    """First Ctrl-C: finish the current step, save a checkpoint, stop. Second Ctrl-C: stop at once.

    A flag rather than an exception because under JAX the step donates the variables' buffers to the
    compiled program: an exception in the middle of a step would leave nothing valid to save.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading_is_main():
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to abort without saving)",
              file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_training(
    cfg: PipelineConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    tensorboard: bool = True,
    device_loop: bool = True,
) -> dict[str, Any]:
    """Train (or continue) the run in `run_dir` up to `cfg.train.steps`, or `max_steps` more steps.

    `device_loop`: on one JAX device, keep the training state on the device between log lines
    (`JaxDeviceLoop`); False steps through `train_on_batch` (the reference the tests compare it with).

    The directory must have been prepared with `prepare_run_dir`. Returns a summary dict (start and end
    step, whether it was interrupted, last logs). Raises KeyboardInterrupt after saving if interrupted.
    """
    import keras
    from tqdm import tqdm

    from deblur_tf.training import current_lr

    run_dir = Path(run_dir)
    from deblur_tf.distributed import from_config

    dist = from_config(cfg)  # train.devices: one device, tf.distribute or keras.distribution.DataParallel
    with dist.scope():
        gan = build_gan(cfg)
    start_step, wall_offset = 0, 0.0
    checkpoints = list_checkpoints(run_dir) if resume else []
    if checkpoints:
        state = restore_checkpoint(gan, checkpoints[-1])
        start_step, wall_offset = int(state["step"]), float(state.get("wall_time_s", 0.0))
        echo(f"resuming {run_dir} from step {start_step} ({checkpoints[-1].name})")
    elif cfg.train.init_from:
        with dist.scope():
            init_from_model(gan, cfg.train.init_from, echo)
    if cfg.optim.decay_steps and cfg.optim.constant_steps + cfg.optim.decay_steps != cfg.train.steps:
        echo(f"note: the learning rate reaches 0 at step {cfg.optim.constant_steps + cfg.optim.decay_steps}, the run "
             f"ends at train.steps = {cfg.train.steps}; set optim.constant_steps and optim.decay_steps to match")
    (run_dir / "config.toml").write_text(cfg.to_toml())
    (run_dir / "generator.json").write_text(json.dumps(cfg.generator_spec(), indent=2))

    end_step = cfg.train.steps if max_steps is None else min(cfg.train.steps, start_step + int(max_steps))
    summary: dict[str, Any] = {"start_step": start_step, "end_step": start_step, "interrupted": False,
                               "backend": keras.backend.backend()}
    if start_step >= end_step:
        echo(f"nothing to do: the run is at step {start_step} of train.steps = {cfg.train.steps}")
        return summary

    train, val = build_data(cfg)
    log = CsvLog(run_dir / "log.csv")
    log.truncate_after(start_step if start_step else -1)  # no checkpoint: the run starts over
    tb = TensorBoardLog(run_dir / "tb", enabled=tensorboard, echo=echo)
    feed = Prefetcher(train, start_step, workers=cfg.data.workers)
    loop = JaxDeviceLoop(gan) if device_loop and keras.backend.backend() == "jax" and not dist.is_distributed else None
    if start_step == 0 and cfg.train.init_from and val is not None:
        # where fine-tuning starts from: the step-0 row of log.csv
        v_psnr, v_ssim, _ = validate(gan, val, cfg.data.val_limit,
                                     (lambda x: dist.predict(gan, x)) if dist.is_distributed else None)
        log.write({"step": 0, "val_psnr": v_psnr, "val_ssim": v_ssim, "wall_time_s": wall_offset})
        echo(f"step 0 ({cfg.train.init_from}): val PSNR {v_psnr:.2f} dB, SSIM {v_ssim:.4f}")
        summary["init_val_psnr"] = v_psnr
    sums: dict[str, float] = {}
    count = 0
    t_cfg = cfg.train
    step = start_step
    t0 = time.perf_counter()

    def extra() -> dict[str, Any]:
        return {"wall_time_s": wall_offset + time.perf_counter() - t0, "backend": keras.backend.backend(),
                "pipeline": cfg.name}

    bar = tqdm(total=end_step - start_step, initial=0, desc=f"train {cfg.name}", unit="step",
               disable=not progress, dynamic_ncols=True)
    try:
        with _StopFlag() as stop:
            echo(f"training steps {start_step + 1}..{end_step} of {cfg.train.steps} "
                 "(Ctrl-C: checkpoint and stop)")
            while step < end_step:
                if loop is not None:
                    loop.step(feed.get())
                else:
                    logs = dist.train_on_batch(gan, feed.get()) if dist.is_distributed else train_on(gan, feed.get())
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
                    count += 1
                step += 1
                bar.update(1)
                row: dict[str, Any] = {}
                is_val = val is not None and (step % t_cfg.val_every == 0 or step == end_step)
                is_log = step % t_cfg.log_every == 0 or step == end_step
                if loop is not None and (is_val or is_log):
                    loop.sync()  # the Keras variables are read below
                if is_log:
                    if loop is not None:
                        means = loop.window_means()
                    else:
                        means = {k: v / count for k, v in sums.items()}
                        sums, count = {}, 0
                    if not all(np.isfinite(v) for v in means.values()):
                        raise DeblurError(f"training diverged at step {step}: losses {means}; lower optim.lr or "
                                          f"check the data, then --resume from the last checkpoint")
                    row = {"d_loss": means["d_loss"], "gp": means["gp"], "g_adv": means["g_adv"],
                           "g_perc": means["g_perceptual"], "psnr": means["psnr"], "g_content": means["g_content"],
                           "lr": current_lr(gan.optimizer)}
                    bar.set_postfix(d=f"{means['d_loss']:.3g}", perc=f"{means['g_perceptual']:.3g}",
                                    psnr=f"{means['psnr']:.2f}")
                    summary["logs"] = means
                if is_val:
                    v_psnr, v_ssim, trip = validate(gan, val, cfg.data.val_limit,
                                                    (lambda x: dist.predict(gan, x)) if dist.is_distributed else None)
                    row.update(val_psnr=v_psnr, val_ssim=v_ssim)
                    summary["val_psnr"], summary["val_ssim"] = v_psnr, v_ssim
                    if trip is not None and (step % t_cfg.sample_every == 0 or step == end_step):
                        tb.images(step, "val/blurred|restored|sharp", trip)
                        save_triptych(run_dir / "samples" / f"step_{step:08d}.png", trip)
                        explain_to_tensorboard(gan, val, tb, step, echo)
                if row:
                    row.update(step=step, wall_time_s=wall_offset + time.perf_counter() - t0)
                    log.write(row)
                    tb.scalars(step, {k: v for k, v in row.items() if k not in ("step",)})
                if step % t_cfg.checkpoint_every == 0 or step == end_step or stop.requested:  # Ctrl-C may come late
                    if loop is not None:
                        loop.sync()
                    save_checkpoint(gan, run_dir, step, extra(), keep=t_cfg.keep_checkpoints)
                if stop.requested:
                    summary["interrupted"] = True
                    break
    finally:
        bar.close()
        feed.close()
    summary["end_step"] = step
    summary["wall_time_s"] = wall_offset + time.perf_counter() - t0
    if summary["interrupted"]:
        echo(f"interrupted: saved checkpoint at step {step}; continue with --resume")
    return summary


def iter_log(run_dir: str | os.PathLike) -> Iterator[dict[str, str]]:
    """Rows of RUN/log.csv as dicts (for tests and reports)."""
    with open(Path(run_dir) / "log.csv", newline="") as f:
        yield from csv.DictReader(f)

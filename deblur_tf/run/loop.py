"""The training loop: prepare the run directory, then step, log, validate and checkpoint until the end.

Why an explicit loop of steps instead of `fit`: the run must stop and resume *exactly* at any step (a GPU lease
of a few minutes, Ctrl-C), which needs the step, both optimizers and the seed state on disk together, and the
data stream addressed by step. `BatchSource.batch(epoch, step)` is a pure function, so global step `s` is batch
`s % steps_per_epoch` of epoch `s // steps_per_epoch` on any backend, and a resumed run sees the batches the
uninterrupted run would have seen. Under JAX the whole 5+1 iteration is one jitted program; worker threads build
the next batches meanwhile (`deblur_tf.run.feed`).

Run directory (other tools load from it; keep the layout):

    RUN/config.toml             resolved pipeline (what --resume reads back)
    RUN/generator.json          {"kind": ..., "kwargs": {...}} for deblur_tf.models.build_generator
    RUN/generator.weights.h5    latest generator weights (refreshed at every checkpoint; their average with optim.ema)
    RUN/checkpoints/step_XXXXXXXX/{generator,critic}.weights.h5, optimizers.npz, state.json  (last K kept)
    RUN/log.csv                 step, wall_time_s, d_loss, gp, g_adv, g_perc, psnr, val_psnr, val_ssim, lr
    RUN/tb/                     TensorBoard scalars and blurred|restored|sharp triptychs (when TF imports)
    RUN/samples/step_XXXXXXXX.png  the same triptychs as PNG (any backend: the JAX GPU machines have no TF)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm import tqdm

from deblur_tf.config import PipelineConfig
from deblur_tf.distributed import from_config
from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.gan import averaged_generator, current_lr
from deblur_tf.io import ensure_dir
from deblur_tf.run.build import build_data, build_gan, init_from_model
from deblur_tf.run.checkpoints import list_checkpoints, restore_checkpoint, save_checkpoint
from deblur_tf.run.feed import Prefetcher, StepFeed, make_step_feed
from deblur_tf.run.logs import CsvLog, TensorBoardLog, explain_to_tensorboard, save_triptych, validate

RUN_FILES = ("config.toml", "generator.json", "generator.weights.h5", "checkpoints", "log.csv", "tb", "samples")


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
    """Signal handlers can only be installed from the main thread (tests and notebooks may run elsewhere)."""
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
    step, whether it was interrupted, last logs). A first Ctrl-C saves a checkpoint after the current step and
    returns with summary["interrupted"] = True; a second one raises KeyboardInterrupt at once.
    """
    run_dir = Path(run_dir)
    dist = from_config(cfg)  # train.devices: one device, tf.distribute or keras.distribution.DataParallel
    gan, start_step, wall_offset = _start_gan(cfg, run_dir, dist, resume, echo)
    end_step = cfg.train.steps if max_steps is None else min(cfg.train.steps, start_step + int(max_steps))
    summary: dict[str, Any] = {"start_step": start_step, "end_step": start_step, "interrupted": False,
                               "backend": keras.backend.backend()}
    if start_step >= end_step:
        echo(f"nothing to do: the run is at step {start_step} of train.steps = {cfg.train.steps}")
        return summary

    train, val = build_data(cfg)
    log = CsvLog(run_dir / "log.csv")
    log.truncate_after(start_step if start_step else -1)  # no checkpoint: the run starts over
    run = _Run(cfg, run_dir, gan, make_step_feed(gan, dist, device_loop), val, log,
               TensorBoardLog(run_dir / "tb", enabled=tensorboard, echo=echo), echo, summary, end_step, wall_offset)
    if start_step == 0 and cfg.train.init_from and val is not None:
        run.log_init_validation()
    feed = Prefetcher(train, start_step, workers=cfg.data.workers, transfer=getattr(run.steps, "transfer", None))
    step = start_step
    run.t0 = time.perf_counter()
    run.bar = tqdm(total=end_step - start_step, initial=0, desc=f"train {cfg.name}", unit="step",
                   disable=not progress, dynamic_ncols=True)
    try:
        with _StopFlag() as stop:
            echo(f"training steps {start_step + 1}..{end_step} of {cfg.train.steps} "
                 "(Ctrl-C: checkpoint and stop)")
            while step < end_step:
                run.steps.step(feed.get())
                step += 1
                run.bar.update(1)
                saved = run.after_step(step, stop.requested)
                if stop.requested:
                    # Ctrl-C may come during after_step itself (under the device loop the host waits there, in
                    # the sync of a log line, for most of a run): then it has not saved, so save here
                    if not saved:
                        run.save(step)
                    summary["interrupted"] = True
                    break
    finally:
        run.bar.close()
        feed.close()
    summary["end_step"] = step
    summary["wall_time_s"] = run.wall_time()
    if summary["interrupted"]:
        echo(f"interrupted: saved checkpoint at step {step}; continue with --resume")
    return summary


def _start_gan(cfg: PipelineConfig, run_dir: Path, dist, resume: bool,
               echo: Callable[[str], None]) -> tuple[Any, int, float]:
    """The compiled GAN, resumed from the run's last checkpoint or initialised from `train.init_from`, with
    the step and wall time it starts at; writes RUN/config.toml and RUN/generator.json."""
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
            init_from_model(gan, cfg.train.init_from, echo, grow=cfg.train.init_grow)
    if cfg.optim.decay_steps and cfg.optim.constant_steps + cfg.optim.decay_steps != cfg.train.steps:
        echo(f"note: the learning rate reaches 0 at step {cfg.optim.constant_steps + cfg.optim.decay_steps}, the run "
             f"ends at train.steps = {cfg.train.steps}; set optim.constant_steps and optim.decay_steps to match")
    (run_dir / "config.toml").write_text(cfg.to_toml())
    (run_dir / "generator.json").write_text(json.dumps(cfg.generator_spec(), indent=2))
    return gan, start_step, wall_offset


@dataclass
class _Run:
    """What the loop does between steps: log lines, validation, samples, checkpoints (one run's state)."""

    cfg: PipelineConfig
    run_dir: Path
    gan: Any
    steps: StepFeed
    val: Any
    log: CsvLog
    tb: TensorBoardLog
    echo: Callable[[str], None]
    summary: dict[str, Any]
    end_step: int
    wall_offset: float
    t0: float = field(default_factory=time.perf_counter)
    bar: Any = None

    def wall_time(self) -> float:
        return self.wall_offset + time.perf_counter() - self.t0

    def log_init_validation(self) -> None:
        """Where fine-tuning starts from: the step-0 row of log.csv."""
        v_psnr, v_ssim, _ = validate(self.gan, self.val, self.cfg.data.val_limit, self.steps.predict)
        self.log.write({"step": 0, "val_psnr": v_psnr, "val_ssim": v_ssim, "wall_time_s": self.wall_offset})
        self.echo(f"step 0 ({self.cfg.train.init_from}): val PSNR {v_psnr:.2f} dB, SSIM {v_ssim:.4f}")
        self.summary["init_val_psnr"] = v_psnr

    def after_step(self, step: int, stopping: bool) -> bool:
        """Log, validate and checkpoint as the config says after `step`; True if a checkpoint was written."""
        t_cfg, last = self.cfg.train, step == self.end_step
        is_val = self.val is not None and (step % t_cfg.val_every == 0 or last)
        is_log = step % t_cfg.log_every == 0 or last
        if is_val or is_log:
            self.steps.sync()  # the Keras variables are read below
        row: dict[str, Any] = self._log_row(step) if is_log else {}
        if is_val:
            row.update(self._validate(step, sample=step % t_cfg.sample_every == 0 or last))
        if row:
            row.update(step=step, wall_time_s=self.wall_time())
            self.log.write(row)
            self.tb.scalars(step, {k: v for k, v in row.items() if k not in ("step",)})
        if step % t_cfg.checkpoint_every == 0 or last or stopping:
            self.save(step)
            return True
        return False

    def save(self, step: int) -> None:
        self.steps.sync()
        save_checkpoint(self.gan, self.run_dir, step,
                        {"wall_time_s": self.wall_time(), "backend": keras.backend.backend(),
                         "pipeline": self.cfg.name},
                        keep=self.cfg.train.keep_checkpoints)

    def _log_row(self, step: int) -> dict[str, Any]:
        means = self.steps.window_means()
        if not all(np.isfinite(v) for v in means.values()):
            raise DeblurError(f"training diverged at step {step}: losses {means}; lower optim.lr or "
                              f"check the data, then --resume from the last checkpoint")
        self.bar.set_postfix(d=f"{means['d_loss']:.3g}", perc=f"{means['g_perceptual']:.3g}",
                             psnr=f"{means['psnr']:.2f}")
        self.summary["logs"] = means
        return {"d_loss": means["d_loss"], "gp": means["gp"], "g_adv": means["g_adv"],
                "g_perc": means["g_perceptual"], "psnr": means["psnr"], "g_content": means["g_content"],
                "lr": current_lr(self.gan.optimizer)}

    def _validate(self, step: int, sample: bool) -> dict[str, float]:
        with averaged_generator(self.gan):  # optim.ema: the average is what the run delivers, so it is what is measured
            v_psnr, v_ssim, trip = validate(self.gan, self.val, self.cfg.data.val_limit, self.steps.predict)
        self.summary["val_psnr"], self.summary["val_ssim"] = v_psnr, v_ssim
        if trip is not None and sample:
            self.tb.images(step, "val/blurred|restored|sharp", trip)
            save_triptych(self.run_dir / "samples" / f"step_{step:08d}.png", trip)
            explain_to_tensorboard(self.gan, self.val, self.tb, step, self.echo)
        return {"val_psnr": v_psnr, "val_ssim": v_ssim}

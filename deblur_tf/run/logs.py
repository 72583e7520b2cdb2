"""What a run writes about itself: RUN/log.csv, TensorBoard scalars and images, validation triptychs.

TensorBoard needs TensorFlow, which the JAX GPU machines lack: then only log.csv and the PNG triptychs are
written, and a note says so once.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from deblur_tf.explain import panel
from deblur_tf.io import write_image
from deblur_tf.metrics import psnr, ssim
from deblur_tf.sysinfo import tensorboard_missing

LOG_COLUMNS = ("step", "wall_time_s", "d_loss", "gp", "g_adv", "g_perc", "psnr", "val_psnr", "val_ssim", "lr",
               "g_content")


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
        import tensorflow as tf  # only when TensorBoard is there: the JAX GPU machines have no TensorFlow

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
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.concatenate(list(trip), axis=0), overwrite=True)


class CsvLog:
    """RUN/log.csv: one row per logged step (LOG_COLUMNS), appended as the run goes; blanks for values not logged."""

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

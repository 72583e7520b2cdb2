"""Full DeblurGAN iterations per second: n_critic critic updates + 1 generator update, perceptual loss on.

Times `train_on_batch` on random on-device-blurred synthetic batches (no disk, no data workers), so the
figure is the accelerator's. Prints the median and quartiles of per-step wall time over `--steps` steps
after `--warmup` steps (the first includes compilation), for each `--precision`.

    KERAS_BACKEND=jax python benchmarks/train_speed.py --pipeline deblurgan-synthetic \\
        --batch 16 --crop 256 --precision float32 mixed_bfloat16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}: {getattr(d, 'device_kind', d)}"
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return "gpu: " + out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return f"cpu: {platform.processor() or platform.machine()}"


def bench(pipeline: str, precision: str, batch: int, crop: int, steps: int, warmup: int, overrides: list[str]):
    import keras

    from deblur_tf.config import load_pipeline
    from deblur_tf.run import build_gan

    cfg = load_pipeline(pipeline, [f"train.precision={precision}", f"data.batch_size={batch}",
                                   f"data.crop={crop}", *overrides])
    gan = build_gan(cfg)
    rng = np.random.default_rng(0)
    k = cfg.data.kernel_size
    kernel = rng.uniform(0, 1, (batch, k, k)).astype("float32")
    kernel /= kernel.sum(axis=(1, 2), keepdims=True)
    data = {"sharp": rng.uniform(-1, 1, (batch, crop, crop, 3)).astype("float32"), "kernel": kernel,
            "noise_std": np.full((batch,), 0.005, "float32")}
    t0 = time.perf_counter()
    gan.train_on_batch(data, return_dict=True)
    first = time.perf_counter() - t0
    for _ in range(max(0, warmup - 1)):
        gan.train_on_batch(data, return_dict=True)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        logs = gan.train_on_batch(data, return_dict=True)  # returns Python floats: the step has finished
        times.append(time.perf_counter() - t)
    keras.config.set_dtype_policy("float32")
    q = statistics.quantiles(times, n=4)
    med = statistics.median(times)
    return {"pipeline": cfg.name, "generator": cfg.generator.kind, "precision": precision, "batch": batch,
            "crop": crop, "n_critic": cfg.optim.n_critic, "perceptual": cfg.loss.perceptual_weight > 0,
            "first_step_s": round(first, 2), "median_step_s": round(med, 4), "q1_s": round(q[0], 4),
            "q3_s": round(q[2], 4), "iterations_per_s": round(1.0 / med, 3),
            "images_per_s": round(batch / med, 1), "finite": all(np.isfinite(v) for v in logs.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default="deblurgan-synthetic")
    ap.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = ap.parse_args()
    import keras

    print(f"# backend {keras.backend.backend()}, {device_name()}, {time.strftime('%Y-%m-%d')}")
    for precision in args.precision:
        print(json.dumps(bench(args.pipeline, precision, args.batch, args.crop, args.steps, args.warmup,
                               args.overrides)), flush=True)


if __name__ == "__main__":
    main()

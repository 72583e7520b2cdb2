"""What the training step's blur costs on this machine: the FFT blur at the training size, the old way (a complex
2-D FFT at the padded size, 256 + 62 = 318 = 2 * 3 * 53) against the current one (`fast_fft_len` and real-input
transforms, deblur_tf/blur/ops.py), and the whole camera model (`camera_blur`) with and without the varying blur
(`data.varying_fraction`, docs/BLUR.md). Prints one JSON line per figure with the device, backend and date.

    KERAS_BACKEND=jax python benchmarks/blur_fft.py                 # CPU here, or the GPU machine (no TensorFlow)
    KERAS_BACKEND=tensorflow python benchmarks/blur_fft.py --repeats 5

Why: cycle 15 trained at 24 steps/s with `varying_fraction = 0.3` against 37 without it (docs/TRAINING.md), so
the second blur it adds cost ~14 ms a step on an H100, a third of the step; the blur the step always does costs
the same.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from datetime import UTC, datetime

import numpy as np

from deblur_tf.sysinfo import cpu_name, time_calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--kernel-size", type=int, default=63)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    if not 1 <= args.kernel_size < args.crop or min(args.batch, args.repeats) < 1:
        raise SystemExit(f"--kernel-size must be in 1..{args.crop - 1} (below --crop), --batch and --repeats >= 1")

    import keras
    from keras import ops

    from deblur_tf.blur import random_kernels
    from deblur_tf.blur.ops import _fft_blur, _pad_amounts, camera_blur

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = str(jax.devices()[0].device_kind) if jax.devices()[0].platform != "cpu" else cpu_name()

        def compile_(fn):
            f = jax.jit(fn)
            return lambda *a: f(*a).block_until_ready()

        to_device = jax.device_put  # time the blur, not the host-to-card copy of its inputs
    elif backend == "tensorflow":
        import tensorflow as tf

        device = cpu_name()

        def compile_(fn):
            f = tf.function(fn, jit_compile=False)
            return lambda *a: f(*a).numpy()

        to_device = tf.constant
    else:
        raise SystemExit(f"backend {backend} not benchmarked")

    rng = np.random.default_rng(0)
    n, c, k = args.batch, args.crop, args.kernel_size
    images = rng.uniform(0.0, 1.0, (n, c, c, 3)).astype(np.float32)
    kernels = random_kernels(n, k, rng=1).astype(np.float32)
    ph = _pad_amounts(k)
    padded = np.pad(images, [(0, 0), ph, ph, (0, 0)], mode="reflect")
    gammas = np.where(np.arange(n) % 2 == 0, 2.2, 1.0).astype(np.float32)
    images, kernels, padded, gammas = (to_device(a) for a in (images, kernels, padded, gammas))

    cases = {
        "fft blur, complex at the padded size (before)": (
            compile_(lambda x, kk: _fft_blur(ops, x, kk, True, fast=False)), (padded, kernels)),
        "fft blur, fast length + real transforms (now)": (
            compile_(lambda x, kk: _fft_blur(ops, x, kk, True, fast=True)), (padded, kernels)),
    }
    for frac in (0.0, 0.3):
        cases[f"camera_blur, varying_fraction {frac}"] = (
            compile_(lambda x, kk, g, f=frac: camera_blur(x, kk, gamma=g, noise_std=0.01, quantize=True,
                                                          match_mean=True, seed=3, varying_fraction=f)),
            (images, kernels, gammas))
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for name, (fn, inputs) in cases.items():
        fn(*inputs)  # compile
        wall, _, _ = time_calls(lambda fn=fn, inputs=inputs: fn(*inputs), args.repeats)
        print(json.dumps({"benchmark": "blur_fft", "what": name, "batch": n, "crop": c, "kernel": k,
                          "ms": round(1e3 * statistics.median(wall), 2), "device": device, "backend": backend,
                          "cores": os.cpu_count(), "date": date}), flush=True)


if __name__ == "__main__":
    main()

"""Blur-synthesis throughput: random kernels per second and blurred pairs per second (docs/BENCHMARKS.md).

Usage (one backend per run; the kernel figures are numpy and backend-independent):

    KERAS_BACKEND=tensorflow python benchmarks/blur.py
    KERAS_BACKEND=jax python benchmarks/blur.py --repeats 7

Each figure is the median over --repeats timed runs after one warm-up run (which absorbs tracing / XLA
compilation). "pairs/s" counts 256x256 RGB crops blurred with one fresh kernel each, gamma-aware, in batches of
16, the way the on-device training pipeline calls `blur_images`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from deblur_tf.sysinfo import cpu_name, time_calls


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds per call (what a training step waits for)."""
    return median_times(fn, repeats)[0]


def median_times(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and process-CPU seconds per call.

    On a CPU shared with other jobs the wall time inflates while the CPU time of a single-threaded numpy
    loop stays close to what an idle core would take, so both are reported for the kernel generator.
    """
    wall, cpu, _ = time_calls(fn, repeats)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--kernel-size", type=int, default=31)
    ap.add_argument("--skip-conv", action="store_true", help="skip the (slow on CPU) grouped-conv path")
    args = ap.parse_args()

    import keras

    from deblur_tf.blur import blur_images, blur_numpy, random_kernels

    backend = keras.backend.backend()
    print(f"# {cpu_name()}, {os.cpu_count()} cores, keras {keras.__version__} backend={backend}, "
          f"{time.strftime('%Y-%m-%d')}")
    print(f"# median of {args.repeats} runs after a warm-up; load average at start "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| what | setting | time per call | rate |")
    print("| --- | --- | --- | --- |")

    for n in (args.batch, 256):
        counter = iter(range(10**9))
        t, cpu = median_times(lambda n=n, c=counter: random_kernels(n, args.kernel_size, rng=next(c)),
                              args.repeats)
        print(f"| random_kernels | n={n}, {args.kernel_size}x{args.kernel_size}, 2000 steps | "
              f"{t * 1e3:.1f} ms (CPU {cpu * 1e3:.1f} ms) | {n / t:.0f} kernels/s (CPU-time: {n / cpu:.0f}) |")

    rng = np.random.default_rng(0)
    imgs = rng.uniform(0, 1, (args.batch, args.crop, args.crop, 3)).astype(np.float32)
    kern = random_kernels(args.batch, args.kernel_size, rng=1)
    shape = f"{args.batch}x{args.crop}x{args.crop}x3, k={args.kernel_size}"

    t = median_seconds(lambda: blur_numpy(imgs, kern), args.repeats)
    print(f"| blur_numpy (OpenCV filter2D) | {shape} | {t * 1e3:.0f} ms | {args.batch / t:.1f} pairs/s |")

    if backend == "jax":
        import jax

        def compiled(method: str):
            f = jax.jit(lambda x, k: blur_images(x, k, method=method))
            return lambda: f(imgs, kern).block_until_ready()

        label = "jax.jit"
    elif backend == "tensorflow":
        import tensorflow as tf

        def compiled(method: str):
            f = tf.function(lambda x, k: blur_images(x, k, method=method))
            return lambda: f(imgs, kern).numpy()

        label = "tf.function"
    else:
        raise SystemExit(f"backend {backend} not benchmarked")

    for method in ("fft", "conv"):
        if method == "conv" and args.skip_conv:
            continue
        t = median_seconds(compiled(method), args.repeats)
        print(f"| blur_images {label} method={method} | {shape} | {t * 1e3:.0f} ms | "
              f"{args.batch / t:.1f} pairs/s |")

    def kernels_and_blur():
        k = random_kernels(args.batch, args.kernel_size)
        return blur_numpy(imgs, k)

    t = median_seconds(kernels_and_blur, args.repeats)
    print(f"| fresh kernels + blur_numpy | {shape} | {t * 1e3:.0f} ms | {args.batch / t:.1f} pairs/s |")


if __name__ == "__main__":
    main()

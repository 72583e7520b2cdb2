"""Speed of the evaluation pieces on this machine: classical baselines, PSNR/SSIM, LPIPS, tiled inference.

Prints a Markdown table of medians (seconds per call and per megapixel) for docs/RESULTS.md, with the CPU,
the Keras backend and the date. Inputs: a 512x512 photo from ../shared/data/sharp/val blurred with a 31x31
camera-shake kernel (seed 0).

    python benchmarks/evaluation_speed.py [--repeats 5] [--size 512]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (graph building, FFT plans, allocations)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--image", default=str(Path(__file__).resolve().parents[2] / "shared/data/sharp/val/set14_img_003.png"))
    args = ap.parse_args()

    import keras

    from deblur_tf import classical
    from deblur_tf.blur import blur_numpy, random_kernels
    from deblur_tf.inference import Deblurrer
    from deblur_tf.io import read_image
    from deblur_tf.metrics import LPIPS, psnr, ssim
    from deblur_tf.models import build_generator
    from deblur_tf.sysinfo import cpu_name

    img, _ = read_image(args.image)
    if img.shape[:2] != (args.size, args.size):
        import cv2

        img = cv2.resize(img, (args.size, args.size), interpolation=cv2.INTER_AREA)
    kernel = random_kernels(1, size=31, rng=0)[0]
    blurred = blur_numpy(img, kernel, gamma=2.2, noise_std=0.01, seed=1)
    mp = args.size * args.size / 1e6
    lp = LPIPS()
    mobile = build_generator("mobile")
    big = np.ascontiguousarray(np.tile(blurred, (2, 2, 1)))  # 4x the pixels: several tiles

    cases = [
        ("Wiener (FFT, linear light)", lambda: classical.wiener(blurred, kernel, 3e-2, gamma=2.2), mp),
        ("Tikhonov (FFT, linear light)", lambda: classical.tikhonov(blurred, kernel, 5e-3, gamma=2.2), mp),
        ("Richardson–Lucy, 15 iterations", lambda: classical.richardson_lucy(blurred, kernel, 15, gamma=2.2), mp),
        ("PSNR (8-bit)", lambda: psnr(blurred, img), mp),
        ("SSIM (8-bit)", lambda: ssim(blurred, img), mp),
        ("LPIPS features (one VGG16 pass)", lambda: lp.features(blurred), mp),
        (f"mobile generator, {2 * args.size}² whole", lambda: Deblurrer(mobile, 8, tile=None)(big), 4 * mp),
        (f"mobile generator, {2 * args.size}² in 512 tiles", lambda: Deblurrer(mobile, 8, tile=512)(big), 4 * mp),
    ]
    print(f"{cpu_name()} ({os.cpu_count()} cores), {keras.backend.backend()} backend, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, median of {args.repeats} after one warm-up, "
          f"{args.size}x{args.size} input, load average before: {os.getloadavg()[0]:.1f}\n")
    print("| step | seconds | seconds / megapixel |")
    print("| --- | ---: | ---: |")
    for name, fn, mpx in cases:
        t = median_time(fn, args.repeats)
        print(f"| {name} | {t:.3f} | {t / mpx:.3f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f} (other jobs on the machine slow every figure)")


if __name__ == "__main__":
    main()

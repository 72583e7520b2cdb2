"""Size and speed of the generators: parameters, FLOPs (hand count), Keras and TFLite CPU latency.

Prints a Markdown table for docs/BENCHMARKS.md with the CPU, the load average and the date. The models have
random weights (speed does not depend on them). TFLite runs use the LiteRT interpreter (XNNPACK) with
`--threads` threads on a dynamic-size model resized to each input; int8 is full-integer post-training
quantisation calibrated on crops of ../shared/data/sharp/val with float input/output.

    python benchmarks/models.py [--repeats 5] [--threads 2] [--skip-resnet-tflite]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from deblur_tf.sysinfo import time_calls

SIZES = {"256x256": (256, 256), "1280x720": (720, 1280)}


def timed(fn, repeats: int) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) over `repeats` calls after one warm-up."""
    wall, cpu, _ = time_calls(fn, repeats)
    return statistics.median(wall), statistics.median(cpu)


def calibration_crops(n: int = 16, size: int = 256):
    from deblur_tf.io import iter_images, read_image

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "sharp" / "val"
    rng = np.random.default_rng(0)
    crops = []
    for path in list(iter_images([str(folder)]))[:n]:
        img, _ = read_image(path)
        y = rng.integers(0, max(img.shape[0] - size, 0) + 1)
        x = rng.integers(0, max(img.shape[1] - size, 0) + 1)
        crop = img[y : y + size, x : x + size]
        if crop.shape[:2] == (size, size):
            crops.append(crop[None] * 2.0 - 1.0)
    return crops


def tflite_model(model, quantize: bool) -> bytes:
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize:
            crops = calibration_crops()
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([c.astype("float32")] for c in crops)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return converter.convert()


def tflite_runner(content: bytes, hw: tuple[int, int], threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=threads)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [1, *hw, 3])
    interpreter.allocate_tensors()
    x = np.random.default_rng(0).uniform(-1, 1, (1, *hw, 3)).astype("float32")

    def run():
        interpreter.set_tensor(index, x)
        interpreter.invoke()

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-resnet-tflite", action="store_true", help="the paper generator is slow on a CPU")
    args = ap.parse_args()

    import keras

    from deblur_tf.models import build_generator, count_flops

    configs = [
        ("resnet (paper, 2 convs/block)", "resnet", {}),
        ("resnet (authors' code, 1 conv/block)", "resnet", {"convs_per_block": 1}),
        ("mobile (defaults)", "mobile", {}),
    ]
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        "?",
    )
    print(
        f"CPU: {cpu}, {os.cpu_count()} cores; Keras {keras.__version__} ({keras.backend.backend()}); "
        f"TFLite threads {args.threads}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    print()
    print(
        "| generator | params | GFLOPs 256x256 | GFLOPs 1280x720 | runtime | input | median wall | median CPU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    x256 = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype("float32")
    for label, kind, kwargs in configs:
        model = build_generator(kind, **kwargs)
        flops = {k: count_flops(model, (*hw, 3)) / 1e9 for k, hw in SIZES.items()}
        head = f"| {label} | {model.count_params() / 1e6:.2f} M | {flops['256x256']:.2f} | {flops['1280x720']:.1f} "
        wall, cpu_s = timed(lambda m=model: m.predict_on_batch(x256), args.repeats)
        print(
            f"{head}| Keras predict_on_batch | 256x256 | {wall * 1e3:.0f} ms | {cpu_s * 1e3:.0f} ms |",
            flush=True,
        )
        if kind == "resnet" and args.skip_resnet_tflite:
            continue
        runs = [("TFLite fp32", False, "256x256")]
        if kind == "mobile":
            runs += [
                ("TFLite fp32", False, "1280x720"),
                ("TFLite int8", True, "256x256"),
                ("TFLite int8", True, "1280x720"),
            ]
        contents = {}
        for runtime, quantize, size in runs:
            if quantize not in contents:
                contents[quantize] = tflite_model(model, quantize)
            run = tflite_runner(contents[quantize], SIZES[size], args.threads)
            wall, cpu_s = timed(run, args.repeats)
            print(f"{head}| {runtime} | {size} | {wall * 1e3:.0f} ms | {cpu_s * 1e3:.0f} ms |", flush=True)
    print()
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""How close full-integer int8 TFLite stays to Keras, as a function of how much the generator changes the image.

Why: instance norm quantises badly to int8 (per-tensor 8-bit variances), and the error scales with the
size of the generator's residual. An untrained generator rewrites the whole image, a trained one changes a
blurred photo by ~25-35 dB, so we sweep the residual by scaling the head conv of a small random ResNet
generator and report, per scale: PSNR(Keras output, input) (how much the model changes the image) and
PSNR(int8 output, Keras output) (the agreement `deblur-tf export` checks, threshold 30 dB).

    KERAS_BACKEND=tensorflow python benchmarks/export_int8_residual.py [--size 64] [--scales 0.03,0.1,0.3,1]

Quoted in docs/DEPLOY.md ("Known limits"). Needs ../shared (calibration and eval photos).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import keras
import numpy as np

from deblur_tf.export import (
    convert_tflite,
    default_shared_dir,
    machine_description,
    make_image_set,
    psnr_float,
)
from deblur_tf.models import build_generator
from deblur_tf.tflite import TFLiteRunner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--scales", default="0.03,0.1,0.3,1")
    ap.add_argument("--ngf", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shared = default_shared_dir()
    if shared is None:
        raise SystemExit("needs ../shared (photos for calibration and evaluation)")
    size = (args.size, args.size)
    calib = make_image_set(shared / "data/sharp/train", size, 16, seed=args.seed + 1, random_crop=True).blurred
    evals = make_image_set(shared / "data/sharp/val", size, 4, seed=args.seed).blurred
    print(f"# {machine_description()}, {dt.date.today()}, resnet ngf={args.ngf} n_blocks={args.blocks}, "
          f"{args.size}x{args.size}, 16 calibration / 4 eval crops, seed {args.seed}")
    print("| head scale | Keras output vs input (dB) | int8 vs Keras (dB) |")
    print("| --- | --- | --- |")
    for scale in [float(s) for s in args.scales.split(",")]:
        keras.utils.set_random_seed(args.seed)
        model = build_generator("resnet", ngf=args.ngf, n_blocks=args.blocks)
        head = model.get_layer("head_conv")
        head.set_weights([w * scale for w in head.get_weights()])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.tflite"
            path.write_bytes(convert_tflite(model, "tflite-int8", size, calib))
            runner = TFLiteRunner(path)
            change, agree = [], []
            for img in evals:
                ref = np.clip((np.asarray(model.predict_on_batch(img[None] * 2 - 1))[0] + 1) / 2, 0, 1)
                change.append(psnr_float(ref, img))
                agree.append(psnr_float(runner.run_exact(img), ref))
        print(f"| {scale:g} | {np.mean(change):.1f} | {np.mean(agree):.1f} |")


if __name__ == "__main__":
    main()

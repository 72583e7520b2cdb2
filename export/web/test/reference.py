"""Fixture and reference for the browser test: a tiny TFLite model and LiteRT Python's output on a photo.

Why a tiny model of our own: the browser test checks the *runtime path* (LiteRT.js in Chromium, tiling,
canvas I/O) against LiteRT Python on the same .tflite, not the quality of a trained model, and CI must not
wait for training or a large model. The model is a small seeded residual conv net with the I/O contract of
`deblur-tf export` files (signature `serving_default`, input `image`, output `restored`, float32 NHWC RGB
in [0, 1], fixed 256x256), so the page runs it exactly like an exported generator. With `--tflite` an existing file (e.g. a real export) is used instead.

The tiling below mirrors export/web/src/tiling.js exactly (same window offsets, reflect padding, ramps);
the browser test compares the two outputs, so a bug in either shows up as a low PSNR.

Usage: python export/web/test/reference.py --image IMG --out DIR [--tflite MODEL] [--crop HxW]
writes DIR/tiny_fixture_256x256.tflite (unless --tflite), DIR/input.png and DIR/input.rgb (the pixels fed to the page),
DIR/reference.rgb (LiteRT Python's output, raw uint8 HxWx3),
DIR/reference.json (size, tiles, seed, timings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

SEED = 20251124
TILE = 256


def make_tiny_tflite(path: Path, size: int = TILE, seed: int = SEED) -> None:
    """Seeded 2-conv residual net, clip(x + 0.3 tanh(conv(relu(conv(x))))) on [-1, 1], with [0, 1] I/O."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tempfile

    import tensorflow as tf

    rng = np.random.default_rng(seed)
    k1 = (rng.standard_normal((3, 3, 3, 8)) * 0.3).astype(np.float32)
    b1 = (rng.standard_normal(8) * 0.05).astype(np.float32)
    k2 = (rng.standard_normal((3, 3, 8, 3)) * 0.3).astype(np.float32)
    b2 = np.zeros(3, np.float32)

    class Tiny(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, name="image")])
        def serve(self, image):
            x = image * 2.0 - 1.0
            h = tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME") + b1)
            r = tf.tanh(tf.nn.conv2d(h, k2, 1, "SAME") + b2)
            y = tf.clip_by_value(x + 0.3 * r, -1.0, 1.0)
            return {"restored": (y + 1.0) * 0.5}

    module = Tiny()
    with tempfile.TemporaryDirectory(prefix="tiny-tflite-") as tmp:
        tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve})
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(tmp).convert())


def reflect_index(i: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros_like(i)
    period = 2 * n - 2
    j = np.mod(i, period)
    return np.where(j < n, j, period - j)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    stride = max(1, tile - overlap)
    starts = list(range(0, length - tile, stride))
    return [*starts, length - tile]


def ramp(start: int, tile: int, length: int, overlap: int) -> np.ndarray:
    i = np.arange(tile, dtype=np.float64)
    w = np.ones(tile)
    if overlap > 0:
        if start > 0:
            w = np.minimum(w, (i + 0.5) / overlap)
        if start + tile < length:
            w = np.minimum(w, (tile - i - 0.5) / overlap)
    return np.maximum(w, 1e-3)


def deblur_tiled_litert(img_u8: np.ndarray, tflite_path: Path, value_range: tuple[float, float] = (0.0, 1.0),
                        threads: int = 1) -> tuple[np.ndarray, dict]:
    """Run the .tflite over `img_u8` (HxWx3 uint8 RGB) window by window; returns uint8 RGB and the plan.

    Pixels map linearly from [0, 255] to `value_range` on the way in and back on the way out, as in the page.
    """
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite_path), num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    _, th, tw, _ = (int(d) for d in inp["shape"])
    overlap = max(0, round(min(th, tw) / 8))
    margin = overlap // 2
    h, w, _ = img_u8.shape
    ph, pw = max(h + 2 * margin, th), max(w + 2 * margin, tw)
    ys, xs = tile_starts(ph, th, overlap), tile_starts(pw, tw, overlap)
    lo, hi = value_range
    x = img_u8.astype(np.float32) * np.float32((hi - lo) / 255.0) + np.float32(lo)
    acc = np.zeros((h, w, 3))
    wsum = np.zeros((h, w))
    for y0 in ys:
        wy = ramp(y0, th, ph, overlap)
        rows = reflect_index(np.arange(y0, y0 + th) - margin, h)
        for x0 in xs:
            wx = ramp(x0, tw, pw, overlap)
            cols = reflect_index(np.arange(x0, x0 + tw) - margin, w)
            window = x[rows][:, cols][None]
            interp.set_tensor(inp["index"], window)
            interp.invoke()
            y = interp.get_tensor(out["index"])[0].astype(np.float64)
            iy = np.arange(y0, y0 + th) - margin
            ix = np.arange(x0, x0 + tw) - margin
            my, mx = (iy >= 0) & (iy < h), (ix >= 0) & (ix < w)
            wgt = np.outer(wy[my], wx[mx])
            acc[iy[my][:, None], ix[mx][None, :]] += wgt[..., None] * y[my][:, mx]
            wsum[iy[my][:, None], ix[mx][None, :]] += wgt
    res = np.clip((acc / wsum[..., None] - lo) / (hi - lo), 0, 1) * 255.0
    plan = {"tile": [th, tw], "overlap": overlap, "margin": margin, "tiles": len(ys) * len(xs)}
    return np.floor(res + 0.5).astype(np.uint8), plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tflite", type=Path, help="use this model instead of making the tiny one")
    ap.add_argument("--crop", default="", help="HxW centre crop of the image (empty: the whole image)")
    ap.add_argument("--range", default="0,1", help="model value range: 0,1 (deblur-tf export files) or -1,1")
    ap.add_argument("--threads", type=int, default=1,
                    help="LiteRT CPU threads (1 matches the page's single-threaded WebAssembly build)")
    ap.add_argument("--repeat", type=int, default=1, help="time this many runs and report the median")
    args = ap.parse_args(argv)

    import cv2

    args.out.mkdir(parents=True, exist_ok=True)
    bgr = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
    if bgr is None:
        print(f"error: cannot read {args.image}", file=sys.stderr)
        return 2
    if args.crop:
        ch, cw = (int(v) for v in args.crop.lower().split("x"))
        top, left = max(0, (bgr.shape[0] - ch) // 2), max(0, (bgr.shape[1] - cw) // 2)
        bgr = bgr[top : top + ch, left : left + cw]
    cv2.imwrite(str(args.out / "input.png"), bgr)  # PNG: the browser decodes exactly these pixels
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    (args.out / "input.rgb").write_bytes(rgb.tobytes())  # to check the browser decoded the same pixels

    tflite = args.tflite
    if tflite is None:
        tflite = args.out / "tiny_fixture_256x256.tflite"
        make_tiny_tflite(tflite)
    value_range = tuple(float(v) for v in args.range.split(","))
    runs = []
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        ref, plan = deblur_tiled_litert(rgb, tflite, value_range, args.threads)
        runs.append(time.perf_counter() - t0)
    seconds = float(np.median(runs))
    (args.out / "reference.rgb").write_bytes(ref.tobytes())
    diff = ref.astype(np.float64) - rgb
    meta = {
        "image": str(args.image),
        "height": int(rgb.shape[0]),
        "width": int(rgb.shape[1]),
        "tflite": str(tflite.resolve()),
        "seed": SEED,
        "range": list(value_range),
        "python_litert_seconds": round(seconds, 3),
        "python_litert_runs": [round(r, 3) for r in runs],
        "python_litert_threads": args.threads,
        "reference_vs_input_mse": float(np.mean(diff**2)),
        **plan,
    }
    (args.out / "reference.json").write_text(json.dumps(meta, indent=2))
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How much the real pairs' PSNR depends on their registration: each output (and the blurred input) compared
with its sharp frame at every integer offset within `--radius` pixels, on the common interior, next to the plain
PSNR that `deblur-tf evaluate` reports.

Why: a real pair's sharp frame is another exposure, not the pixels behind the blur, and may sit a pixel away
from it (RealBlur registers its pairs before scoring, Rim et al. 2020). Under a misregistration, plain PSNR
favours outputs that stay blurry, so a sharper model can lose PSNR on a pair it restores better. Prints one JSON
line per pair and method with the best offset (rows, columns of the output relative to the reference), the
PSNR there, the plain PSNR, the machine and the date.

    KERAS_BACKEND=tensorflow python benchmarks/real_pairs_alignment.py --model nafnet --model out/cand/soup15
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

PAIRS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real_blur" / "paired"


def best_offset(out: np.ndarray, ref: np.ndarray, radius: int) -> tuple[float, tuple[int, int]]:
    """(PSNR, (dy, dx)) of the integer offset of `out` that best matches `ref` on the interior both share."""
    from deblur_tf.metrics import psnr

    h, w = ref.shape[:2]
    r = radius
    best = (-np.inf, (0, 0))
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            p = psnr(out[r + dy : h - r + dy, r + dx : w - r + dx], ref[r : h - r, r : w - r])
            if p > best[0]:
                best = (p, (dy, dx))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="shipped name or model folder (repeat); default nafnet")
    ap.add_argument("--radius", type=int, default=3, help="largest offset tried, in pixels")
    ap.add_argument("--pairs", type=Path, default=PAIRS)
    args = ap.parse_args()

    import keras

    from deblur_tf.errors import DeblurError
    from deblur_tf.evaluation import load_models, load_pairs
    from deblur_tf.metrics import psnr
    from deblur_tf.sysinfo import cpu_name

    try:
        samples = load_pairs(args.pairs, None, True, None)
        runners, _ = load_models(tuple(args.model or ["nafnet"]), 1024)
    except DeblurError as e:  # a missing pairs folder or an unknown --model: its message, not a traceback
        raise SystemExit(f"{e}") from None
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for sample in samples:
        sharp, blurred = sample.load()
        outputs = {"blurred": blurred, **{name: np.clip(run(blurred), 0.0, 1.0) for name, (run, _) in runners.items()}}
        for name, out in outputs.items():
            aligned, (dy, dx) = best_offset(out, sharp, args.radius)
            print(json.dumps({"pair": sample.name, "method": name, "psnr": round(psnr(out, sharp), 3),
                              "aligned_psnr": round(aligned, 3), "offset": [dy, dx], "radius": args.radius,
                              "cpu": cpu_name(), "backend": keras.backend.backend(), "date": date}), flush=True)


if __name__ == "__main__":
    main()

"""How much a model loses when the blur changes across the frame: the same photos, kernels and noise, blurred
once uniformly and once with `camera_blur(varying_fraction=1.0)` (docs/BLUR.md), and the model's mean PSNR
gain over its input on each.

Crops: the centre `--crop` of each of the 19 photos of ../shared/data/sharp/val; kernels: `realistic` shake,
63 px, drawn from `--seed`; even images blurred in linear light, odd on sRGB values; noise 0.01, 8 bits,
`match_mean` (the training camera without highlights, shot noise or JPEG). Prints one line per model and seed
with the machine, the backend and the date.

    KERAS_BACKEND=tensorflow python benchmarks/varying_blur.py --model nafnet --seed 5 --seed 6 --seed 99
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

VAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sharp" / "val"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="shipped name or model folder (repeat); default nafnet")
    ap.add_argument("--seed", type=int, action="append", help="kernel seed (repeat); default 99")
    ap.add_argument("--crop", type=int, default=224, help="centre crop side (the smallest photo is 228 px)")
    ap.add_argument("--val-dir", type=Path, default=VAL)
    args = ap.parse_args()

    import keras

    from deblur_tf.blur import REALISTIC_SHAKE, camera_blur, random_kernels
    from deblur_tf.errors import DeblurError
    from deblur_tf.inference import Deblurrer
    from deblur_tf.io import read_image
    from deblur_tf.metrics import psnr
    from deblur_tf.sysinfo import cpu_name
    from deblur_tf.zoo import load_model

    paths = sorted(args.val_dir.glob("*.png"))
    if not paths:
        raise SystemExit(f"no PNG photos in {args.val_dir}: this benchmark needs ../shared/data/sharp/val")
    c = args.crop
    crops = []
    for p in paths:
        try:
            rgb, _ = read_image(p)
        except DeblurError as e:  # a corrupt or unreadable photo: its name and why, not a traceback
            raise SystemExit(str(e)) from None
        h, w = rgb.shape[:2]
        if min(h, w) < c:
            raise SystemExit(f"{p} is {w}x{h}, smaller than --crop {c}")
        crops.append(rgb[(h - c) // 2:(h - c) // 2 + c, (w - c) // 2:(w - c) // 2 + c])
    x = np.stack(crops)
    n = len(x)
    gamma = np.where(np.arange(n) % 2 == 0, 2.2, 1.0).astype(np.float32)
    kw = {"gamma": gamma, "noise_std": np.full(n, 0.01, np.float32), "quantize": True, "match_mean": True,
          "seed": 11}
    for spec in args.model or ["nafnet"]:
        try:
            loaded = load_model(spec)
        except DeblurError as e:
            raise SystemExit(f"--model {spec}: {e}") from None
        deb = Deblurrer(loaded.predict, multiple=loaded.input_multiple, tile=None)
        for seed in args.seed or [99]:
            k = random_kernels(n, 63, rng=seed, params=REALISTIC_SHAKE)
            row = {"model": spec, "seed": seed, "images": n, "crop": c}
            for name, frac in (("uniform", 0.0), ("varying", 1.0)):
                y = np.asarray(keras.ops.convert_to_numpy(camera_blur(x, k, varying_fraction=frac, **kw)))
                inp = [psnr(y[i], x[i]) for i in range(n)]
                gain = [psnr(np.asarray(deb(y[i])), x[i]) - inp[i] for i in range(n)]
                row[name] = {"input_psnr": round(float(np.mean(inp)), 3), "gain": round(float(np.mean(gain)), 3),
                             "worse_than_input": int(sum(g < 0 for g in gain))}
            row.update(cpu=cpu_name(), backend=keras.backend.backend(),
                       date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

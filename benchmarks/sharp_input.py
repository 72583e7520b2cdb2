"""Do no harm: what a deblurring model does to a photo that is already sharp.

Users run `deblur-tf deblur` on whatever they have, and most photos are sharp or nearly so; a model that has only
ever seen blurred inputs may "deblur" a sharp one into ringing and invented edges. For every photo of a folder
(the 19 validation photos by default, whole), this feeds the model the sharp photo itself and the sharp photo
with Gaussian noise of `--noise-std` rounded to 8 bits (a camera's sharp frame), and prints the PSNR of the
output against the sharp photo: the input scores infinity / ~40 dB, a harmless model stays close to that.

    KERAS_BACKEND=tensorflow python benchmarks/sharp_input.py --models nafnet,nafnet-small

One JSON line per model and photo, then a Markdown table of the per-model median and worst photo. Seeded
(`--seed`, noise of photo i from `default_rng([seed, i])`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def noisy_8bit(sharp01: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """The sharp photo as an 8-bit file of a camera with Gaussian read noise `std` (in [0, 1] units)."""
    noisy = np.clip(sharp01 + rng.normal(0.0, std, sharp01.shape), 0.0, 1.0)
    return (np.round(noisy * 255.0) / 255.0).astype(np.float32)


def main() -> None:
    from deblur_tf.errors import DeblurError

    try:
        run(parse_args())
    except DeblurError as exc:  # a missing folder, an unknown model: the one-line message, exit 1
        raise SystemExit(f"error: {exc}") from None


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="nafnet,nafnet-small", help="comma list of shipped names or paths")
    p.add_argument("--sharp", default=str(ROOT.parent / "shared" / "data" / "sharp" / "val"), help="folder of sharp photos")
    p.add_argument("--noise-std", type=float, default=0.01, help="read noise of the noisy variant, [0, 1] units")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", default=None, help="also append the JSON lines to this file")
    return p.parse_args()


def run(args: argparse.Namespace) -> None:
    import keras

    from deblur_tf.inference import Deblurrer
    from deblur_tf.io import iter_images, read_image
    from deblur_tf.metrics import psnr
    from deblur_tf.zoo import load_model

    paths = sorted(iter_images([Path(args.sharp)]))
    if not paths:
        raise SystemExit(f"{args.sharp}: no images")
    summary = []
    for name in args.models.split(","):
        loaded = load_model(name)
        run = Deblurrer(loaded.predict, multiple=loaded.input_multiple, tile=None)
        clean, noisy = [], []
        for i, path in enumerate(paths):
            sharp = read_image(path)[0]
            inp = noisy_8bit(sharp, args.noise_std, np.random.default_rng([args.seed, i]))
            row = {"model": name, "photo": path.name, "date": _dt.date.today().isoformat(),
                   "backend": keras.backend.backend(), "noise_std": args.noise_std, "seed": args.seed,
                   "psnr_out_clean": round(psnr(run(sharp), sharp), 3),
                   "psnr_in_noisy": round(psnr(inp, sharp), 3), "psnr_out_noisy": round(psnr(run(inp), sharp), 3)}
            clean.append((row["psnr_out_clean"], path.name))
            noisy.append(row["psnr_out_noisy"] - row["psnr_in_noisy"])
            print(json.dumps(row), flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")
        worst = min(clean)
        summary.append((name, float(np.median([c for c, _ in clean])), worst, float(np.median(noisy)), min(noisy)))

    print(f"\n{len(paths)} photos of {args.sharp}; noisy input: sigma {args.noise_std}, 8-bit, seed {args.seed}\n")
    print("| model | sharp in: median PSNR out | worst photo | noisy in: median change | worst change |")
    print("| --- | ---: | --- | ---: | ---: |")
    for name, med, (wp, wn), nmed, nworst in summary:
        print(f"| {name} | {med:.2f} dB | {wn} ({wp:.2f} dB) | {nmed:+.2f} dB | {nworst:+.2f} dB |")


if __name__ == "__main__":
    main()

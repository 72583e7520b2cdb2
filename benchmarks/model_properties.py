"""Properties of a trained generator that PSNR tables hide: colour drift, grid artifacts, tiling seams.

For each model and each photo of ../shared/data/real_blur (a centred `--crop` square; paired photos also
against their sharp counterpart), prints one JSON line and, at the end, a Markdown table for docs/MODELS.md:

- `shift_r/g/b`: per-channel mean of restored - input in 8-bit levels (`deblur_tf.metrics.channel_mean_shift`);
  a generator that sharpens without recolouring stays within +-2 levels;
- `checker`: `deblur_tf.metrics.checkerboard_score` of restored vs input (~1: no period-2/4 grid added;
  a 0.5/255 checkerboard scores in the thousands);
- `tiled_vs_full_db`: PSNR between the whole-image output and the output of `Deblurrer` with `--tile`-pixel
  tiles (`--overlap` px, by default `deblur`'s: 64, at most a quarter tile; feathered): how much tiling a
  large photo changes the result (instance norm makes a tile's statistics differ from the whole image's; a norm-free model agrees to float precision);
- paired photos: `psnr_full`, `psnr_tiled`: PSNR vs the sharp photo of both outputs, and of the input, and
  `sharp_shift_r/g/b`: sharp - blurred per-channel mean (levels), the shift a perfect restoration would show
  (a pair taken at another exposure has one, and then a model's shift is partly toward the truth).

    KERAS_BACKEND=tensorflow python benchmarks/model_properties.py --models deblurgan-mobile,deblurgan --crop 512
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


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(size, h, w) // 4 * 4
    y, x = (h - s) // 2, (w - s) // 2
    return img[y : y + s, x : x + s]


def load01(path: Path) -> np.ndarray:
    from deblur_tf.io import read_image

    return read_image(path)[0]  # float32 RGB in [0, 1] whatever the bit depth


def measure(loaded, blurred01: np.ndarray, tile: int, sharp01: np.ndarray | None = None,
            overlap: int | None = None) -> dict:
    """The properties of one model on one photo (see the module docstring)."""
    from deblur_tf.inference import Deblurrer
    from deblur_tf.metrics import channel_mean_shift, checkerboard_score, psnr

    full = Deblurrer(loaded.predict, multiple=loaded.input_multiple, tile=None)(blurred01)
    tiled = Deblurrer(loaded.predict, multiple=loaded.input_multiple, tile=tile, overlap=overlap)(blurred01)
    shift = channel_mean_shift(full, blurred01)
    diff = float(np.mean((full.astype(np.float64) - tiled) ** 2))
    row = {"shift_r": round(float(shift[0]), 3), "shift_g": round(float(shift[1]), 3),
           "shift_b": round(float(shift[2]), 3), "checker": round(checkerboard_score(full, blurred01), 3),
           "tiled_vs_full_db": round(float("inf") if diff == 0 else 10 * np.log10(1.0 / diff), 2)}
    if sharp01 is not None:
        truth = channel_mean_shift(sharp01, blurred01)
        row.update(psnr_input=round(psnr(blurred01, sharp01), 3), psnr_full=round(psnr(full, sharp01), 3),
                   psnr_tiled=round(psnr(tiled, sharp01), 3), sharp_shift_r=round(float(truth[0]), 3),
                   sharp_shift_g=round(float(truth[1]), 3), sharp_shift_b=round(float(truth[2]), 3))
    return row


def photos(shared: Path, crop: int):
    """(name, blurred crop, sharp crop or None) for every real-blur photo; paired ones cropped to a common size."""
    for path in sorted((shared / "data" / "real_blur" / "unpaired").glob("*")):
        yield path.name, centre_crop(load01(path), crop), None
    for path in sorted((shared / "data" / "real_blur" / "paired" / "blur").glob("*")):
        blur, sharp = load01(path), load01(path.parent.parent / "sharp" / path.name)
        h, w = min(blur.shape[0], sharp.shape[0]), min(blur.shape[1], sharp.shape[1])  # gopro_test1: 2 rows differ
        yield path.name, centre_crop(blur[:h, :w], crop), centre_crop(sharp[:h, :w], crop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="deblurgan-mobile,deblurgan", help="comma list of shipped names or paths")
    p.add_argument("--crop", type=int, default=512, help="centred square crop of each photo, pixels")
    p.add_argument("--tile", type=int, default=256, help="tile side for the tiled run")
    p.add_argument("--overlap", type=int, default=None,
                   help="tile overlap of the tiled run (default: deblur's, 64 at most a quarter tile)")
    p.add_argument("--shared", default=str(ROOT.parent / "shared"), help="the shared data folder")
    p.add_argument("--jsonl", default=None, help="also append the JSON lines to this file")
    args = p.parse_args()

    import keras

    from deblur_tf.inference import auto_overlap
    from deblur_tf.zoo import load_model

    overlap = auto_overlap(args.tile) if args.overlap is None else args.overlap
    rows = []
    for name in args.models.split(","):
        loaded = load_model(name)
        for photo, blurred, sharp in photos(Path(args.shared), args.crop):
            row = {"model": name, "photo": photo, "crop": blurred.shape[0], "tile": args.tile, "overlap": overlap,
                   "backend": keras.backend.backend(), "date": _dt.date.today().isoformat(),
                   **measure(loaded, blurred, args.tile, sharp, overlap)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")

    print("\n| model | photo | colour shift R/G/B (levels) | sharp - blurred R/G/B | checkerboard score | tiled vs "
          "full | PSNR input / full / tiled |\n| --- | --- | --- | --- | ---: | ---: | --- |")
    for r in rows:
        paired = (f"{r['psnr_input']:.2f} / {r['psnr_full']:.2f} / {r['psnr_tiled']:.2f} dB"
                  if "psnr_full" in r else "")
        truth = (f"{r['sharp_shift_r']:+.2f} / {r['sharp_shift_g']:+.2f} / {r['sharp_shift_b']:+.2f}"
                 if "sharp_shift_r" in r else "")
        print(f"| {r['model']} | {r['photo']} | {r['shift_r']:+.2f} / {r['shift_g']:+.2f} / {r['shift_b']:+.2f} | "
              f"{truth} | {r['checker']:.2f} | {r['tiled_vs_full_db']:.1f} dB | {paired} |")


if __name__ == "__main__":
    main()

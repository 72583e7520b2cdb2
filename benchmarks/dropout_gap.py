"""How much a generator's dropout costs at its output: PSNR with dropout on (as in training) against off.

The paper ResNet keeps DeblurGAN's dropout 0.5 in every ResBlock, also in its pixel-loss content stage, where it is
a suspect for slow learning (docs/TRAINING.md, cycle 12). If the output with dropout on is far below the output
with it off, the training loss sees a much worse network than the one that ships; if the two are close, the
network has learned to work around the dropout and the question is only what that costs in capacity. Pairs come
from two folders of the same file names, e.g. the blurred inputs that `deblur-tf evaluate --save-images` wrote:

    deblur-tf evaluate --preset val-shake --baselines blurred --model nafnet --no-lpips --save-images \
        --out out/results/vs_imgs          # any --model: the blurred/ folder is the fixed val-shake set
    KERAS_BACKEND=tensorflow python benchmarks/dropout_gap.py --model out/cand/dgc1 \
        --blurred out/results/vs_imgs/images/blurred --sharp ../shared/data/sharp/val

Each image is cropped to the model's input multiple and run whole; dropout-on is the mean of `--draws` seeded
passes. Prints one JSON line per image, then the means.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="shipped name or model folder")
    p.add_argument("--blurred", required=True, help="folder of blurred images")
    p.add_argument("--sharp", required=True, help="folder of the sharp images, same file names")
    p.add_argument("--limit", type=int, default=0, help="only the first N pairs (sorted); 0: all")
    p.add_argument("--draws", type=int, default=2, help="dropout-on passes per image")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def measure(model_spec: str, blurred_dir: Path, sharp_dir: Path, limit: int = 0, draws: int = 2,
            seed: int = 0) -> dict:
    """Per-image and mean PSNR of the input, the model with dropout off, and with dropout on."""
    import keras

    from deblur_tf.errors import DeblurError
    from deblur_tf.io import is_image_path, read_image
    from deblur_tf.metrics import psnr
    from deblur_tf.zoo import load_model

    for flag, folder in (("--blurred", blurred_dir), ("--sharp", sharp_dir)):
        if not Path(folder).is_dir():
            raise DeblurError(f"{flag} {folder}: no such folder")
    if draws < 1:
        raise DeblurError(f"--draws {draws}: needs at least one dropout-on pass")
    loaded = load_model(model_spec)
    model = loaded.keras_model
    if model is None:
        raise DeblurError(f"{model_spec}: not a Keras model (a TFLite or SavedModel file has no dropout to switch)")
    multiple = int(loaded.info.get("input_multiple", 4) or 4)
    names = sorted(p.name for p in Path(blurred_dir).iterdir() if p.is_file() and is_image_path(p))
    if limit:
        names = names[:limit]
    if not names:
        raise DeblurError(f"--blurred {blurred_dir}: no images in it")
    keras.utils.set_random_seed(seed)
    rows = []
    for name in names:
        if not (Path(sharp_dir) / name).is_file():
            raise DeblurError(f"{Path(sharp_dir) / name}: missing; --sharp needs the same file names as --blurred")
        b, _ = read_image(Path(blurred_dir) / name)
        s, _ = read_image(Path(sharp_dir) / name)
        if b.shape != s.shape:
            raise DeblurError(f"{name}: blurred {b.shape} and sharp {s.shape} differ in size")
        h, w = b.shape[0] // multiple * multiple, b.shape[1] // multiple * multiple
        b, s = b[:h, :w], s[:h, :w]
        x = keras.ops.convert_to_tensor(b[None] * 2.0 - 1.0)
        on = float(np.mean([psnr(_run(model, x, True), s) for _ in range(draws)]))
        rows.append({"image": name, "input": float(psnr(b, s)), "dropout_off": float(psnr(_run(model, x, False), s)),
                     "dropout_on": on})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("input", "dropout_off", "dropout_on")}
    return {"model": model_spec, "seed": seed, "draws": draws, "images": rows, "mean": mean}


def _run(model, x, training: bool) -> np.ndarray:
    """One pass in [0, 1]; `training=True` switches dropout on (the ResNet's instance norm has no moving statistics)."""
    import keras

    y = keras.ops.convert_to_numpy(model(x, training=training))[0]
    return np.clip((y + 1.0) / 2.0, 0.0, 1.0)


def main(argv: list[str] | None = None) -> None:
    from deblur_tf.errors import DeblurError

    args = parse_args(argv)
    try:
        result = measure(args.model, Path(args.blurred), Path(args.sharp), args.limit, args.draws, args.seed)
    except DeblurError as exc:
        raise SystemExit(f"error: {exc}") from None
    for row in result["images"]:
        print(json.dumps(row))
    m = result["mean"]
    print(json.dumps({"model": args.model, "seed": args.seed, "draws": args.draws, "mean_input": round(m["input"], 3),
                      "mean_dropout_off": round(m["dropout_off"], 3), "mean_dropout_on": round(m["dropout_on"], 3)}))


if __name__ == "__main__":
    main()

"""How blocky the evaluation's sharp references are, and what a model does to their blocks.

Why: a reference that is a frame of compressed video carries 8x8 block edges; a model trained with JPEG inputs
removes them, and PSNR against that reference counts the cleaning as error. This prints
`deblur_tf.metrics.block_edge_ratio` (~1 for none, > 1 where blocks show) for every photo of a folder and, with
`--outputs DIR`, for the images of the same stem in DIR (e.g. a model's results on the blurred copies), with
their PSNR against the photo on the pixels beside the 8-px block boundaries and on the others:

    python benchmarks/reference_blocking.py                       # the 19 sharp val photos
    python benchmarks/reference_blocking.py --outputs out/nafnet  # and a model's outputs beside them

One JSON line per photo, then the photos above `--flag` (default 1.1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def split_psnr(out01: np.ndarray, ref01: np.ndarray, block: int = 8) -> dict[str, float]:
    """PSNR of `out01` against `ref01` on the pixels beside the block boundaries and on the others.

    If a model loses against a blocky reference because it removed the blocks, its error sits on the boundary
    pixels (the last and first row and column of every block) and that PSNR is the lower one.
    """
    from deblur_tf.errors import DeblurError
    from deblur_tf.metrics import psnr

    if out01.shape != ref01.shape:
        raise DeblurError(f"output {out01.shape} and reference {ref01.shape} differ in size")
    h, w = ref01.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    edge = (yy % block == block - 1) | (yy % block == 0) | (xx % block == block - 1) | (xx % block == 0)
    return {name: round(psnr(out01[m], ref01[m]), 2) for name, m in (("psnr_block_edges", edge),
                                                                     ("psnr_interior", ~edge))}


def main() -> None:
    from deblur_tf.errors import DeblurError
    from deblur_tf.io import is_image_path, read_image
    from deblur_tf.metrics import block_edge_ratio

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sharp", default=str(ROOT.parent / "shared" / "data" / "sharp" / "val"), help="folder of photos")
    p.add_argument("--outputs", default=None, help="folder of images named like the photos (any image suffix)")
    p.add_argument("--flag", type=float, default=1.1, help="list the photos whose ratio is above this")
    args = p.parse_args()
    try:
        folder = Path(args.sharp)
        photos = sorted(f for f in folder.iterdir() if is_image_path(f)) if folder.is_dir() else []
        if not photos:
            raise DeblurError(f"{folder}: no images there; pass --sharp with a folder of photos")
        outs = {}
        if args.outputs:
            out_dir = Path(args.outputs)
            if not out_dir.is_dir():
                raise DeblurError(f"{out_dir}: not a folder; pass --outputs with the folder of a model's results")
            outs = {f.stem: f for f in out_dir.iterdir() if is_image_path(f)}
        flagged = []
        for f in photos:
            row = {"photo": f.name, "reference": round(block_edge_ratio(read_image(f)[0]), 3)}
            if f.stem in outs:
                ref, out = read_image(f)[0], read_image(outs[f.stem])[0]
                row["output"] = round(block_edge_ratio(out), 3)
                row.update(split_psnr(out, ref))
            print(json.dumps(row), flush=True)
            if row["reference"] > args.flag:
                flagged.append(f"{f.name} {row['reference']}" + (f" -> {row['output']}" if "output" in row else ""))
        print(f"\nabove {args.flag}: " + (", ".join(flagged) if flagged else "none"))
    except DeblurError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()

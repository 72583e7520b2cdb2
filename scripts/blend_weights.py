"""Blend the weights of models of one architecture: a uniform soup or an interpolation between two.

Why: two runs of the same recipe from the same start land in one basin, and their weight-by-weight mean is
usually at least as good as either (model soups, Wortsman et al. 2022); interpolating a PSNR-trained
generator with its adversarially fine-tuned copy trades distortion for perception smoothly (network
interpolation, Wang et al. 2018, ESRGAN). Both work on the float16 `weights.npz` the zoo ships.

    python scripts/blend_weights.py -o out/soup out/runA out/runB                 # (A + B) / 2
    python scripts/blend_weights.py -o out/interp --weights 0.5,0.5 deblur_tf/weights/nafnet out/soup

The output folder gets `weights.npz` and the first model's `config.json` with its name replaced; a
`blend.json` records the inputs, their sha256 and the weights, so the result can be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import click
import numpy as np


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def blend(arrays: list[dict[str, np.ndarray]], weights: list[float]) -> dict[str, np.ndarray]:
    """Weighted sum, array by array, in float32, cast back to each array's dtype.

    The arrays must match by name, shape and dtype: a blend of different architectures is meaningless,
    so a mismatch is an error rather than a silent partial blend.
    """
    if len(arrays) != len(weights) or not arrays:
        raise ValueError(f"{len(arrays)} weight sets but {len(weights)} blend weights")
    names = set(arrays[0])
    for i, a in enumerate(arrays[1:], start=2):
        if set(a) != names:
            raise ValueError(f"model {i} has different weight names from model 1 (another architecture?)")
    out: dict[str, np.ndarray] = {}
    for k in sorted(names):
        ref = arrays[0][k]
        acc = np.zeros(ref.shape, np.float32)
        for i, (a, w) in enumerate(zip(arrays, weights, strict=True), start=1):
            if a[k].shape != ref.shape:
                raise ValueError(f"{k}: shape {a[k].shape} in model {i} but {ref.shape} in model 1")
            acc += np.float32(w) * a[k].astype(np.float32)
        out[k] = acc.astype(ref.dtype)
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument(
    "models", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path), help="new model folder"
)
@click.option("--weights", "weights_s", default=None, help="comma-separated blend weights (default: uniform)")
@click.option("--name", default=None, help="name written into config.json (default: the folder name)")
@click.option("--overwrite", is_flag=True, help="replace an existing output folder's files")
def main(
    models: tuple[Path, ...], out_dir: Path, weights_s: str | None, name: str | None, overwrite: bool
) -> None:
    """Blend MODELS (zoo-style folders with weights.npz and config.json) into a new model folder."""
    if weights_s is None:
        weights = [1.0 / len(models)] * len(models)
    else:
        try:
            weights = [float(x) for x in weights_s.split(",")]
        except ValueError:
            raise click.BadParameter(
                f"not a list of numbers: {weights_s!r}", param_hint="--weights"
            ) from None
        if len(weights) != len(models):
            raise click.BadParameter(
                f"{len(weights)} weights for {len(models)} models", param_hint="--weights"
            )
        if abs(sum(weights) - 1.0) > 1e-6:
            raise click.BadParameter(f"the weights sum to {sum(weights)}, not 1", param_hint="--weights")
    for m in models:
        for f in ("weights.npz", "config.json"):
            if not (m / f).is_file():
                raise click.ClickException(
                    f"{m / f} is missing: a model folder holds weights.npz and config.json"
                )
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise click.ClickException(f"{out_dir} is not empty; pass --overwrite to replace its files")
    arrays = []
    for m in models:
        with np.load(m / "weights.npz") as z:
            arrays.append({k: z[k] for k in z.files})
    try:
        blended = blend(arrays, weights)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    config = json.loads((models[0] / "config.json").read_text())
    config["name"] = name or out_dir.name
    config["default"] = False
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "weights.npz", **blended)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    record = {
        "inputs": [
            {"model": str(m), "sha256": _sha256(m / "weights.npz"), "weight": w}
            for m, w in zip(models, weights, strict=True)
        ],
        "sha256": _sha256(out_dir / "weights.npz"),
    }
    (out_dir / "blend.json").write_text(json.dumps(record, indent=2) + "\n")
    click.echo(f"{out_dir}: {len(blended)} arrays, weights {weights}")


if __name__ == "__main__":
    sys.exit(main())

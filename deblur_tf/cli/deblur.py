"""`deblur-tf deblur` (images of any size through a model) and `deblur-tf models` (the shipped ones).

Everything that can go wrong with the inputs or outputs is checked before the first image is processed:
unknown model, missing inputs, two inputs that would land on the same output file, an output that already
exists (without --overwrite), an output that would replace its own input. So a failed run never leaves a
half-written batch behind and never destroys a file.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from deblur_tf.errors import DeblurError, ImageReadError, OutputExistsError
from deblur_tf.inference import DEFAULT_OVERLAP, ENSEMBLE_SIZES, Deblurrer, auto_overlap, flip_ensemble
from deblur_tf.io import (
    can_embed_icc,
    check_writable,
    iter_images,
    read_image_meta,
    to_grayscale,
    write_image,
)
from deblur_tf.zoo import default_model, list_models, load_model

# Default tiles: the keras runtime runs photos up to 1024 px whole (nafnet's reach is wider than a 32-px
# overlap, so fewer tile edges is better quality, docs/MODELS.md), a TFLite file has one fixed input size and
# 512 keeps its conversion and its padding waste small.
KERAS_TILE, TFLITE_TILE = 1024, 512
FORMATS = ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp")


def plan_outputs(inputs: tuple[str, ...], out_dir: Path, fmt: str | None, side_by_side: bool = False
                 ) -> list[tuple[Path, Path, Path | None]]:
    """(input, output, comparison output or None) for every image: folders mirror their relative paths."""
    plan: list[tuple[Path, Path, Path | None]] = []
    claimed: dict[Path, Path] = {}
    planned: set[Path] = set()
    for item in inputs:
        root = Path(item) if Path(item).is_dir() else None
        for src in iter_images([item]):
            rel = src.relative_to(root) if root is not None else Path(src.name)
            dst = out_dir / rel
            if fmt:
                dst = dst.with_suffix("." + fmt.lower().lstrip("."))
            cmp_dst = dst.with_name(f"{dst.stem}_side_by_side{dst.suffix}") if side_by_side else None
            for d in (dst, cmp_dst):
                if d is None:
                    continue
                if d in claimed and claimed[d].resolve() != src.resolve():
                    raise DeblurError(f"{src} and {claimed[d]} would both be written to {d}; "
                                      "deblur them into different output folders")
                claimed[d] = src
            real = src.resolve()
            if real in {dst.resolve(), cmp_dst.resolve() if cmp_dst else None}:
                raise DeblurError(f"{src}: the output would replace the input; choose another -o folder")
            if real not in planned:  # the same file reached through two arguments is deblurred once
                planned.add(real)
                plan.append((src, dst, cmp_dst))
    if not plan:
        raise ImageReadError("no input images given")
    return plan


def side_by_side_image(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Input and result next to each other with a white gap, for a quick visual comparison."""
    h = left.shape[0]
    spacer = np.ones((h, gap, 3), np.float32)
    return np.concatenate([left, spacer, right], axis=1)


@click.command("deblur")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; input folders are mirrored inside it.")
@click.option("--model", "model_name", default=None,
              help="Shipped model name (see `deblur-tf models`) or a path: .keras, .weights.h5 (with "
                   "generator.json), training run folder, .tflite, SavedModel folder. Default: the shipped default.")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), default=None,
              help="Output format. Default: the same as each input.")
@click.option("--quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="JPEG/WebP quality.")
@click.option("--tile", type=click.IntRange(min=0), default=None,
              help="Tile side in pixels for large images (bounded memory); 0 runs every image whole. Default: "
                   f"{KERAS_TILE} with the keras runtime (photos up to {KERAS_TILE} px run whole), {TFLITE_TILE} with "
                   "tflite (one fixed-size file). Keep it large: tiles differ from the whole image within the "
                   "model's reach of a tile edge (instance norm: 51 dB vs whole at 512, 37 dB at 256).")
@click.option("--overlap", type=click.IntRange(min=0), default=None,
              help=f"Pixels shared by neighbouring tiles (feathered blend, no seams). Default: {DEFAULT_OVERLAP}, "
                   "at most a quarter of the tile.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Tiles per model call. Default: as many as make about one megapixel (4 tiles of 512, 1 of 1024), "
                   "which bounds the memory of a call.")
@click.option("--ensemble", type=click.Choice([str(n) for n in ENSEMBLE_SIZES]), default=None,
              help="Average the model over this many mirrored copies of the photo (1: the model alone, 2: and its "
                   "left-right mirror, 4: and the up-down ones): +0.1-0.2 dB PSNR (docs/RESULTS.md) for about "
                   "2x / 4x the time. Default: the model's own (2 for the default nafnet, else 1).")
@click.option("--side-by-side", is_flag=True, help="Also write <name>_side_by_side.<ext>: input | result.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@click.option("--runtime", type=click.Choice(["keras", "tflite"]), default="keras", show_default=True,
              help="keras: the model as loaded (GPU when present). tflite: convert a Keras model once to a "
                   "float32 LiteRT file for --tile-sized tiles (cached; DEBLUR_TF_CACHE) and run it with XNNPACK: 1.3-1.8x "
                   "faster on a 2-core CPU (docs/BENCHMARKS.md); outputs agree within a gray level. Needs KERAS_BACKEND=tensorflow.")
@click.option("--keep-going", is_flag=True,
              help="Skip unreadable images (listed at the end, exit status 2) instead of stopping at the first.")
def deblur(inputs, out_dir, model_name, fmt, quality, tile, overlap, batch_size, ensemble, side_by_side, overwrite,
           runtime, keep_going) -> None:
    """Deblur INPUT images (files, folders searched recursively, or glob patterns) into OUT.

    Any size works: images are reflect-padded to what the network needs and cropped back, and large ones are
    processed in overlapping tiles. Photos are kept as they are: the EXIF orientation is applied (outputs are
    upright), grayscale stays grayscale, 16-bit PNG/TIFF stays 16-bit, and JPEG/PNG outputs keep the input's
    ICC profile (other formats say that they drop it). Uses the GPU when TensorFlow (or JAX) sees one.

    \b
    Examples:
      deblur-tf deblur photo.jpg -o out/
      deblur-tf deblur holidays/ "scans/*.png" -o deblurred/ --format png --side-by-side
    """
    from tqdm import tqdm

    check_writable(out_dir)
    plan = plan_outputs(tuple(inputs), out_dir, fmt, side_by_side)
    if not overwrite:
        existing = [d for _, dst, cmp_dst in plan for d in (dst, cmp_dst) if d is not None and d.exists()]
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise OutputExistsError(f"{existing[0]}: already exists{more}; pass --overwrite to replace, "
                                    "or choose another -o folder")
    if tile is None:
        tile = TFLITE_TILE if runtime == "tflite" else KERAS_TILE
    if batch_size is None:
        batch_size = auto_batch_size(tile)
    loaded = load_model(model_name)
    if ensemble is None:  # the model's own default (a shipped config's "ensemble"), kept through --runtime tflite
        ensemble = str(loaded.ensemble)
    if runtime == "tflite" and loaded.kind != "tflite":
        loaded = _as_tflite(loaded, tile)
    tiles, fixed = tile or None, runtime == "tflite"
    file_tile = getattr(loaded.predict, "tile_size", None)
    if file_tile is not None:  # a .tflite file runs one input size: tile at it once (it would tile again inside)
        tiles, fixed = tuple(file_tile), True
        overlap = min(auto_overlap(tiles) if overlap is None else overlap, file_tile[0] // 4, file_tile[1] // 4)
    runner = Deblurrer(flip_ensemble(loaded.predict, int(ensemble)), multiple=loaded.input_multiple, tile=tiles,
                       overlap=overlap, batch_size=batch_size, fixed_tile=fixed)
    failed: list[str] = []
    t0 = time.perf_counter()
    pixels = 0
    bar = tqdm(plan, desc=f"deblur ({loaded.name})", unit="img", disable=len(plan) < 2)
    for index, (src, dst, cmp_dst) in enumerate(bar):
        try:
            img, meta = read_image_meta(src)
        except ImageReadError as exc:
            if not keep_going:
                written = index  # no failure before this one, or --keep-going would be on
                also = (f"; the {written} image(s) before it are written (add --overwrite to redo them)"
                        if written else "")
                raise ImageReadError(f"{exc} (pass --keep-going to skip unreadable images{also})") from exc
            failed.append(str(exc))
            continue
        tiles = runner.tile_count(img.shape)
        # one large photo is a minute of CPU: show its tiles (the image bar only counts whole images)
        with tqdm(total=tiles, desc=f"{src.name} ({img.shape[1]}x{img.shape[0]})", unit="tile", leave=False,
                  disable=tiles <= batch_size, position=1 if len(plan) > 1 else 0) as tile_bar:
            out = runner(img, progress=tile_bar.update)
        pixels += img.shape[0] * img.shape[1]
        # the photo as it was: grayscale stays grayscale (the RGB model tints its three equal channels a
        # little), same bit depth, same colour profile where the output format can hold one
        keep = to_grayscale if meta.grayscale else (lambda a: a)
        if meta.icc_profile and not can_embed_icc(dst):
            click.echo(f"note: {dst}: the ICC colour profile of {src.name} is dropped ({dst.suffix} output "
                       "cannot hold it here; use --format png or jpg to keep it)", err=True)
        write_image(dst, keep(out), bit_depth=meta.bit_depth, overwrite=overwrite, jpeg_quality=quality,
                    icc_profile=meta.icc_profile)
        if cmp_dst is not None:
            write_image(cmp_dst, keep(side_by_side_image(img, out)), bit_depth=meta.bit_depth, overwrite=overwrite,
                        jpeg_quality=quality, icc_profile=meta.icc_profile)
    elapsed = time.perf_counter() - t0
    done = len(plan) - len(failed)
    how = f" (ensemble of {ensemble})" if ensemble != "1" else ""
    click.echo(f"deblurred {done} image(s) with {loaded.name}{how} into {out_dir} "
               f"({elapsed:.1f} s, {elapsed / max(pixels / 1e6, 1e-9):.2f} s/megapixel)")
    if failed:
        for msg in failed:
            click.echo(f"skipped: {msg}", err=True)
        raise DeblurError(f"{len(failed)} input image(s) could not be read (listed above)")


def auto_batch_size(tile: int) -> int:
    """Tiles per model call when --batch-size is not given: about one megapixel per call (4 x 512², 1 x 1024²),
    so that a larger tile does not multiply the memory of a call; 0 (whole images) runs one image per call."""
    if not tile:
        return 1
    return max(1, round(4 * 512 * 512 / (tile * tile)))


def _as_tflite(loaded, tile: int):
    """`loaded` with its full `tile`x`tile` tiles run by a cached TFLite conversion of its Keras model.

    A TFLite file has one fixed input size; any other shape (an image smaller than a tile, the short side of
    a strip) still goes through the Keras model, so every output pixel is what the Keras path computes, to
    float precision, whichever runtime made it.
    """
    import dataclasses

    from deblur_tf.cli._quiet import quiet_native_stderr
    from deblur_tf.export import cached_tflite  # TensorFlow: only for --runtime tflite

    if loaded.keras_model is None:
        raise DeblurError(f"--runtime tflite converts a Keras model; {loaded.source} is a {loaded.kind} artifact "
                          "(pass a shipped name, .keras, .weights.h5 or run folder, or drop --runtime)")
    if not tile:
        raise DeblurError("--runtime tflite runs fixed-size tiles: give --tile N (e.g. the default 512), not 0")
    side = max(loaded.input_multiple, tile // loaded.input_multiple * loaded.input_multiple)
    with quiet_native_stderr():  # the converter's MLIR log, LiteRT's "Created XNNPACK delegate"
        path = cached_tflite(loaded.keras_model, (side, side), echo=lambda m: click.echo(m))
        fixed = load_model(str(path)).predict
        fixed(np.zeros((1, side, side, 3), np.float32))  # the delegate is applied on the first run
    keras_predict = loaded.predict

    def predict(batch: np.ndarray) -> np.ndarray:
        return fixed(batch) if tuple(batch.shape[1:3]) == (side, side) else keras_predict(batch)

    return dataclasses.replace(loaded, predict=predict, name=f"{loaded.name} (TFLite)")


@click.command("models")
def models() -> None:
    """List the shipped models (name, generator kind, parameters, the mirrored copies `deblur` averages by
    default; * marks the default model)."""
    rows = list_models()
    if not rows:
        click.echo("no shipped models installed (deblur_tf/weights/ is empty); pass --model PATH to deblur with "
                   "a .keras file, a .weights.h5 + generator.json, or a training run folder")
        return
    default = default_model()
    click.echo(f"  {'name':<24} {'kind':<10} {'params':>12} {'ensemble':>8}  card")
    for m in rows:
        mark = "*" if m["name"] == default else " "
        params = f"{m['params']:,}" if m.get("params") is not None else "?"
        card = Path(m["path"]) / m["card"] if m.get("card") else None
        card = card if card is not None and card.is_file() else "(no model card)"
        click.echo(f"{mark} {m['name']:<24} {m.get('kind', '?'):<10} {params:>12} {m.get('ensemble', 1):>8}  {card}")

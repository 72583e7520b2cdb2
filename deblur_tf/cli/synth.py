"""`deblur-tf synth` (sharp photos -> GoPro-style blur/sharp pairs) and `deblur-tf kernels` (a kernel sheet).

Reproducibility is the point of a synthetic set: image i's kernel and noise come from generators seeded with
(seed, i), where i is the image's position in the sorted list of SHARP_DIR, so re-running with the same seed
re-creates the same pairs, and `--limit` or a skipped file never changes the other images' blur. Every kernel is
stored exactly (`kernels/<name>.npy`, float32) next to a viewable PNG, and `manifest.json` records the seed, all
parameters and what was drawn per image, so evaluation can compare against the true kernel (e.g. a Wiener
filter with the known PSF) and anyone can regenerate or audit the set.
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from deblur_tf.blur import (
    SHAKE_PRESETS,
    TrajectoryParams,
    blur_numpy,
    kernel_extent,
    kernel_to_image,
    per_item_generators,
    random_kernel_bank,
    random_kernels,
)
from deblur_tf.errors import DeblurError, ImageReadError, OutputExistsError
from deblur_tf.io import (
    check_writable,
    ensure_dir,
    is_image_path,
    iter_images,
    read_image,
    write_bytes_atomic,
    write_image,
)
from deblur_tf.synthset import image_entry, new_manifest, write_manifest

KERNEL_CHUNK = 128  # trajectories simulated per vectorised pass (memory ~ 100 MB at the default 2000 steps)


def _exposure_option(value: str) -> float | tuple[float, ...] | None:
    """'random' (DeblurGAN's 0.1/0.5/1 per kernel), one fraction, or a comma list drawn from per kernel."""
    if value.lower() == "random":
        return None
    try:
        values = tuple(float(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a fraction in (0, 1], a comma list of them, or 'random'") from None
    if not all(0 < e <= 1 for e in values):
        raise click.BadParameter(f"{value!r}: exposure fractions must be in (0, 1]")
    return values[0] if len(values) == 1 else values


def _trajectory_params(iters: int, max_len: float, expl: float | None):
    try:
        return TrajectoryParams(iters=iters, max_len=max_len, expl=expl)
    except ValueError as exc:
        raise DeblurError(f"bad trajectory option: {exc}") from exc


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputExistsError(f"{out_dir}: exists and is not a folder; choose another OUT_DIR")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out_dir}: folder is not empty; pass --overwrite to write into it (files with the same names are "
            "replaced, others are kept) or choose a new OUT_DIR"
        )


def _plan(sharp_dir: Path, out_dir: Path) -> list[tuple[int, Path, Path]]:
    """(index, source, relative name) for every image under SHARP_DIR, sorted; OUT_DIR is never an input."""
    src_root, out_root = sharp_dir.resolve(), out_dir.resolve()
    if src_root == out_root:
        raise DeblurError(f"{out_dir}: OUT_DIR must differ from SHARP_DIR")
    if src_root.is_relative_to(out_root):
        raise DeblurError(f"{sharp_dir}: SHARP_DIR lies inside OUT_DIR {out_dir}; choose another OUT_DIR")
    files = [p for p in iter_images([sharp_dir]) if not p.resolve().is_relative_to(out_root)]
    if not files:
        raise ImageReadError(f"{sharp_dir}: folder holds no image outside OUT_DIR")
    rels = sorted((p.relative_to(sharp_dir), p) for p in files)
    return [(i, p, rel) for i, (rel, p) in enumerate(rels)]


def _non_images(sharp_dir: Path, out_dir: Path) -> list[str]:
    """Files under SHARP_DIR that are not images by extension: not inputs, but listed so nothing vanishes silently."""
    out_root = out_dir.resolve()
    return sorted(
        p.relative_to(sharp_dir).as_posix()
        for p in sharp_dir.rglob("*")
        if p.is_file() and not is_image_path(p) and not p.resolve().is_relative_to(out_root)
    )


def _kernel_names(rels: list[Path]) -> dict[Path, Path]:
    """kernels/<stem> per image, or kernels/<name> where two images differ only by extension."""
    stems: dict[Path, int] = {}
    for r in rels:
        stems[r.with_suffix("")] = stems.get(r.with_suffix(""), 0) + 1
    return {r: (r.with_suffix("") if stems[r.with_suffix("")] == 1 else r) for r in rels}


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@click.command("synth")
@click.argument("sharp_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed; image i's kernel and noise depend only on (seed, i).")
@click.option("--kernel-size", type=click.IntRange(1, 256), default=31, show_default=True,
              help="Side of the PSF window in pixels; longer shakes are shrunk to fit (see --fit).")
@click.option("--max-len", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Path length of the camera shake over the full exposure, in pixels (Boracchi & Foi).")
@click.option("--iters", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Time samples per trajectory.")
@click.option("--expl", type=click.FloatRange(min=0), default=None,
              help="Shake 'anxiety'; default: drawn per image as 0.1*U(0,1). DeblurGAN's own set used "
                   "0.003-0.01 (nearly straight streaks).")
@click.option("--exposure", default="random", show_default=True,
              help="Fraction (0, 1] of the trajectory the shutter sees, a comma list to draw one from per image "
                   "(e.g. 0.5,1), or 'random' for one of 0.1/0.5/1 per image (DeblurGAN).")
@click.option("--fit", type=click.Choice(["shrink", "crop"]), default="shrink", show_default=True,
              help="A shake larger than the window: shrink it about its centroid, or crop its tails.")
@click.option("--gamma", type=click.FloatRange(min=0, min_open=True), default=2.2, show_default=True,
              help="Blur in linear light (x**gamma, blur, **(1/gamma)); 1 blurs the encoded values.")
@click.option("--noise-std", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Gaussian noise std added to the blurred image, in [0, 1] units.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=95, show_default=True,
              help="Quality of blurred images written as JPEG/WebP (same extension as the sharp).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Process only the first N images (their blur is the same as in a full run).")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="An unreadable, truncated or too-small image: stop (fail) or record it and go on (skip).")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty OUT_DIR, replacing same-named files.")
def synth(sharp_dir: Path, out_dir: Path, seed: int, kernel_size: int, max_len: float, iters: int,
          expl: float | None, exposure: str, fit: str, gamma: float, noise_std: float, jpeg_quality: int,
          limit: int | None, on_error: str, overwrite: bool) -> None:
    """Blur the photos in SHARP_DIR with random camera shake into a paired set in OUT_DIR.

    Writes OUT_DIR/blur/<name> and OUT_DIR/sharp/<name> (same relative names, the sharp file copied as is),
    OUT_DIR/kernels/<name>.npy (the exact float32 PSF) and .png (scaled to its peak for viewing), and
    OUT_DIR/manifest.json (seed, parameters, per-image kernel file and drawn shake, skipped files).

    \b
    Examples:
      deblur-tf synth ../shared/data/sharp/val data/val_synth --seed 0
      deblur-tf synth photos/ out/ --kernel-size 45 --max-len 40 --noise-std 0.01 --on-error skip
    """
    from tqdm import tqdm

    exp_value = _exposure_option(exposure)
    params = _trajectory_params(iters, max_len, expl)
    plan = _plan(sharp_dir, out_dir)
    _check_out_dir(out_dir, overwrite)
    check_writable(out_dir)
    total_found = len(plan)
    ignored = _non_images(sharp_dir, out_dir)
    if limit is not None:
        plan = plan[:limit]
    kernel_names = _kernel_names([rel for _, _, rel in plan])
    manifest = new_manifest(sharp_dir, seed, {
        "kernel_size": kernel_size,
        "trajectory": params.to_dict(),
        "exposure": ("random from [0.1, 0.5, 1.0]" if exp_value is None
                     else f"random from {list(exp_value)}" if isinstance(exp_value, tuple) else exp_value),
        "fit": fit,
        "gamma": gamma,
        "noise_std": noise_std,
        "jpeg_quality": jpeg_quality,
        "limit": limit,
        "on_error": on_error,
    }, total_found, ignored)
    pair = _PairWriter(out_dir, seed, kernel_size, gamma, noise_std, jpeg_quality, overwrite, kernel_names)
    bar = tqdm(total=len(plan), desc="synth", unit="img", disable=None)
    try:
        for start in range(0, len(plan), KERNEL_CHUNK):
            chunk = plan[start : start + KERNEL_CHUNK]
            kernels, info = random_kernel_bank(
                len(chunk), kernel_size, rng=per_item_generators(seed, [i for i, _, _ in chunk]),
                params=params, exposure=exp_value, fit=fit,
            )
            for j, (index, src, rel) in enumerate(chunk):
                try:
                    manifest["images"].append(pair.write(index, src, rel, kernels[j],
                                                         {k: info[k][j] for k in DRAWN}))
                except ImageReadError as exc:
                    if on_error == "fail":
                        raise DeblurError(f"{exc} (pass --on-error skip to record it and go on)") from exc
                    manifest["skipped"].append({"name": rel.as_posix(), "path": str(src), "reason": str(exc)})
                    bar.write(f"skipped: {exc}")
                bar.update(1)
        manifest["complete"] = True
    except DeblurError as exc:
        manifest["error"] = str(exc)
        raise
    finally:
        bar.close()
        # the manifest describes the pairs written (a partial set says complete: false); a run that wrote
        # none leaves nothing, not an empty folder with a manifest that blocks the corrected re-run
        if manifest["complete"] or manifest["images"] or manifest["skipped"]:
            ensure_dir(out_dir)
            write_manifest(out_dir, manifest)
    n_ok, n_skip = len(manifest["images"]), len(manifest["skipped"])
    click.echo(f"wrote {n_ok} blur/sharp pair(s) to {out_dir}"
               + (f"; skipped {n_skip} (listed in manifest.json)" if n_skip else "")
               + (f"; ignored {len(ignored)} non-image file(s) (listed in manifest.json)" if ignored else ""))


DRAWN = ("exposure", "expl", "centripetal", "gaussian_shake", "prob_big_shake", "shrink")  # per kernel, recorded


@dataclass
class _PairWriter:
    """Writes one blur/sharp pair and its kernel files; returns its manifest entry."""

    out_dir: Path
    seed: int
    kernel_size: int
    gamma: float
    noise_std: float
    jpeg_quality: int
    overwrite: bool
    kernel_names: dict[Path, Path]

    def write(self, index: int, src: Path, rel: Path, kernel: np.ndarray, drawn: dict[str, float]) -> dict:
        """Raises ImageReadError for an unreadable image or one too small for the kernel."""
        sharp, depth = read_image(src)
        h, w = sharp.shape[:2]
        if min(h, w) <= self.kernel_size // 2:
            raise ImageReadError(
                f"{src}: {w}x{h} pixels is too small for a {self.kernel_size}x{self.kernel_size} kernel; "
                "use a smaller --kernel-size or drop the image"
            )
        blurred = blur_numpy(sharp, kernel, gamma=self.gamma, noise_std=self.noise_std,
                             seed=np.random.default_rng([self.seed, index, 1]))
        kbase = self.out_dir / "kernels" / self.kernel_names[rel]
        paths = {"blur": self.out_dir / "blur" / rel, "sharp": self.out_dir / "sharp" / rel,
                 "kernel_png": kbase.parent / (kbase.name + ".png"), "kernel_npy": kbase.parent / (kbase.name + ".npy")}
        write_image(paths["blur"], blurred, bit_depth=depth, overwrite=self.overwrite, jpeg_quality=self.jpeg_quality)
        write_bytes_atomic(paths["sharp"], src.read_bytes(), overwrite=self.overwrite)
        write_image(paths["kernel_png"], kernel_to_image(kernel), bit_depth=8, overwrite=self.overwrite)
        write_bytes_atomic(paths["kernel_npy"], _npy_bytes(kernel), overwrite=self.overwrite)
        return image_entry(self.out_dir, rel, index, paths, (h, w), depth, drawn)


SHAKE_SIZES = {"boracchi": 31, "realistic": 63}  # the window each preset is rasterised on in training


def extent_report(extents: np.ndarray, shake: str, size: int, seed: int, width: int = 40) -> str:
    """Percentiles 10/50/90/99 and a text histogram (bins of 4 px) of kernel extents, as docs/BLUR.md shows."""
    e = np.asarray(extents)
    p = np.percentile(e, [10, 50, 90, 99])
    lines = [f"kernel extent ({shake} shake, {size}x{size} window, {len(e)} kernels of seed {seed}; extent = "
             "longer side of the bounding box of the pixels >= 1% of the kernel's peak):",
             "  p10 {:.0f} px, p50 {:.0f} px, p90 {:.0f} px, p99 {:.0f} px, mean {:.1f} px, max {} px".format(
                 *p, float(e.mean()), int(e.max()))]
    edges = np.arange(0, int(e.max()) + 5, 4)
    counts, _ = np.histogram(e, bins=edges)
    top = max(1, int(counts.max()))
    for lo, c in zip(edges[:-1], counts, strict=True):
        bar = "#" * round(width * c / top)
        lines.append(f"  {lo:3d}-{lo + 3:3d} px | {bar:<{width}} {100 * c / len(e):5.1f} %")
    return "\n".join(lines)


@click.command("kernels")
@click.argument("out_png", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--n", "-n", "count", type=click.IntRange(1, 1024), default=16, show_default=True,
              help="Number of kernels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed (kernel i uses (seed, i)).")
@click.option("--shake", type=click.Choice(["boracchi", "realistic"]), default="boracchi", show_default=True,
              help="Trajectory preset (deblur_tf.blur.SHAKE_PRESETS): boracchi = the paper's defaults, "
                   "realistic = 40-120 px paths with a weak pull back (docs/BLUR.md).")
@click.option("--size", type=click.IntRange(1, 256), default=None,
              help="Kernel side, pixels (default: 31 for boracchi, 63 for realistic).")
@click.option("--max-len", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Shake path length over the full exposure, pixels (default: the preset's).")
@click.option("--expl", type=click.FloatRange(min=0), default=None, help="Shake anxiety (default random).")
@click.option("--exposure", default="random", show_default=True,
              help="Fraction (0, 1] of the trajectory each kernel keeps, a comma list to draw one from per kernel "
                   "(data.exposures of a pipeline, e.g. 0.5,1), or 'random' (0.1,0.5,1 as DeblurGAN).")
@click.option("--stats", "stats_n", type=click.IntRange(min=1), default=None,
              help="Print the kernel-extent distribution (percentiles, histogram) of this many kernels "
                   "(kernels 0..N-1 of the seed); OUT_PNG is then optional.")
@click.option("--zoom", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Pixels per kernel pixel on the sheet (nearest neighbour, so sub-pixel detail shows).")
@click.option("--cols", type=click.IntRange(min=1), default=None, help="Columns (default: a square grid).")
@click.option("--overwrite", is_flag=True, help="Replace OUT_PNG if it exists.")
def kernels(out_png: Path | None, count: int, seed: int, shake: str, size: int | None, max_len: float | None,
            expl: float | None, exposure: str, stats_n: int | None, zoom: int, cols: int | None,
            overwrite: bool) -> None:
    """Draw a sheet of COUNT random camera-shake kernels into OUT_PNG, each scaled to its own peak, and/or
    print their extent distribution (--stats N).

    With the default --shake boracchi the kernels are exactly those `synth --seed SEED` gives images 0..N-1
    with the same options; with --shake realistic --size 63, those of `evaluate --synthetic-seed SEED --shake
    realistic --kernel-size 63` (`evaluate --preset val-shake` = seed 2026).

    \b
    Examples:
      deblur-tf kernels sheet.png --n 25 --seed 3 --size 45
      deblur-tf kernels --shake realistic --stats 2000
    """
    if out_png is None and stats_n is None:
        raise DeblurError("give OUT_PNG (a kernel sheet) and/or --stats N (the extent distribution)")
    if out_png is not None and out_png.exists() and not overwrite:
        raise OutputExistsError(f"{out_png}: already exists; pass --overwrite to replace it")
    if out_png is not None:
        check_writable(out_png.parent)
    size = SHAKE_SIZES[shake] if size is None else size
    if shake == "boracchi" and max_len in (None, 60.0) and expl is None:
        params = _trajectory_params(2000, 60.0, None)  # the call the sheets were always drawn with
    else:
        try:
            params = dataclasses.replace(SHAKE_PRESETS[shake], **({"max_len": max_len} if max_len else {}),
                                         **({"expl": expl} if expl is not None else {}))
        except ValueError as exc:
            raise DeblurError(f"bad trajectory option: {exc}") from exc
    exp = _exposure_option(exposure)
    if stats_n is not None:
        ext = []
        for lo in range(0, stats_n, KERNEL_CHUNK):  # chunks: memory stays ~100 MB, kernel i still from (seed, i)
            idx = range(lo, min(stats_n, lo + KERNEL_CHUNK))
            ext.append(kernel_extent(random_kernels(len(idx), size, rng=per_item_generators(seed, idx),
                                                    params=params, exposure=exp)))
        click.echo(extent_report(np.concatenate(ext), shake, size, seed))
    if out_png is None:
        return
    bank = random_kernels(count, size, rng=per_item_generators(seed, range(count)), params=params, exposure=exp)
    cols = cols or math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    cell, gap = size * zoom, max(2, zoom)
    sheet = np.full((rows * (cell + gap) + gap, cols * (cell + gap) + gap), 0.25, np.float32)
    for i, k in enumerate(bank):
        r, c = divmod(i, cols)
        y, x = gap + r * (cell + gap), gap + c * (cell + gap)
        sheet[y : y + cell, x : x + cell] = np.kron(kernel_to_image(k), np.ones((zoom, zoom), np.float32))
    write_image(out_png, np.repeat(sheet[:, :, None], 3, axis=2), overwrite=overwrite)
    click.echo(f"wrote {count} kernels ({size}x{size}, {shake} shake, seed {seed}) to {out_png}")

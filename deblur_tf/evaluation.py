"""The evaluation library behind `deblur-tf evaluate`: PSNR / SSIM / LPIPS and speed of models and classical
baselines on a paired set (the command, `deblur_tf.cli.evaluate`, only parses options and calls these).

Two sources of pairs:

- `--pairs DIR`: `DIR/blur/<name>` and `DIR/sharp/<name>` (optionally one level of scene folders above them).
  If `DIR/kernels/<name without suffix>.npy` exists (what `deblur-tf synth` writes) the kernel-needing
  baselines (Wiener, Tikhonov, Richardson–Lucy) get that true kernel; for real pairs there is no kernel and
  those baselines are reported as n/a (they are non-blind: without a kernel they have nothing to invert).
- `--sharp DIR --synthetic-seed S`: every sharp image i (sorted by path) is blurred with the project's random
  camera-shake kernel drawn from the generator seeded with (S, i) and Gaussian noise from (S, i, 1), so the
  set is the same on every machine and independent of `--limit`. The kernels are saved (kernels.npz) and the
  baselines get the true kernel: an upper bound for a classical pipeline with perfect kernel estimation.
- `--preset NAME` (EVAL_PRESETS): a named synthetic set with every parameter fixed, so a benchmark is one short
  command. `val-shake`: the 19 validation photos, whole, each blurred with a `REALISTIC_SHAKE` kernel (63x63),
  even indices in linear light (gamma 2.2) and odd ones on the sRGB values (gamma 1.0), Gaussian noise 0.01,
  rounded to 8 bits, seed 2026. The baselines deconvolve each image with its own gamma (a filter given the
  kernel of a linear-light blur must invert it in linear light, and vice versa).

Outputs in `--out`: results.csv (one row per image and method: image, method, psnr, ssim, lpips, seconds,
megapixels), summary.json (means, s/megapixel, every parameter and the seed), summary.md (the same table),
contact_sheet.png (1:1 centre crops of the images where the first model, or else the best baseline, did
worst and best).
PSNR/SSIM are on 8-bit RGB over the whole image; LPIPS is the VGG variant (lower is better).
"""

from __future__ import annotations

import csv
import io
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from deblur_tf import __version__, classical
from deblur_tf.blur import SHAKE_PRESETS, blur_numpy, per_item_generators, random_kernels
from deblur_tf.data.common import Problems, discover_pairs, pair_scenes
from deblur_tf.errors import DeblurError, ImageReadError, OutputExistsError
from deblur_tf.inference import Deblurrer, flip_ensemble
from deblur_tf.io import iter_images, read_image, to_uint, write_bytes_atomic, write_image
from deblur_tf.metrics import LPIPS, psnr, psnr_mean_matched, ssim
from deblur_tf.synthset import kernel_path, listed_kernels, manifest_gamma
from deblur_tf.sysinfo import cpu_name
from deblur_tf.zoo import load_model

KERNEL_METHODS = ("wiener", "tikhonov", "rl")
BASELINES = ("blurred", *KERNEL_METHODS)
CSV_COLUMNS = ("image", "method", "psnr", "ssim", "lpips", "seconds", "megapixels")
MEAN_MATCHED_COLUMN = "psnr_mean_matched"  # `evaluate --mean-matched`: after CSV_COLUMNS
OUTPUT_FILES = ("results.csv", "summary.json", "summary.md", "contact_sheet.png", "kernels.npz")
THUMB_SIZE = 192


@dataclass
class Sample:
    """One evaluation pair. Pixels are read (or blurred) only when `load()` is called, so a set of a thousand
    full-HD pairs never sits in memory at once; kernels are small and known up front."""

    name: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]  # -> (sharp, blurred), float32 HxWx3 in [0, 1]
    kernel: np.ndarray | None
    # the gamma this pair was blurred with (None: on the stored values); the baselines deconvolve with it
    gamma: float | None = None


# A named set fixes everything that defines it; `sharp` is relative to the repository root like the pipelines'
# ../shared paths (deblur_tf.config.resolve_path), unless --sharp points elsewhere. `gammas` cycle over the
# images in sorted order (image i gets gammas[i % len]); `quantize_bits` rounds the blurred image as a file would.
EVAL_PRESETS: dict[str, dict] = {
    "val-shake": {"sharp": "../shared/data/sharp/val", "seed": 2026, "kernel_size": 63, "shake": "realistic",
                  "gammas": (2.2, 1.0), "noise_std": 0.01, "quantize_bits": 8},
}
# options a preset fixes: giving one of them with --preset is an error rather than a silently different set
PRESET_FIXES = ("synthetic_seed", "kernel_size", "noise_std", "gamma", "shake", "pairs_dir")


# ---------------------------------------------------------------------------------------------- finding pairs


def find_pairs(root: Path) -> list[tuple[str, Path, Path, Path | None]]:
    """(name, blurred path, sharp path, kernel path or None) for every pair, paired by the training rule
    (`deblur_tf.data.common.discover_pairs`: same name, any extension); a missing counterpart is an error."""
    if not root.is_dir():
        raise DeblurError(f"--pairs {root}: no such folder")
    scenes = pair_scenes(root)
    if not scenes:
        raise DeblurError(f"{root}: no blur/ and sharp/ folders (nor <scene>/blur, <scene>/sharp) inside; "
                          "--pairs expects a paired set such as `deblur-tf synth` writes")
    out, problems = [], Problems()
    for base in scenes:
        listed = listed_kernels(base)
        for _, blurred, sharp in discover_pairs(base, problems):
            rel = blurred.relative_to(base / "blur")
            name = str(base.relative_to(root) / rel) if base != root else str(rel)
            out.append((name, blurred, sharp, kernel_path(base, rel, listed)))
    problems.report(f"--pairs {root}", skip_bad=False, fix="give every blurred image a sharp one of the same name")
    return out


def _centre_crop(img: np.ndarray, h: int, w: int) -> np.ndarray:
    y0 = (img.shape[0] - h) // 2
    x0 = (img.shape[1] - w) // 2
    return img[y0 : y0 + h, x0 : x0 + w]


def _shrink(img: np.ndarray, max_side: int | None) -> np.ndarray:
    if not max_side or max(img.shape[:2]) <= max_side:
        return img
    s = max_side / max(img.shape[:2])
    size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _read_pair(bpath: Path, spath: Path, crop_mismatch: bool, max_side: int | None
               ) -> tuple[np.ndarray, np.ndarray]:
    blurred, _ = read_image(bpath)
    sharp, _ = read_image(spath)
    if blurred.shape != sharp.shape:
        if not crop_mismatch:
            raise ImageReadError(f"{bpath}: size {blurred.shape[1]}x{blurred.shape[0]} differs from "
                                 f"{spath} ({sharp.shape[1]}x{sharp.shape[0]}); fix the pair or pass "
                                 "--crop-mismatch to compare their common centre")
        h, w = min(blurred.shape[0], sharp.shape[0]), min(blurred.shape[1], sharp.shape[1])
        blurred, sharp = _centre_crop(blurred, h, w), _centre_crop(sharp, h, w)
    return _shrink(sharp, max_side), _shrink(blurred, max_side)


def load_pairs(root: Path, limit: int | None, crop_mismatch: bool, max_side: int | None) -> list[Sample]:
    pairs = find_pairs(root)[:limit] if limit else find_pairs(root)
    samples = []
    for name, bpath, spath, kpath in pairs:
        kernel = None
        if kpath is not None:
            if max_side:
                raise DeblurError(f"--max-side would rescale {bpath}, which invalidates its kernel {kpath}; "
                                  "drop --max-side for sets with kernels")
            try:
                kernel = np.load(kpath).astype(np.float64)
            except (OSError, ValueError, EOFError, AttributeError) as exc:  # EOFError: an empty file
                raise DeblurError(f"{kpath}: unreadable kernel ({type(exc).__name__}: {exc or 'empty file'}); "
                                  "re-create it as a 2-D .npy array, or delete it to evaluate without") from exc
            if kernel.ndim != 2:
                raise DeblurError(f"{kpath}: a kernel must be a 2-D array, got shape {kernel.shape}")
        samples.append(Sample(name, partial(_read_pair, bpath, spath, crop_mismatch, max_side), kernel))
    return samples


def _blur_one(path: Path, kernel: np.ndarray, seed: int, index: int, noise_std: float, gamma: float | None,
              max_side: int | None, quantize_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    sharp, _ = read_image(path)
    sharp = _shrink(sharp, max_side)
    noise_rng = np.random.default_rng([int(seed), int(index), 1])
    blurred = blur_numpy(sharp, kernel, gamma=gamma, noise_std=noise_std, seed=noise_rng)
    if quantize_bits:  # what a PNG/JPEG of the blurred photo holds: the models and filters see these levels
        levels = np.float32(2**quantize_bits - 1)
        blurred = np.round(blurred * levels) / levels
    return sharp, blurred.astype(np.float32)


def image_gammas(n: int, gamma: float | None, gammas: tuple[float, ...] | None) -> list[float | None]:
    """The blur gamma of each of `n` images: `gammas` cycled by index if given, else `gamma` for all.

    1.0 and 0 mean "on the stored values" and become None, the convention of blur_numpy and classical.
    """
    per = [gammas[i % len(gammas)] for i in range(n)] if gammas else [gamma] * n
    return [None if g in (None, 0, 1) else float(g) for g in per]


def synthetic_samples(root: Path, seed: int, limit: int | None, kernel_size: int, noise_std: float,
                      gamma: float | None, max_side: int | None, shake: str = "boracchi",
                      gammas: tuple[float, ...] | None = None,
                      quantize_bits: int | None = None) -> list[Sample]:
    """Blur sharp images deterministically per (seed, index) with the project's camera-shake kernels.

    Image i (sorted by path) gets the kernel from `default_rng([seed, i])` with the `shake` preset's
    trajectory parameters (deblur_tf.blur.SHAKE_PRESETS), the noise from `default_rng([seed, i, 1])` and the
    gamma `image_gammas(...)[i]`: nothing depends on the other images or on `--limit`, and the blur is the
    NumPy/OpenCV `blur_numpy`, so the set does not depend on the Keras backend either.
    """
    if not root.is_dir():
        raise DeblurError(f"--sharp {root}: no such folder")
    if shake not in SHAKE_PRESETS:
        raise DeblurError(f"--shake {shake!r}: choose one of {', '.join(SHAKE_PRESETS)}")
    paths = list(iter_images([root]))
    if limit:
        paths = paths[:limit]
    # boracchi: params=None, exactly the call that made the seed-2024 set (kept bit for bit)
    params = None if shake == "boracchi" else SHAKE_PRESETS[shake]
    kernels = random_kernels(len(paths), size=kernel_size, rng=per_item_generators(seed, range(len(paths))),
                             params=params)
    per_gamma = image_gammas(len(paths), gamma, gammas)
    return [Sample(str(path.relative_to(root)),
                   partial(_blur_one, path, kernels[i], seed, i, noise_std, per_gamma[i], max_side, quantize_bits),
                   kernels[i].astype(np.float64), per_gamma[i])
            for i, path in enumerate(paths)]


# ----------------------------------------------------------------------------------------------- evaluation


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = np.ascontiguousarray(img.copy())
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _thumb(img01: np.ndarray) -> np.ndarray:
    """A 1:1 centre crop (THUMB_SIZE square, white-padded if smaller): a downscaled whole image hides blur."""
    h, w = img01.shape[:2]
    ch, cw = min(h, THUMB_SIZE), min(w, THUMB_SIZE)
    crop = to_uint(_centre_crop(img01, ch, cw), 8)
    out = np.full((THUMB_SIZE, THUMB_SIZE, 3), 255, np.uint8)
    out[:ch, :cw] = crop
    return out


def contact_sheet(thumbs: dict[str, dict[str, np.ndarray]], rows: list[tuple[str, str]], columns: list[str],
                  scores: dict[tuple[str, str], float]) -> np.ndarray:
    """Rows of (image, why) with one labelled thumbnail per column (methods, then the sharp image)."""
    gap = 4
    lines = []
    for image, why in rows:
        tiles = []
        for col in columns:
            t = thumbs[image].get(col)
            if t is None:
                continue
            score = scores.get((image, col))
            text = col if score is None else f"{col} {score:.2f} dB"
            if col == columns[0]:
                text = f"{why}: {text}"
            tiles.append(_label(t, text))
            tiles.append(np.full((THUMB_SIZE, gap, 3), 255, np.uint8))
        lines.append(np.concatenate(tiles[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    padded = [np.pad(line, ((0, gap), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    return np.concatenate(padded, axis=0)


def synthetic_record(samples: list[Sample], seed: int, kernel_size: int, noise_std: float, shake: str,
                     gammas: tuple[float, ...] | None, quantize_bits: int | None, gamma: float | None) -> dict:
    """Everything that defines a synthetic set, for summary.json: enough to rebuild it bit for bit."""
    return {
        "seed": seed, "kernel_size": kernel_size, "noise_std": noise_std,
        "shake": shake, "trajectory": SHAKE_PRESETS[shake].to_dict(),
        "gamma_cycle": list(gammas) if gammas else None,
        "gammas": {s.name: (s.gamma or 1.0) for s in samples},
        "quantize_bits": quantize_bits,
        "whole_images": True,
        "blur": "deblur_tf.blur.blur_numpy (OpenCV, reflect-101 borders, kernel anchored at k // 2)",
        "kernel_rng": "numpy default_rng([seed, index]) -> deblur_tf.blur.random_kernels(params=trajectory)",
        "noise_rng": "numpy default_rng([seed, index, 1])",
        "gamma_rule": (f"image i (sorted) gets gamma_cycle[i % {len(gammas)}]; 1.0 = blurred on the sRGB values"
                       if gammas else f"every image: {gamma or 1.0}"),
    }


def set_description(rec: dict, preset: str | None) -> str:
    """One line saying what the synthetic set is, for summary.md."""
    g = (" / ".join(f"{v:g}" for v in rec["gamma_cycle"]) + " alternating by index") if rec["gamma_cycle"] \
        else f"{next(iter(rec['gammas'].values()), 1.0):g}"
    q = f", rounded to {rec['quantize_bits']} bits" if rec["quantize_bits"] else ""
    name = f"preset `{preset}`: " if preset else ""
    return (f"Set: {name}seed {rec['seed']}, {rec['shake']} shake kernels {rec['kernel_size']}x{rec['kernel_size']}, "
            f"gamma {g}, Gaussian noise {rec['noise_std']:g}{q}.")


def _fmt(x: float | None, digits: int) -> str:
    if x is None:
        return "n/a"
    return "inf" if np.isinf(x) else f"{x:.{digits}f}"


def summary_markdown(summary: dict) -> str:
    mm = any(MEAN_MATCHED_COLUMN in m for m in summary["methods"].values())
    rows = ["| method | images | PSNR (dB) | " + ("PSNR, mean-matched | " if mm else "")
            + "SSIM | LPIPS | s / megapixel | parameters |",
            "| --- | ---: | ---: | " + ("---: | " if mm else "") + "---: | ---: | ---: | --- |"]
    for name, m in summary["methods"].items():
        extra = f"{_fmt(m.get(MEAN_MATCHED_COLUMN), 2)} | " if mm else ""
        rows.append(f"| {name} | {m['images']} | {_fmt(m['psnr'], 2)} | {extra}{_fmt(m['ssim'], 4)} | "
                    f"{_fmt(m['lpips'], 4)} | {_fmt(m['seconds_per_megapixel'], 3)} | {m.get('params', '')} |")
    return "\n".join(rows) + "\n"


def check_outputs(out: Path, overwrite: bool, save_images: bool = False) -> None:
    if overwrite or not out.exists():
        return
    existing = [out / f for f in OUTPUT_FILES if (out / f).exists()]
    if save_images and (out / "images").exists():
        existing.append(out / "images")
    if existing:
        raise OutputExistsError(f"{existing[0]}: already exists; pass --overwrite to replace the results in "
                                f"{out}, or choose another --out")




# ----------------------------------------------------------------------------------------------- a whole run


@dataclass
class EvalSet:
    """The images of one evaluation: where they came from and the gamma their blur used."""

    mode: str  # "synthetic" (--sharp) or "pairs" (--pairs)
    samples: list[Sample]
    blur_gamma: float | None  # None: on the stored values, or per image (Sample.gamma) with gammas
    gammas: tuple[float, ...] | None = None

    @property
    def with_kernel(self) -> list[Sample]:
        return [s for s in self.samples if s.kernel is not None]


def load_eval_set(pairs_dir: Path | None, sharp_dir: Path | None, synthetic_seed: int | None, limit: int | None,
                  kernel_size: int, noise_std: float, gamma: float | None, max_side: int | None, shake: str,
                  crop_mismatch: bool, gammas: tuple[float, ...] | None = None,
                  quantize_bits: int | None = None) -> EvalSet:
    """The samples of `--sharp` (blurred here, deterministically) or of `--pairs` (read lazily)."""
    if sharp_dir is not None:
        blur_gamma = 2.2 if gamma is None else gamma
        blur_gamma = None if blur_gamma in (0, 1) else blur_gamma
        samples = synthetic_samples(sharp_dir, synthetic_seed, limit, kernel_size, noise_std, blur_gamma,
                                    max_side, shake, gammas, quantize_bits)
        out = EvalSet("synthetic", samples, None if gammas else blur_gamma, gammas)  # gammas: per image
    else:
        blur_gamma = manifest_gamma(pairs_dir) if gamma is None else gamma
        blur_gamma = None if blur_gamma in (0, 1) else blur_gamma
        samples = load_pairs(pairs_dir, limit, crop_mismatch, max_side)
        for s in samples:
            s.gamma = blur_gamma
        out = EvalSet("pairs", samples, blur_gamma)
    if not out.samples:
        raise DeblurError("no images to evaluate")
    return out


def load_models(specs: tuple[str, ...], tile: int, ensemble: int = 1
                ) -> tuple[dict[str, tuple[object, str]], dict[str, dict]]:
    """({name: (Deblurrer, description)}, {name: what was loaded}); names are made unique. With `ensemble` > 1
    every model runs as a mirrored self-ensemble (`deblur_tf.inference.flip_ensemble`) and its name says so
    (`nafnet-x4`), so a table never passes an ensemble off as the plain model.

    A name already taken (chunks of one training run carry the run's name in their config.json) becomes the
    model's folder or file name, so that a table says `naf21b` rather than `naf21#3`; `#n` only when that is
    taken too."""
    runners: dict[str, tuple[object, str]] = {}
    info = {}
    suffix = "" if ensemble == 1 else f"-x{ensemble}"
    for spec in specs:
        loaded = load_model(spec)
        name = loaded.name + suffix
        taken = set(runners) | set(BASELINES)
        if name in taken:
            path = Path(spec)
            own = (path.stem if path.is_file() else path.name) + suffix
            name = own if own not in taken else f"{loaded.name}{suffix}#{len(runners) + 1}"
        deb = Deblurrer(flip_ensemble(loaded.predict, ensemble), multiple=loaded.input_multiple, tile=tile or None)
        params_txt = f"{loaded.kind}, {loaded.params:,} params" if loaded.params else loaded.kind
        runners[name] = (deb, params_txt)
        info[name] = {"spec": spec, "kind": loaded.kind, "params": loaded.params, "source": loaded.source,
                      "ensemble": ensemble, "overlap": deb.overlap}
    return runners, info


def baseline_params(chosen: list[str], data: EvalSet, given: dict[str, float | None], tune: bool, tune_images: int,
                    echo: Callable[[str], None]) -> tuple[dict[str, float], dict[str, dict]]:
    """Each kernel baseline's parameter: given, tuned on the first `tune_images` images with kernels (`tune`),
    else the method's default. Returns (params, what tuning found)."""
    params = dict(given)
    tuned: dict[str, dict] = {}
    loaded_for_tuning = None
    with_kernel = data.with_kernel
    for m in (m for m in chosen if m in KERNEL_METHODS and tune and with_kernel):
        tune_set = with_kernel[:tune_images]
        if loaded_for_tuning is None:
            loaded_for_tuning = [s.load() for s in tune_set]
        echo(f"tuning {m} on {len(tune_set)} image(s) ...")
        res = classical.tune(m, [b for _, b in loaded_for_tuning], [sh for sh, _ in loaded_for_tuning],
                             [s.kernel for s in tune_set], gamma=[s.gamma for s in tune_set])
        params[m] = res.best
        tuned[m] = {"param": res.param_name, "best": res.best, "mean_psnr": res.best_psnr,
                    "images": [s.name for s in tune_set], "grid": res.table, "seconds": round(res.seconds, 2)}
        echo(f"tuned {m}: {res.param_name} = {res.best:.4g} (mean PSNR {res.best_psnr:.2f} dB on "
             f"{len(tune_set)} image(s), {res.seconds:.0f} s)")
    for m in KERNEL_METHODS:
        if params[m] is None:
            params[m] = classical.METHODS[m][2]
    return params, tuned


def baseline_runners(chosen: list[str], params: dict[str, float], data: EvalSet) -> dict[str, tuple[object, str]]:
    """{baseline: (its name, the description the tables show)}."""
    pnames = {"wiener": "nsr", "tikhonov": "weight", "rl": "iters"}
    runners: dict[str, tuple[object, str]] = {}
    for b in chosen:
        light = ", each image in its blur's gamma" if data.gammas else (", linear light" if data.blur_gamma else "")
        desc = "" if b == "blurred" else f"{pnames[b]}={params[b]:.3g}" + light
        runners[b] = (b, desc)
    return runners


@dataclass
class Results:
    """Per-image rows, the thumbnails of the contact sheet and each (image, method)'s PSNR."""

    rows: list[dict]
    thumbs: dict[str, dict[str, np.ndarray]]
    scores: dict[tuple[str, str], float]


def run_methods(data: EvalSet, runners: dict[str, tuple[object, str]], params: dict[str, float],
                lp: LPIPS | None, images_dir: Path | None = None, overwrite: bool = False,
                progress: Callable = lambda it, **kw: it, mean_matched: bool = False) -> Results:
    """Every method on every image: the metrics, the time, and (with `images_dir`) the restored images.
    `mean_matched` adds `metrics.psnr_mean_matched` to every row."""
    res = Results([], {}, {})
    for s in progress(data.samples, desc="evaluate", unit="img"):
        sharp, blurred = s.load()
        res.thumbs[s.name] = {"blurred": _thumb(blurred), "sharp": _thumb(sharp)}
        ref = lp.features(sharp) if lp else None
        mp = sharp.shape[0] * sharp.shape[1] / 1e6
        for name, (runner, _) in runners.items():
            if runner in KERNEL_METHODS and s.kernel is None:
                continue  # non-blind baseline without a kernel: n/a
            t0 = time.perf_counter()
            if runner == "blurred":
                out = blurred
            elif runner in KERNEL_METHODS:
                out = classical.restore(runner, blurred, s.kernel, params[runner], gamma=s.gamma)
            else:
                out = runner(blurred)
            secs = time.perf_counter() - t0 if runner != "blurred" else 0.0
            out = np.clip(out, 0.0, 1.0)
            row = {"image": s.name, "method": name, "psnr": psnr(out, sharp), "ssim": ssim(out, sharp),
                   "lpips": lp.distance_from_features(lp.features(out), ref) if lp else None,
                   "seconds": secs, "megapixels": mp}
            if mean_matched:
                row[MEAN_MATCHED_COLUMN] = psnr_mean_matched(out, sharp)
            res.rows.append(row)
            res.scores[(s.name, name)] = row["psnr"]
            res.thumbs[s.name][name] = _thumb(out)
            if images_dir is not None:
                write_image((images_dir / name / s.name).with_suffix(".png"), out, overwrite=overwrite)
    return res


def method_means(runners: dict[str, tuple[object, str]], rows: list[dict], with_lpips: bool) -> dict[str, dict]:
    """Per method: images, mean PSNR/SSIM/LPIPS, seconds per megapixel and its parameters."""
    methods: dict[str, dict] = {}
    for name, (_, desc) in runners.items():
        r = [x for x in rows if x["method"] == name]
        entry = {"images": len(r), "params": desc}
        if r:
            entry.update({
                "psnr": float(np.mean([x["psnr"] for x in r])),
                "ssim": float(np.mean([x["ssim"] for x in r])),
                "lpips": float(np.mean([x["lpips"] for x in r])) if with_lpips else None,
                "seconds_per_megapixel": None if name == "blurred" and runners[name][0] == "blurred" else
                float(sum(x["seconds"] for x in r) / sum(x["megapixels"] for x in r)),
            })
            if MEAN_MATCHED_COLUMN in r[0]:
                entry[MEAN_MATCHED_COLUMN] = float(np.mean([x[MEAN_MATCHED_COLUMN] for x in r]))
        else:
            entry.update({"psnr": None, "ssim": None, "lpips": None, "seconds_per_megapixel": None,
                          "params": "n/a: no blur kernel for these pairs (non-blind method)"})
        methods[name] = entry
    return methods


def machine_record() -> dict:
    """The machine a summary was measured on (speeds depend on it)."""
    import keras  # the backend name only: deferred so that reading sets needs no Keras

    return {"cpu": cpu_name(), "platform": platform.platform(), "keras_backend": keras.backend.backend(),
            "deblur_tf": __version__}


def n_a_note(methods: dict[str, dict]) -> str:
    if any(v["images"] == 0 for v in methods.values()):
        return "\nn/a: Wiener, Tikhonov and Richardson–Lucy are non-blind and need the true blur kernel, " \
               "which real pairs do not have.\n"
    return ""


def write_results(out_dir: Path, summary: dict, data: EvalSet, res: Results, overwrite: bool) -> None:
    """results.csv, summary.json, summary.md and (synthetic sets) kernels.npz, each written atomically."""
    buf = io.StringIO()
    columns = CSV_COLUMNS + ((MEAN_MATCHED_COLUMN,) if res.rows and MEAN_MATCHED_COLUMN in res.rows[0] else ())
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in res.rows:
        writer.writerow({k: ("" if r[k] is None else (f"{r[k]:.6g}" if isinstance(r[k], float) else r[k]))
                         for k in columns})
    write_bytes_atomic(out_dir / "results.csv", buf.getvalue().encode(), overwrite=overwrite)
    write_bytes_atomic(out_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode(),
                       overwrite=overwrite)
    header = (f"# deblur-tf evaluate: {summary['source']} ({data.mode}, {len(data.samples)} images)\n\n"
              f"{summary['date']}, {summary['machine']['cpu']}, Keras backend {summary['machine']['keras_backend']}\n\n")
    if data.mode == "synthetic":
        header += set_description(summary["synthetic"], summary["preset"]) + "\n\n"
    write_bytes_atomic(out_dir / "summary.md", (header + summary_markdown(summary) + n_a_note(summary["methods"])
                                                ).encode(), overwrite=overwrite)
    if data.mode == "synthetic":
        kbuf = io.BytesIO()
        np.savez_compressed(kbuf, names=np.array([s.name for s in data.samples]),
                            **{f"k{i:04d}": s.kernel.astype(np.float32) for i, s in enumerate(data.samples)})
        write_bytes_atomic(out_dir / "kernels.npz", kbuf.getvalue(), overwrite=overwrite)


def write_contact_sheet(path: Path, runners: dict[str, tuple[object, str]], model_names: dict[str, dict],
                        methods: dict[str, dict], res: Results, overwrite: bool) -> str:
    """The worst and best images of the first model (else the best baseline that ran), side by side; returns
    the method it ranked by."""
    ranked = [n for n in runners if n in model_names] or sorted(
        (n for n in runners if methods[n]["images"] and n != "blurred"),
        key=lambda n: -methods[n]["psnr"]) or list(runners)
    primary = ranked[0]
    order = sorted((x for x in res.rows if x["method"] == primary), key=lambda x: x["psnr"])
    k = max(1, min(3, len(order) // 2))
    pick = [(x["image"], "worst") for x in order[:k]] + [(x["image"], "best") for x in order[::-1][:k]]
    seen: set[str] = set()
    pick = [p for p in pick if not (p[0] in seen or seen.add(p[0]))]
    columns = ["blurred"] + [n for n in runners if n != "blurred"] + ["sharp"]
    sheet = contact_sheet(res.thumbs, pick, columns, res.scores)
    write_image(path, sheet.astype(np.float32) / 255.0, overwrite=overwrite)
    return primary

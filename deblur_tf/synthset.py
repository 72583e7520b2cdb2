"""The `manifest.json` of a synthetic paired set: the one place that writes it (`deblur-tf synth`) and reads it
(`deblur-tf evaluate --pairs`).

A set made by `synth` is `blur/<name>`, `sharp/<name>`, `kernels/<stem>.npy` (+ `.png`) and this manifest, which
records the seed, every parameter and, per image, the kernel file and what was drawn, so evaluation can give
the non-blind baselines the true kernel and the gamma of the blur, and anyone can regenerate or audit the set.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from deblur_tf import __version__
from deblur_tf.io import write_bytes_atomic

MANIFEST_NAME = "manifest.json"
CONVENTION = ("blur = deblur_tf.blur.blur_numpy(sharp, kernel, gamma=gamma, noise_std=noise_std): "
              "convolution anchored at pixel (k//2, k//2), reflect-101 borders, kernel sums to 1")


def new_manifest(source: Path, seed: int, params: dict[str, Any], images_found: int,
                 ignored_non_images: list[str]) -> dict[str, Any]:
    """The manifest of a set being written: `complete` False and no images until `synth` adds them."""
    return {
        "tool": "deblur-tf synth",
        "version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source": str(source.resolve()),
        "seed": seed,
        "randomness": "image i (its index in the sorted list of SHARP_DIR) uses numpy default_rng([seed, i]) "
                      "for its kernel and default_rng([seed, i, 1]) for its noise",
        "params": params,
        "convention": CONVENTION,
        "images_found": images_found,
        "ignored_non_images": ignored_non_images,
        "complete": False,
        "images": [],
        "skipped": [],
    }


def image_entry(out_dir: Path, rel: Path, index: int, paths: dict[str, Path], size: tuple[int, int], depth: int,
                drawn: dict[str, float]) -> dict[str, Any]:
    """One written pair: its files (relative to the set), size, bit depth and what its kernel drew."""
    entry: dict[str, Any] = {"name": rel.as_posix(), "index": index}
    entry.update({key: paths[key].relative_to(out_dir).as_posix() for key in ("blur", "sharp", "kernel_npy",
                                                                              "kernel_png")})
    entry.update({"width": size[1], "height": size[0], "bit_depth": depth})
    entry.update({k: float(v) for k, v in drawn.items()})
    return entry


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    write_bytes_atomic(out_dir / MANIFEST_NAME, (json.dumps(manifest, indent=1) + "\n").encode(), overwrite=True)


def read_manifest(base: Path) -> dict[str, Any]:
    """The manifest of the set in `base`, or {} when there is none or it cannot be read (real pairs have none)."""
    path = base / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        m = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return m if isinstance(m, dict) else {}


def listed_kernels(base: Path) -> dict[str, str]:
    """{image name: its kernel .npy, relative to the set} as the manifest lists them."""
    return {e["name"]: e["kernel_npy"] for e in read_manifest(base).get("images", [])
            if isinstance(e, dict) and "name" in e and "kernel_npy" in e}


def kernel_path(base: Path, rel: Path, listed: dict[str, str]) -> Path | None:
    """The true kernel of a pair: from the manifest, else kernels/<stem>.npy or kernels/<name>.npy."""
    name = listed.get(rel.as_posix())
    candidates = ([base / name] if name else []) + [
        (base / "kernels" / rel).with_suffix(".npy"), base / "kernels" / (rel.as_posix() + ".npy")]
    return next((c for c in candidates if c.is_file()), None)


def manifest_gamma(root: Path) -> float | None:
    """The gamma a set was blurred with, if its manifest says so."""
    m = read_manifest(root)
    for d in (m, m.get("params", {}), m.get("blur", {})):
        if isinstance(d, dict) and isinstance(d.get("gamma"), int | float):
            return float(d["gamma"])
    return None

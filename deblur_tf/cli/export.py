"""`deblur-tf export`: the deployable artifacts of a model, each verified against Keras (deblur_tf/export.py)."""

from __future__ import annotations

import re

import click

from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.io import check_writable
from deblur_tf.zoo import load_model

FORMAT_CHOICES = ("keras", "savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8")


def _parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    if "all" in formats:
        return list(FORMAT_CHOICES)
    bad = [f for f in formats if f not in FORMAT_CHOICES]
    if bad or not formats:
        raise DeblurError(f"--formats: unknown {', '.join(bad) or '(empty)'}; choose from "
                          f"{', '.join(FORMAT_CHOICES)} (comma-separated) or 'all'")
    return formats


@click.command("export")
@click.option("--model", "model_name", default=None,
              help="Shipped model name (`deblur-tf models`) or a path: .keras, .weights.h5 with generator.json, "
                   "or a training run folder. Default: the shipped default model.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the artifacts and report.json (default with --android: the --android folder).")
@click.option("--formats", default=None,
              help="Comma-separated artifacts to write, or 'all'. Default: all; with --android, only the "
                   "--android-format file.")
@click.option("--android", "android_dir", default=None, type=click.Path(file_okay=False),
              help="Also put the verified --android-format file and deblur_contract.json (tile, overlap, size "
                   "multiple, I/O) here for the Android app, e.g. export/android/app/src/main/assets.")
@click.option("--android-format", default="tflite-fp16", show_default=True,
              type=click.Choice(["tflite-fp16", "tflite-int8", "tflite-fp32", "tflite-int8-dynamic"]),
              help="Which TFLite file the Android app gets (its tile is the first --input-size).")
@click.option("--android-overlap", default=32, show_default=True, type=click.IntRange(0),
              help="Pixels shared by neighbouring tiles in the app (written to the contract JSON).")
@click.option("--input-size", "input_sizes", multiple=True, default=("256x256",), show_default=True,
              help="HEIGHTxWIDTH (multiples of 4) of the fixed-size TFLite files and of the verification crops; "
                   "repeat for several, e.g. --input-size 256x256 --input-size 720x1280.")
@click.option("--name", default=None,
              help="Model name: TF Serving folder and file names. Default: the model's name (e.g. deblurgan-mobile).")
@click.option("--version", "version", default=1, show_default=True, type=int, help="TF Serving version folder.")
@click.option("--calibration-dir", type=click.Path(exists=True),
              help="Images for int8 calibration: a paired blur/+sharp/ folder or sharp photos (blurred here). "
                   "Default: the shared training photos if present, else the --eval-dir images.")
@click.option("--calibration-count", default=16, show_default=True, type=click.IntRange(1),
              help="Calibration crops per input size.")
@click.option("--eval-dir", type=click.Path(exists=True),
              help="Held-out images to verify on: a paired blur/+sharp/ folder or sharp photos (blurred with "
                   "--seed). Default: the shared validation photos if present, else procedural pictures.")
@click.option("--eval-count", default=3, show_default=True, type=click.IntRange(1),
              help="Verification crops per input size.")
@click.option("--int8-threshold", default=30.0, show_default=True, type=float,
              help="Minimum PSNR (dB) of int8 artifacts against the Keras output.")
@click.option("--float-threshold", default=50.0, show_default=True, type=float,
              help="Minimum PSNR (dB) of float artifacts (keras, savedmodel, fp32, fp16) against Keras.")
@click.option("--latency-runs", default=5, show_default=True, type=click.IntRange(1),
              help="Warm runs per latency median.")
@click.option("--threads", default=None, type=click.IntRange(1),
              help="LiteRT threads for verification and latency (default: all cores).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of crops and synthetic blur.")
@click.option("--overwrite", is_flag=True, help="Replace existing artifacts in --out.")
def export(model_name, out_dir, formats, android_dir, android_format, android_overlap, input_sizes, name, version,
           calibration_dir, calibration_count, eval_dir, eval_count, int8_threshold, float_threshold, latency_runs,
           threads, seed, overwrite) -> None:
    """Export a model as .keras, a TF Serving SavedModel and fixed-size TFLite files, verified against Keras.

    Each artifact is reloaded from disk, run on held-out blurred crops and compared with the Keras output;
    PSNR vs Keras and vs ground truth, file size and median latency go to OUT/report.json and a printed
    table. Exits non-zero if a float artifact is under --float-threshold dB or an int8 one under
    --int8-threshold dB. Needs KERAS_BACKEND=tensorflow (the default) except for --formats keras.

    \b
    Example:
      deblur-tf export --model deblurgan --out dist --input-size 256x256 --input-size 720x1280
      deblur-tf export --android export/android/app/src/main/assets      # default model, fp16, 256x256 tiles
    """
    from deblur_tf.export import export_all, parse_size, write_android_assets  # TensorFlow: only when run

    if out_dir is None and android_dir is None:
        raise DeblurError("--out: required (or --android FOLDER, which then holds everything)")
    out_dir = out_dir or android_dir
    fmts = _parse_formats(formats or (android_format if android_dir else ",".join(FORMAT_CHOICES)))
    if android_dir and android_format not in fmts:
        fmts.append(android_format)
    check_writable(out_dir, "--out folder")
    sizes = [parse_size(s) for s in input_sizes]
    if android_dir and 2 * android_overlap >= min(sizes[0]):  # fail before minutes of conversion, not after
        raise DeblurError(f"--android-overlap {android_overlap}: must be less than half the app's tile "
                          f"(the first --input-size, {sizes[0][0]}x{sizes[0][1]})")
    loaded = load_model(model_name)
    if loaded.keras_model is None:
        raise DeblurError(f"--model {model_name}: export needs the Keras model (a shipped name, .keras, "
                          ".weights.h5 or run folder), not an already exported {loaded.kind} artifact")
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "_", loaded.name)
    if android_dir:
        _clear_android_dir(android_dir, name, sizes[0], android_format, out_dir, overwrite)
    report = export_all(loaded.keras_model, out_dir, formats=fmts, input_sizes=sizes, name=name, version=version,
               calibration_dir=calibration_dir, calibration_count=calibration_count, eval_dir=eval_dir,
               eval_count=eval_count, float_threshold=float_threshold, int8_threshold=int8_threshold,
               latency_runs=latency_runs, threads=threads, seed=seed, overwrite=overwrite, log=click.echo)
    if android_dir:
        path = write_android_assets(loaded.keras_model, report, out_dir, android_dir, fmt=android_format,
                                    overlap=android_overlap, overwrite=overwrite)
        click.echo(f"android: {path} and its model file (build export/android in Android Studio)")


def _clear_android_dir(android_dir, name: str, size: tuple[int, int], fmt: str, out_dir, overwrite: bool) -> None:
    """Refuse to replace the app's files without --overwrite, before minutes of conversion rather than after;
    with it, remove the old contract first, so a failed export leaves the app no contract for another file."""
    from pathlib import Path

    from deblur_tf.export import ANDROID_CONTRACT_NAME, tflite_filename

    contract = Path(android_dir) / ANDROID_CONTRACT_NAME
    copied = Path(android_dir) / tflite_filename(name, size, fmt)
    same = Path(out_dir).resolve() == Path(android_dir).resolve()  # then export_all checks the model file
    existing = [p for p in [contract, *([] if same else [copied])] if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(map(str, existing))}: already exist(s); pass --overwrite to replace")
    if overwrite and contract.exists():
        contract.unlink()

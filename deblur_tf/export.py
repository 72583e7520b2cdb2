"""Deployable artifacts of a trained generator, each verified against the Keras model it came from.

What users ship is not the Keras model but a SavedModel behind TF Serving, a `.tflite` file on a phone, or a
`.keras` file they fine-tune. Each conversion can silently change the numbers (a padding mode the converter
rewrites, fp16 weights, int8 activations calibrated on the wrong images), so `export_all` writes every
artifact, reloads it *from disk* with the runtime a user would use (Keras, `tf.saved_model.load`, the LiteRT
interpreter), runs it on held-out blurred images, and refuses (`ExportVerificationError`) when it disagrees
with Keras by more than a stated threshold. The measurements go to `DIR/report.json` and a printed table.

Layout written under `out_dir` (docs/DEPLOY.md):

    <name>.keras                                  architecture + weights, loads under TensorFlow and JAX
    <name>/<version>/saved_model.pb, variables/   TF Serving layout; signatures `serving_default`, `deblur_bytes`
    <name>_<H>x<W>_<variant>.tflite               fixed-size LiteRT files: fp32, fp16, int8_dynamic, int8
    report.json                                   the verification report

TensorFlow only: the SavedModel and TFLite paths need the TensorFlow backend (`.keras` alone works under any).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deblur_tf import __version__
from deblur_tf.blur.ops import blur_numpy
from deblur_tf.blur.psf import random_kernels
from deblur_tf.config import DataConfig
from deblur_tf.data.common import Problems, discover_pairs, is_paired_set
from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.io import ensure_dir, iter_images, read_image, write_bytes_atomic
from deblur_tf.metrics import psnr
from deblur_tf.portable import custom_layers, model_multiple, standard_layers_model
from deblur_tf.tflite import INPUT_NAME, OUTPUT_NAME, SIGNATURE, TFLiteRunner, litert_version
from deblur_tf.zoo import LoadedModel

FORMATS = ("keras", "savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8")
TFLITE_VARIANTS = {  # format -> file-name suffix
    "tflite-fp32": "fp32",
    "tflite-fp16": "fp16",
    "tflite-int8-dynamic": "int8_dynamic",
    "tflite-int8": "int8",
}
INT8_FORMATS = ("tflite-int8-dynamic", "tflite-int8")
FLOAT_THRESHOLD_DB = 50.0
INT8_THRESHOLD_DB = 30.0
SIZE_MULTIPLE = 4  # the generators downsample twice by 2
SERVING_INPUT = "images"
SERVING_OUTPUT = "restored"
BYTES_INPUT = "image_bytes"
BYTES_OUTPUT = "png_bytes"  # TF Serving's REST API base64-encodes outputs whose name ends in "_bytes"
BYTES_SIGNATURE = "deblur_bytes"


class ExportVerificationError(DeblurError):
    """An artifact was written but computes something else than the Keras model (see report.json)."""


# --------------------------------------------------------------------------------------------- sizes


def parse_size(text: str) -> tuple[int, int]:
    """'256x256' or '720x1280' (height x width) -> (H, W); both positive multiples of 4."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not m:
        raise DeblurError(f"--input-size {text!r}: expected HEIGHTxWIDTH, e.g. 256x256 or 720x1280")
    h, w = int(m.group(1)), int(m.group(2))
    if h <= 0 or w <= 0 or h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise DeblurError(
            f"--input-size {text!r}: height and width must be positive multiples of {SIZE_MULTIPLE} "
            f"(the generator downsamples twice); e.g. {max(4, h // 4 * 4)}x{max(4, w // 4 * 4)}"
        )
    return h, w


def size_tag(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def tflite_filename(name: str, size: tuple[int, int], fmt: str) -> str:
    return f"{name}_{size_tag(size)}_{TFLITE_VARIANTS[fmt]}.tflite"


# ------------------------------------------------------------------------------- held-out image sets


@dataclass
class ImageSet:
    """Blurred inputs (and sharp ground truth) at one size, all float32 RGB (H, W, 3) in [0, 1]."""

    blurred: list[np.ndarray]
    sharp: list[np.ndarray] | None
    source: str
    seed: int
    names: list[str] = field(default_factory=list)


def default_shared_dir() -> Path | None:
    """../shared beside a source checkout (or $DEBLUR_SHARED); users without it get synthetic fallbacks."""
    env = os.environ.get("DEBLUR_SHARED")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[1].parent / "shared")
    for c in candidates:
        if (c / "data").is_dir():
            return c
    return None


def _find_pairs(root: Path) -> list[tuple[Path, Path]]:
    """(blurred, sharp) files of a paired set by the training rule (`discover_pairs`); [] for other folders."""
    if not is_paired_set(root):
        return []
    problems = Problems()
    pairs = discover_pairs(root, problems)
    problems.report(str(root), skip_bad=False, fix="give every blurred image a sharp one of the same name")
    return [(b, s) for _, b, s in pairs]


def _cover_crop(img: np.ndarray, size: tuple[int, int], rng: np.random.Generator | None) -> np.ndarray:
    """Scale up (never down) until `size` fits, then crop it: centred, or at a random place given `rng`."""
    h, w = size
    ih, iw = img.shape[:2]
    scale = max(h / ih, w / iw, 1.0)
    if scale > 1.0:
        img = cv2.resize(img, (max(w, round(iw * scale)), max(h, round(ih * scale))), interpolation=cv2.INTER_CUBIC)
        img = np.clip(img, 0.0, 1.0)
    ih, iw = img.shape[:2]
    if rng is None:
        y, x = (ih - h) // 2, (iw - w) // 2
    else:
        y, x = int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))
    return np.ascontiguousarray(img[y : y + h, x : x + w])


def _synthetic_blur(sharp: list[np.ndarray], rng: np.random.Generator) -> tuple[list[np.ndarray], str]:
    """Blur sharp crops with the project's camera model (`blur_numpy`: camera-shake kernels of the training
    size, gamma-aware, reflect-101 borders), so export checks the model on the blur it was trained for."""
    data = DataConfig()
    kernels = random_kernels(len(sharp), size=data.kernel_size, rng=rng)
    blurred = [blur_numpy(s, k, gamma=data.gamma) for s, k in zip(sharp, kernels, strict=True)]
    return blurred, (f"random camera-shake kernels (deblur_tf.blur, {data.kernel_size}x{data.kernel_size}, "
                     f"gamma {data.gamma})")


def _procedural_scene(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A sharp test picture with edges, text-like strokes and smooth shading, for users with no images at hand."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([(xx / w) * rng.uniform(0.2, 0.8), (yy / h) * rng.uniform(0.2, 0.8),
                    np.full_like(xx, rng.uniform(0.1, 0.6))], axis=-1)
    img = np.ascontiguousarray(img)
    for _ in range(12):
        color = tuple(float(c) for c in rng.uniform(0, 1, 3))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, p1, p2, color, -1)
        elif kind == 1:
            cv2.circle(img, p1, int(rng.integers(3, max(4, min(h, w) // 4))), color, -1, cv2.LINE_AA)
        else:
            cv2.line(img, p1, p2, color, int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(3):
        org = (int(rng.integers(0, max(1, w - 40))), int(rng.integers(12, max(13, h))))
        cv2.putText(img, "deblur", org, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (1.0, 1.0, 1.0), 1, cv2.LINE_AA)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def make_image_set(
    source: str | os.PathLike | None, size: tuple[int, int], count: int, seed: int = 0, random_crop: bool = False
) -> ImageSet:
    """`count` blurred/sharp crops of `size` from a paired folder, a folder of sharp images or (None) thin air.

    A paired folder (`blur/` + `sharp/`) is used as is; plain images are taken as sharp and blurred with
    seeded camera-shake kernels; with no folder, procedural pictures are drawn. Deterministic in `seed`.
    """
    rng = np.random.default_rng(seed)
    crop_rng = rng if random_crop else None
    if source is None:
        sharp = [_procedural_scene(size, rng) for _ in range(count)]
        blurred, how = _synthetic_blur(sharp, rng)
        return ImageSet(blurred, sharp, f"procedural pictures, {how}", seed, [f"procedural{i}" for i in range(count)])
    root = Path(source)
    if not root.exists():
        raise DeblurError(f"{root}: no such folder; pass an existing --eval-dir/--calibration-dir")
    pairs = _find_pairs(root)
    if pairs:
        idx = rng.permutation(len(pairs))[:count] if random_crop else np.arange(min(count, len(pairs)))
        blurred, sharp, names = [], [], []
        for i in idx:
            b, s = (read_image(p)[0] for p in pairs[i])
            if b.shape != s.shape:
                raise DeblurError(f"{pairs[i][0]}: size {b.shape[:2]} differs from its sharp image {s.shape[:2]}")
            both = _cover_crop(np.concatenate([b, s], axis=2), size, crop_rng)
            blurred.append(both[..., :3])
            sharp.append(both[..., 3:])
            names.append(str(pairs[i][0].relative_to(root)))
        return ImageSet(blurred, sharp, f"{root} (real pairs)", seed, names)
    files = list(iter_images([root]))
    chosen = [files[i] for i in (rng.permutation(len(files))[:count] if random_crop else range(min(count, len(files))))]
    sharp = [_cover_crop(read_image(p)[0], size, crop_rng) for p in chosen]
    blurred, how = _synthetic_blur(sharp, rng)
    return ImageSet(blurred, sharp, f"{root} (sharp images, {how})", seed, [p.name for p in chosen])


# ---------------------------------------------------------------------------------------- artifacts


def _require_tensorflow_backend(what: str) -> None:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise DeblurError(
            f"{what} export needs the TensorFlow backend (KERAS_BACKEND is {keras.backend.backend()!r}); "
            "run with KERAS_BACKEND=tensorflow (a .keras file saved under either backend loads under both)"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(path: Path) -> Path:
    """Give an artifact the permissions a normal write would (temp files are 0600, temp dirs 0700).

    A TF Serving container or a web server often reads the files as another user.
    """
    mask = _umask()
    if path.is_dir():
        for p in [path, *path.rglob("*")]:
            p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)
    else:
        path.chmod(0o666 & ~mask)
    return path


def export_keras(model, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """`model.save` to a `.keras` file through a temporary name, so a failed save leaves no half file.

    The file holds standard Keras layers only (`deblur_tf.portable`): it loads with `keras.saving.load_model`
    in a process that never imports deblur_tf, under either backend, and computes the same pixels.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise DeblurError(f"{path}: a Keras model file must end in .keras")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; pass --overwrite to replace it")
    ensure_dir(path.parent)
    if custom_layers(model):
        model = standard_layers_model(model, model_multiple(model))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".keras", dir=path.parent)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
        _publish(path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def build_serving_archive(model):
    """A Keras `ExportArchive` holding the two TF Serving signatures of `model` (TensorFlow backend).

    `serving_default(images)`: float32 NHWC RGB in [0, 1], any batch/height/width. The graph mirror-pads H and
    W up to the generator's multiple (4 for ResNet, 8 for mobile), runs the generator on [-1, 1], crops back and
    returns `{"restored": [0, 1]}`, so clients never need to know the model's conventions.

    `deblur_bytes(image_bytes)`: a [N] string tensor of encoded JPEG/PNG/BMP/GIF files (TF Serving's REST API
    accepts them as `{"b64": ...}`); each image is decoded (8- or 16-bit), restored at its own size and
    returned as 8-bit PNG bytes in `{"png_bytes": ...}` (base64 in REST responses because of the suffix).
    """
    import keras
    import tensorflow as tf

    _require_tensorflow_backend("SavedModel")

    multiple = model_multiple(model)

    def restore01(images):
        shape = tf.shape(images)
        h, w = shape[1], shape[2]
        ph, pw = (-h) % multiple, (-w) % multiple
        x = tf.pad(images, [[0, 0], [0, ph], [0, pw], [0, 0]], mode="REFLECT")
        y = model(x * 2.0 - 1.0, training=False)
        y = tf.clip_by_value((y + 1.0) * 0.5, 0.0, 1.0)
        return y[:, :h, :w, :]

    def serving_default(images):
        return {SERVING_OUTPUT: restore01(tf.cast(images, tf.float32))}

    def deblur_bytes(image_bytes):
        def one(data):
            img = tf.io.decode_image(data, channels=3, dtype=tf.float32, expand_animations=False)
            img = tf.ensure_shape(img, [None, None, 3])
            out = restore01(img[None])[0]
            return tf.io.encode_png(tf.cast(tf.round(out * 255.0), tf.uint8))

        return {BYTES_OUTPUT: tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))}

    # no archive.track(model): the endpoints track the variables they use, and tracking the model as well
    # stores every weight twice (a SavedModel of twice the size)
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default", serving_default,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name=SERVING_INPUT)],
    )
    archive.add_endpoint(
        BYTES_SIGNATURE, deblur_bytes, input_signature=[tf.TensorSpec([None], tf.string, name=BYTES_INPUT)]
    )
    return archive


def savedmodel_dir(out_dir: str | os.PathLike, name: str, version: int) -> Path:
    return Path(out_dir) / name / str(int(version))


def export_savedmodel(model, out_dir: str | os.PathLike, name: str = "deblurgan", version: int = 1,
                      overwrite: bool = False) -> Path:
    """Write the serving SavedModel to `out_dir/<name>/<version>/` (TF Serving's model-base-path layout)."""
    target = savedmodel_dir(out_dir, name, version)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target}: already exists; pass --overwrite or a new --version")
    ensure_dir(target.parent)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        build_serving_archive(model).write_out(str(tmp), verbose=False)
        _publish(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _representative(images: Sequence[np.ndarray]) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    """Calibration samples for full-integer int8.

    One pixel of each sample is set to 0 and one to 1 so that the calibrated input range is exactly
    [0, 1]: the uint8 input then has scale 1/255 and zero point 0, i.e. raw 8-bit pixels are the input.
    """

    def gen():
        for img in images:
            x = np.array(img, np.float32, copy=True)[None]
            x[0, 0, 0, :] = 0.0
            x[0, 0, 1, :] = 1.0
            yield {"image": x}

    return gen


def convert_tflite(model, fmt: str, size: tuple[int, int], calibration: Sequence[np.ndarray] | None = None) -> bytes:
    """The flatbuffer of `model` as a fixed-size LiteRT model; I/O contract in `deblur_tf.tflite`.

    Goes through a temporary SavedModel (`ExportArchive` + `TFLiteConverter.from_saved_model`): the route
    that freezes Keras 3 variables into constants and converts `GroupNormalization(groups=-1)` correctly.
    """
    import keras
    import tensorflow as tf

    _require_tensorflow_backend("TFLite")
    if fmt not in TFLITE_VARIANTS:
        raise DeblurError(f"unknown TFLite format {fmt!r}: choose one of {', '.join(TFLITE_VARIANTS)}")
    h, w = size

    def serve(image):
        y = model(image * 2.0 - 1.0, training=False)
        return {"restored": tf.clip_by_value((y + 1.0) * 0.5, 0.0, 1.0)}

    with tempfile.TemporaryDirectory(prefix="deblur-tflite-") as tmp:
        archive = keras.export.ExportArchive()  # not .track(model): see build_serving_archive
        archive.add_endpoint("serving_default", serve,
                             input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name="image")])
        archive.write_out(tmp, verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if fmt != "tflite-fp32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if fmt == "tflite-fp16":
            conv.target_spec.supported_types = [tf.float16]
        elif fmt == "tflite-int8":
            if not calibration:
                raise DeblurError("tflite-int8 needs calibration images (--calibration-dir)")
            conv.representative_dataset = _representative(calibration)
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            conv.inference_input_type = tf.uint8
            conv.inference_output_type = tf.uint8
        try:
            with warnings.catch_warnings():  # int8 calibration uses TF's own (deprecated) interpreter internally
                warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated.*")
                return conv.convert()
        except Exception as exc:  # noqa: BLE001 - the converter raises many types; the user needs the reason
            raise DeblurError(f"TFLite conversion ({fmt}, {size_tag(size)}) failed: {exc}") from exc


# ------------------------------------------------------------------------------------------ loading


def find_savedmodel(path: str | os.PathLike) -> Path:
    """A SavedModel dir, or a TF Serving base dir (`<name>/` holding versions: the highest is taken)."""
    p = Path(path)
    if not p.exists():
        raise DeblurError(f"{p}: no such SavedModel folder")
    if (p / "saved_model.pb").is_file():
        return p
    versions = sorted((int(d.name), d) for d in p.iterdir() if d.is_dir() and d.name.isdigit()) if p.is_dir() else []
    versions = [(v, d) for v, d in versions if (d / "saved_model.pb").is_file()]
    if versions:
        return versions[-1][1]
    raise DeblurError(
        f"{p}: not a SavedModel (no saved_model.pb, and no numbered version folder holding one); "
        "pass the folder written by `deblur-tf export` (e.g. out/deblurgan/1)"
    )


def load_savedmodel(path: str | os.PathLike) -> Callable[[np.ndarray], np.ndarray]:
    """The zoo loader for SavedModel dirs: `predict(batch)` NHWC [-1, 1] -> [-1, 1], via `serving_default`."""
    import tensorflow as tf

    sm_dir = find_savedmodel(path)
    try:
        loaded = tf.saved_model.load(str(sm_dir))
    except Exception as exc:  # noqa: BLE001
        raise DeblurError(f"{sm_dir}: TensorFlow cannot load this SavedModel ({exc}); re-export it") from exc
    if "serving_default" not in loaded.signatures:
        raise DeblurError(f"{sm_dir}: no serving_default signature; re-export it with `deblur-tf export`")
    fn = loaded.signatures["serving_default"]
    in_keys = list(fn.structured_input_signature[1])
    if in_keys != [SERVING_INPUT]:
        raise DeblurError(f"{sm_dir}: serving_default takes {in_keys}, expected ['{SERVING_INPUT}']; "
                          "this SavedModel was not written by `deblur-tf export`")

    def predict(batch: np.ndarray) -> np.ndarray:
        x = (np.asarray(batch, np.float32) + 1.0) * 0.5
        y = fn(**{SERVING_INPUT: tf.constant(x)})[SERVING_OUTPUT].numpy()
        return y * 2.0 - 1.0

    predict.loaded = loaded  # type: ignore[attr-defined] - keeps the resource alive
    predict.path = sm_dir  # type: ignore[attr-defined]
    return predict


def zoo_loader(path: Path):
    """`deblur_tf.zoo.LOADERS["saved_model"]`: a SavedModel folder as a `LoadedModel`."""
    predict = load_savedmodel(path)
    sm = predict.path  # type: ignore[attr-defined]
    name = sm.parent.name if sm.name.isdigit() else sm.name
    return LoadedModel(name=name, predict=predict, input_multiple=1, kind="saved_model", source=str(sm),
                       info={"signature": "serving_default", "pads_inside": True})


# ------------------------------------------------------------------------------------- verification


def psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of float images in [0, 1] (peak 1), without 8-bit rounding: agreement is finer than one level."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0.0 else 10.0 * np.log10(1.0 / mse)


def _psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    return float(psnr(a, b))


def median_latency_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of `runs` calls after one warm-up call (first calls pay for allocation/tracing)."""
    fn()
    times = []
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return float(np.median(times))


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def machine_description() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def _jsonable(value):
    if isinstance(value, float) and not np.isfinite(value):
        return "inf" if value > 0 else "-inf" if value < 0 else "nan"
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _fmt_db(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str) or not np.isfinite(v):
        return "identical" if (v == "inf" or v == float("inf")) else str(v)
    return f"{v:.2f}"


def format_report_table(report: dict) -> str:
    """The report as a Markdown table (the format docs/DEPLOY.md quotes)."""
    head = ("| format | input size | I/O | file size | PSNR vs Keras (dB) | PSNR vs GT (dB) | latency (ms, median) "
            "| runtime | pass |")
    rows = [head, "| " + " | ".join(["---"] * 9) + " |"]
    for r in report["artifacts"]:
        size_mb = f"{r['size_bytes'] / 1e6:.2f} MB"
        lat = f"{r['latency_ms']:.1f}" if r.get("latency_ms") is not None else "-"
        rows.append(
            f"| {r['format']} | {r['input_size']} | {r['io']} | {size_mb} | {_fmt_db(r['psnr_vs_keras_db'])} "
            f"| {_fmt_db(r.get('psnr_vs_gt_db'))} | {lat} | {r['runtime']} | "
            f"{'yes' if r['passed'] else 'NO (< ' + str(r['threshold_db']) + ' dB)'} |"
        )
    base = report.get("input_vs_gt_db", {})
    notes = [f"blurred input vs GT: {size}: {_fmt_db(v)} dB" for size, v in base.items()]
    notes += gain_warnings(report)
    return "\n".join(rows + ([""] + notes if notes else []))


# An artifact may agree with Keras within its threshold and still lose most of what the model adds over its
# input: full-integer int8 of the cycle-22 `nafnet` agreed to 38.7 dB but came out 0.02 dB below the blurred input
# on the check's crops where Keras gained 0.28 dB (docs/DEPLOY.md). Agreement is the pass rule; this is a warning.
GAIN_KEPT_WARN = 0.5
_REFERENCE_FORMATS = ("keras", "savedmodel")  # float, the Keras graph itself: the gain the model has


def gain_kept(report: dict) -> dict[tuple[str, str], float]:
    """(format, input size) -> the share of the Keras model's PSNR gain over the blurred input that the artifact
    keeps on the check's images (1 = all of it, 0 = none, < 0 = worse than the input). Only where a Keras or
    SavedModel row of the same size gives the reference, the input's PSNR is known and the model gains at all."""
    base = report.get("input_vs_gt_db", {})
    refs: dict[str, float] = {}
    for fmt in _REFERENCE_FORMATS:
        for r in report.get("artifacts", []):
            if r["format"] == fmt and isinstance(r.get("psnr_vs_gt_db"), int | float):
                refs.setdefault(r["input_size"], float(r["psnr_vs_gt_db"]))
    kept = {}
    for r in report.get("artifacts", []):
        size, gt = r["input_size"], r.get("psnr_vs_gt_db")
        if r["format"] in _REFERENCE_FORMATS or size not in refs or size not in base or not isinstance(gt, int | float):
            continue
        gain = refs[size] - float(base[size])
        if gain > 0.05:  # below this the share is noise over a few images
            kept[(r["format"], size)] = (float(gt) - float(base[size])) / gain
    return kept


def gain_warnings(report: dict) -> list[str]:
    """One line per artifact that keeps under GAIN_KEPT_WARN of the model's gain, with what to do about it."""
    base = report.get("input_vs_gt_db", {})
    count = report.get("eval_count", "the")
    lines = []
    for (fmt, size), share in gain_kept(report).items():
        if share >= GAIN_KEPT_WARN:
            continue
        gt = next(r["psnr_vs_gt_db"] for r in report["artifacts"] if r["format"] == fmt and r["input_size"] == size)
        lines.append(
            f"warning: {fmt} {size} keeps {share:.0%} of the Keras model's gain over the blurred input "
            f"({gt:.2f} dB against the input's {float(base[size]):.2f} dB on {count} check images): it agrees with "
            "Keras within its threshold but deblurs less; ship fp16 or int8-dynamic, or calibrate int8 on images "
            "like yours (--calibration-dir) and check again")
    return lines


@dataclass
class _Row:
    fmt: str
    path: Path
    input_size: str
    io: str
    runtime: str
    threshold_db: float
    psnr_vs_keras_db: float
    psnr_vs_gt_db: float | None
    latency_ms: float | None
    size_bytes: int

    @property
    def passed(self) -> bool:
        return self.psnr_vs_keras_db >= self.threshold_db

    def as_dict(self, out_dir: Path) -> dict:
        try:
            rel = str(self.path.relative_to(out_dir))
        except ValueError:
            rel = str(self.path)
        return {
            "format": self.fmt, "path": rel, "input_size": self.input_size, "io": self.io,
            "runtime": self.runtime, "size_bytes": self.size_bytes, "psnr_vs_keras_db": self.psnr_vs_keras_db,
            "psnr_vs_gt_db": self.psnr_vs_gt_db, "latency_ms": self.latency_ms,
            "threshold_db": self.threshold_db, "passed": self.passed,
        }


def _planned_paths(out: Path, name: str, version: int, formats: Sequence[str], sizes) -> list[Path]:
    paths = [out / "report.json"]
    if "keras" in formats:
        paths.append(out / f"{name}.keras")
    if "savedmodel" in formats:
        paths.append(savedmodel_dir(out, name, version))
    for fmt in formats:
        if fmt in TFLITE_VARIANTS:
            paths += [out / tflite_filename(name, s, fmt) for s in sizes]
    return paths


def export_all(
    model,
    out_dir: str | os.PathLike,
    formats: Sequence[str] = FORMATS,
    input_sizes: Sequence[tuple[int, int]] = ((256, 256),),
    name: str = "deblurgan",
    version: int = 1,
    calibration_dir: str | os.PathLike | None = None,
    calibration_count: int = 16,
    eval_dir: str | os.PathLike | None = None,
    eval_count: int = 3,
    float_threshold: float = FLOAT_THRESHOLD_DB,
    int8_threshold: float = INT8_THRESHOLD_DB,
    latency_runs: int = 5,
    threads: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Write the chosen artifacts of generator `model` to `out_dir`, verify each, write `report.json`.

    Every artifact is reloaded from disk and run on `eval_count` held-out blurred crops per input size
    (`eval_dir`: a paired `blur/`+`sharp/` folder, or sharp images blurred here with `seed`; default: the
    shared validation photos when present, else procedural pictures). The report holds, per artifact and
    size: PSNR vs the Keras output (float, peak 1, worst image), PSNR vs ground truth (8-bit, mean), file size and median latency
    over `latency_runs` warm runs (TensorFlow: its default thread pools; LiteRT: `threads`, default all
    cores, XNNPACK). Raises `ExportVerificationError` after writing the report if a float artifact is below
    `float_threshold` dB or an int8 one below `int8_threshold` dB. Returns the report.
    """
    from tqdm import tqdm

    say = log or (lambda _msg: None)
    formats = list(dict.fromkeys(formats))
    sizes = [tuple(int(v) for v in s) for s in dict.fromkeys(tuple(s) for s in input_sizes)]
    out = Path(out_dir)
    multiple = _check_export(model, out, formats, sizes, name, version, overwrite)
    ensure_dir(out, "--out folder")
    threads = int(threads or os.cpu_count() or 1)

    shared = default_shared_dir()
    if eval_dir is None and shared is not None and (shared / "data/sharp/val").is_dir():
        eval_dir = shared / "data/sharp/val"
    check = _Verifier({s: make_image_set(eval_dir, s, eval_count, seed=seed) for s in sizes}, latency_runs)
    check.refs = {s: [_keras01(model, b) for b in check.eval_sets[s].blurred] for s in sizes}  # once per size
    say(f"verification images: {eval_count} per size from {check.eval_sets[sizes[0]].source} (seed {seed})")

    steps = [f for f in formats if f in ("keras", "savedmodel")] + [
        (f, s) for f in formats if f in TFLITE_VARIANTS for s in sizes
    ]
    bar = tqdm(steps, desc="export", unit="artifact", disable=log is None)
    calibration: dict[tuple[int, int], list[np.ndarray]] = {}
    for step in bar:
        bar.set_postfix_str(step if isinstance(step, str) else f"{step[0]} {size_tag(step[1])}")
        if step == "keras":
            _export_and_check_keras(model, out / f"{name}.keras", sizes, check, float_threshold, overwrite)
        elif step == "savedmodel":
            _export_and_check_savedmodel(model, out, name, version, sizes, check, float_threshold, overwrite)
        else:
            fmt, s = step
            if fmt == "tflite-int8" and s not in calibration:
                calib = make_image_set(_calibration_source(calibration_dir, shared, eval_dir), s,
                                       calibration_count, seed=seed + 1, random_crop=True)
                calibration[s] = calib.blurred
                say(f"int8 calibration {size_tag(s)}: {len(calib.blurred)} crops from {calib.source}")
            path = out / tflite_filename(name, s, fmt)
            threshold = int8_threshold if fmt in INT8_FORMATS else float_threshold
            _export_and_check_tflite(model, path, fmt, s, calibration.get(s), check, threshold, threads, overwrite)

    report = _report(model, name, version, multiple, seed, check, sizes, eval_count,
                     calibration_count if calibration else 0, latency_runs, float_threshold, int8_threshold, out)
    _publish(write_bytes_atomic(out / "report.json", json.dumps(_jsonable(report), indent=2).encode(),
                                overwrite=True))
    say(format_report_table(report))
    _raise_if_failed(check.rows, out / "report.json")
    return report


def _raise_if_failed(rows: list[_Row], report_path: Path) -> None:
    failed = [r for r in rows if not r.passed]
    if failed:
        raise ExportVerificationError(
            "artifacts disagree with the Keras model: "
            + "; ".join(f"{r.fmt} {r.input_size}: {r.psnr_vs_keras_db:.2f} dB < {r.threshold_db} dB" for r in failed)
            + f" (details in {report_path}); for int8, calibrate on images like yours (--calibration-dir) "
            "or lower --int8-threshold knowingly"
        )


def _check_export(model, out: Path, formats: list[str], sizes: list[tuple[int, int]], name: str, version: int,
                  overwrite: bool) -> int:
    """Every argument error of `export_all` before anything is written; returns the model's input multiple."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise DeblurError(f"--formats: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(FORMATS)}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise DeblurError(f"--name {name!r}: use letters, digits, '_', '-', '.' (it names folders and files)")
    if int(version) < 1:
        raise DeblurError(f"--version {version}: TF Serving versions are positive integers")
    multiple = model_multiple(model)
    for s in sizes:
        parse_size(size_tag(s))
        if s[0] % multiple or s[1] % multiple:
            raise DeblurError(f"--input-size {size_tag(s)}: this model needs H and W divisible by {multiple}")
    if any(f != "keras" for f in formats):
        _require_tensorflow_backend(", ".join(f for f in formats if f != "keras"))
    if out.exists() and not out.is_dir():
        raise DeblurError(f"--out {out}: is a file; pass a folder")
    existing = [p for p in _planned_paths(out, name, version, formats, sizes) if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{', '.join(str(p) for p in existing)}: already exist(s); pass --overwrite to replace, or another --out"
        )
    return multiple


def _keras01(m, img01: np.ndarray) -> np.ndarray:
    """A Keras generator on one [0, 1] image, [0, 1] out (the reference every artifact is held to)."""
    return np.clip((np.asarray(m.predict_on_batch(img01[None] * 2.0 - 1.0))[0] + 1.0) * 0.5, 0.0, 1.0)


@dataclass
class _Verifier:
    """The verification images per size, the Keras outputs on them, and the report rows written so far."""

    eval_sets: dict[tuple[int, int], ImageSet]
    latency_runs: int
    refs: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)
    rows: list[_Row] = field(default_factory=list)

    def add(self, fmt: str, path: Path, s: tuple[int, int], io: str, runtime: str, threshold: float,
            outputs: list[np.ndarray], run_once: Callable[[], object]) -> None:
        """One row: agreement with Keras (the worst image: one bad image must fail the threshold), PSNR vs the
        ground truth, median latency of `run_once`, file size."""
        gts = self.eval_sets[s].sharp
        gt = float(np.mean([_psnr_8bit(o, g) for o, g in zip(outputs, gts, strict=True)])) if gts else None
        agreement = float(min(psnr_float(o, r) for o, r in zip(outputs, self.refs[s], strict=True)))
        self.rows.append(_Row(fmt, path, size_tag(s), io, runtime, threshold, agreement, gt,
                              median_latency_ms(run_once, self.latency_runs), _size_of(path)))


def _tf_runtime() -> str:
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return f"TensorFlow {tf.__version__} ({os.cpu_count()} cores)"
    # keras-only export under JAX (checked before): TensorFlow may not even be installed
    return f"{keras.backend.backend()} backend ({os.cpu_count()} cores)"


def _export_and_check_keras(model, path: Path, sizes, check: _Verifier, threshold: float, overwrite: bool) -> None:
    import keras

    path = export_keras(model, path, overwrite=overwrite)  # standard layers only
    reloaded = keras.saving.load_model(path)
    for s in sizes:
        outs = [_keras01(reloaded, b) for b in check.eval_sets[s].blurred]
        x = check.eval_sets[s].blurred[0][None] * 2.0 - 1.0
        check.add("keras", path, s, "float32 [-1, 1]", f"Keras {keras.__version__}, " + _tf_runtime(), threshold,
                  outs, lambda x=x, m=reloaded: m.predict_on_batch(x))


def _export_and_check_savedmodel(model, out: Path, name: str, version: int, sizes, check: _Verifier,
                                 threshold: float, overwrite: bool) -> None:
    path = export_savedmodel(model, out, name, version, overwrite=overwrite)
    predict = load_savedmodel(path)
    for s in sizes:
        outs = [(predict(b[None] * 2.0 - 1.0)[0] + 1.0) * 0.5 for b in check.eval_sets[s].blurred]
        x = check.eval_sets[s].blurred[0][None] * 2.0 - 1.0
        check.add("savedmodel", path, s, "float32 [0, 1], any size", _tf_runtime(), threshold, outs,
                  lambda x=x, f=predict: f(x))


def _export_and_check_tflite(model, path: Path, fmt: str, s: tuple[int, int], calibration, check: _Verifier,
                             threshold: float, threads: int, overwrite: bool) -> None:
    flat = convert_tflite(model, fmt, s, calibration)
    path = _publish(write_bytes_atomic(path, flat, overwrite=overwrite))
    runner = TFLiteRunner(path, num_threads=threads)
    outs = [runner.run_exact(b) for b in check.eval_sets[s].blurred]
    b0 = check.eval_sets[s].blurred[0]
    check.add(fmt, path, s, runner.io_description, f"{litert_version()}, XNNPACK, {threads} threads", threshold,
              outs, lambda b0=b0, r=runner: r.run_exact(b0))


def _report(model, name: str, version: int, multiple: int, seed: int, check: _Verifier, sizes, eval_count: int,
            calibration_count: int, latency_runs: int, float_threshold: float, int8_threshold: float,
            out: Path) -> dict:
    """report.json: what was exported, how it was checked, and one row per artifact and size."""
    import keras

    sets = check.eval_sets
    report = {
        "model": name,
        "model_params": int(model.count_params()),
        "size_multiple": multiple,
        "version": int(version),
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_description(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "seed": seed,
        "eval_source": sets[sizes[0]].source,
        "eval_count": eval_count,
        "eval_images": sets[sizes[0]].names,
        "calibration_count": calibration_count,
        "latency_runs": latency_runs,
        "thresholds_db": {"float": float_threshold, "int8": int8_threshold},
        "psnr_note": "vs Keras: float PSNR, peak 1, worst image; vs GT: 8-bit RGB PSNR (deblur_tf.metrics), mean",
        "input_vs_gt_db": {size_tag(s): float(np.mean([_psnr_8bit(b, g) for b, g in zip(
            sets[s].blurred, sets[s].sharp, strict=True)])) for s in sizes if sets[s].sharp},
        "artifacts": [r.as_dict(out) for r in check.rows],
    }
    shares = gain_kept(report)
    for row in report["artifacts"]:
        share = shares.get((row["format"], row["input_size"]))
        row["gain_kept"] = None if share is None else round(share, 4)
    return report


def _calibration_source(calibration_dir, shared: Path | None, eval_dir):
    """--calibration-dir; else the shared training photos; else the eval images; else procedural pictures."""
    if calibration_dir is not None:
        return calibration_dir
    if shared is not None and (shared / "data/sharp/train").is_dir():
        return shared / "data/sharp/train"
    return eval_dir


# ------------------------------------------------------------------------------------- CPU runtime cache
def tflite_cache_dir() -> Path:
    """Where `deblur-tf deblur --runtime tflite` keeps converted models: $DEBLUR_TF_CACHE/tflite, else
    ~/.cache/deblur_tf/tflite."""
    root = os.environ.get("DEBLUR_TF_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "deblur_tf")
    return Path(root) / "tflite"


def cached_tflite(model, size: tuple[int, int], echo: Callable[[str], None] | None = None) -> Path:
    """A float32 fixed-size TFLite file of `model`, converted once and reused.

    XNNPACK runs the mobile generator ~1.8x faster than Keras-on-TensorFlow on a CPU (docs/BENCHMARKS.md),
    but conversion costs seconds, so the file is cached under a key of everything the flatbuffer depends on:
    the weights, the architecture, the input size and the TensorFlow/Keras versions.
    """
    import hashlib

    import keras

    _require_tensorflow_backend("TFLite")  # before importing TensorFlow, which a JAX machine may not have
    import tensorflow as tf

    h = hashlib.sha256()
    h.update(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for w in model.get_weights():
        arr = np.ascontiguousarray(w)
        h.update(str((arr.shape, arr.dtype.str)).encode())
        h.update(arr.tobytes())
    h.update(f"{size}|{tf.__version__}|{keras.__version__}".encode())
    path = tflite_cache_dir() / f"{model.name}_{size[0]}x{size[1]}_fp32_{h.hexdigest()[:16]}.tflite"
    if path.is_file():
        return path
    if echo is not None:
        echo(f"converting the model to TFLite for {size[0]}x{size[1]} tiles (once; cached in {path.parent})")
    write_bytes_atomic(path, convert_tflite(model, "tflite-fp32", size), overwrite=True)
    return path


# ------------------------------------------------------------------------------ Android app contract
ANDROID_CONTRACT_NAME = "deblur_contract.json"
ANDROID_CONTRACT_VERSION = 1
ANDROID_FORMATS = ("tflite-fp16", "tflite-int8", "tflite-fp32", "tflite-int8-dynamic")


def android_contract(model, tflite_path: str | os.PathLike, fmt: str, overlap: int = 32,
                     verification: dict | None = None, name: str | None = None) -> dict:
    """What the Android app (export/android) must know to run `tflite_path`, read from the file and the model.

    Why a file and not constants in the app: the tile size, the value range, the quantisation and the size
    multiple (nafnet: 16, mobile: 8) change with the model; the app reads this JSON beside the model, so an
    app built once runs any exported model correctly, and nothing is written twice. The shapes, dtypes and
    quantisation come from the .tflite itself (LiteRT reads them back), the multiple from the Keras model
    (`model_multiple`), so the JSON cannot disagree with what it describes. The tiling it describes is
    `deblur_tf.inference.Deblurrer` with `fixed_tile=True` (export/android/README.md spells it out).
    """
    import hashlib

    path = Path(tflite_path)
    runner = TFLiteRunner(path, num_threads=1)
    th, tw = runner.input_size
    multiple = model_multiple(model)
    if th % multiple or tw % multiple:
        raise DeblurError(f"{path}: input {th}x{tw} is not a multiple of the model's {multiple}")
    if overlap < 0 or 2 * overlap >= min(th, tw):
        raise DeblurError(f"--android-overlap {overlap}: must be >= 0 and less than half the tile ({th}x{tw})")

    def quant(details: dict) -> dict | None:
        if np.dtype(details["dtype"]) == np.float32:
            return None
        scale, zero = details["quantization"]
        return {"scale": float(scale), "zero_point": int(zero)}

    return {
        "contract_version": ANDROID_CONTRACT_VERSION,
        "model": name or model.name,
        "model_file": path.name,
        "model_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "format": fmt,
        "signature": SIGNATURE,
        "input_name": INPUT_NAME,
        "output_name": OUTPUT_NAME,
        "layout": "NHWC",
        "channels": "RGB",
        "input_shape": [1, th, tw, 3],
        "input_dtype": np.dtype(runner._in["dtype"]).name,
        "input_range": [0.0, 1.0],
        "input_quantization": quant(runner._in),
        "output_dtype": np.dtype(runner._out["dtype"]).name,
        "output_quantization": quant(runner._out),
        "output_clip": [0.0, 1.0],
        "size_multiple": multiple,
        "tile": {"height": th, "width": tw, "overlap": int(overlap), "dead_margin": int(overlap) // 4,
                 "pad": "reflect", "origins_on_multiple": True},
        "verification": verification or {},
        "written_by": _written_by(),
    }


def _written_by() -> str:
    return f"deblur-tf {__version__} export --android"


def write_android_assets(model, report: dict, out_dir: str | os.PathLike, assets_dir: str | os.PathLike,
                         fmt: str = "tflite-fp16", overlap: int = 32, overwrite: bool = False) -> Path:
    """Put the verified `fmt` file of `report` (from `export_all`) and its contract JSON into `assets_dir`.

    The file is the one `export_all` just checked against Keras (copied when `assets_dir` is another folder),
    and the check's figures go into the JSON, so what the app ships is what was verified.
    """
    if fmt not in ANDROID_FORMATS:
        raise DeblurError(f"--android-format {fmt}: choose from {', '.join(ANDROID_FORMATS)}")
    rows = [a for a in report["artifacts"] if a["format"] == fmt]
    if not rows:
        raise DeblurError(f"--android needs the {fmt} artifact; add it to --formats")
    row = rows[0]  # the first --input-size is the app's tile
    src = Path(row["path"]) if Path(row["path"]).is_absolute() else Path(out_dir) / row["path"]
    assets = ensure_dir(Path(assets_dir), "--android folder")
    dst = Path(assets) / src.name
    if dst.resolve() != src.resolve():
        if dst.exists() and not overwrite:
            raise OutputExistsError(f"{dst}: already exists; pass --overwrite to replace it")
        _publish(write_bytes_atomic(dst, src.read_bytes(), overwrite=True))
    verification = {k: row[k] for k in ("psnr_vs_keras_db", "threshold_db", "passed", "latency_ms", "runtime")}
    contract = android_contract(model, dst, fmt, overlap=overlap, verification=verification,
                                name=report.get("model"))
    path = Path(assets) / ANDROID_CONTRACT_NAME
    _publish(write_bytes_atomic(path, (json.dumps(_jsonable(contract), indent=2) + "\n").encode(), overwrite=True))
    return path

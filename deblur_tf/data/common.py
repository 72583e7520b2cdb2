"""Backend-free pieces shared by the tf.data and the numpy/PyDataset paths: file discovery, validation,
decoding and caching, augmentation parameters and seeds.

Why one shared core instead of two pipelines: the GPU machine has JAX but no TensorFlow, and a fixed
evaluation set must be the same pixels whichever backend reads it. So files are decoded once with OpenCV
(the project's reader: it also catches truncated JPEG/PNG files that decoders pad silently and
reads TIFF, which tf.io cannot), and every random decision (shuffle order, crop offsets, flips, rotations,
kernels, noise) is drawn with numpy from a generator keyed on ``(seed, purpose, epoch, step)``. A batch is
then a pure function of those keys, which makes the two paths agree bit for bit, lets any number of
PyDataset workers build batches in any order, and keeps an epoch's data reproducible after a restart.

Nothing here imports TensorFlow or a Keras backend.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from deblur_tf.errors import DeblurError, ImageReadError
from deblur_tf.io import IMAGE_EXTENSIONS, _check_container, decode_native

log = logging.getLogger("deblur_tf.data")

#: Decoded images are kept in memory when their total size is below this (bytes). 4 GiB holds GoPro's
#: 2103 training pairs at 1280x720 (2 x 5.8 GB) only after `load_size`, and the shared 280-photo set easily.
#: Override with the DEBLUR_DATA_CACHE_BYTES environment variable.
DEFAULT_CACHE_BYTES = int(os.environ.get("DEBLUR_DATA_CACHE_BYTES", 4 << 30))

#: How many offending files an error message lists before it says "... and N more".
MAX_LISTED = 20

# Purposes keyed into the seed, so that e.g. changing the flip policy never changes the shuffle order.
_SHUFFLE, _CROP, _KERNEL, _NOISE, _MIX, _BANK, _NOISE_FIELD, _SHARP, _SCALE = range(9)


class DatasetError(DeblurError):
    """A training/evaluation set that cannot be used as given (missing counterpart, bad file, too small)."""


# ----------------------------------------------------------------------------------------------- seeds


def rng_for(seed: int, *keys: int) -> np.random.Generator:
    """A generator that depends only on (seed, keys): batches can be built in any order, by any worker."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, *(int(k) for k in keys)])


# --------------------------------------------------------------------------------------- file problems


@dataclass
class Problems:
    """Offending files found while validating; reported all at once so the user fixes them in one pass."""

    items: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def add(self, path: str | os.PathLike, reason: str) -> None:
        self.items.append((str(path), reason))

    def __bool__(self) -> bool:
        return bool(self.items)

    def report(self, what: str, skip_bad: bool, fix: str) -> None:
        """Raise one DatasetError naming the first MAX_LISTED files, or log each one when skipping."""
        if not self.items:
            return
        if skip_bad:
            for path, reason in self.items:
                log.warning("skipping %s: %s", path, reason)
            return
        lines = [f"  {path}: {reason}" for path, reason in self.items[:MAX_LISTED]]
        more = len(self.items) - MAX_LISTED
        if more > 0:
            lines.append(f"  ... and {more} more")
        raise DatasetError(
            f"{what}: {len(self.items)} problem(s) found:\n" + "\n".join(lines) + f"\n{fix}, or leave these "
            "files out (each is logged): `--set data.skip_bad=true` for `deblur-tf train` (data.skip_bad = true "
            "in a pipeline), skip_bad=True in Python."
        )


# -------------------------------------------------------------------------------------------- discovery


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _by_stem(folder: Path, files: list[Path], problems: Problems) -> dict[str, Path]:
    """Key files by their path relative to `folder` without extension; `a.png` + `a.jpg` is ambiguous."""
    out: dict[str, Path] = {}
    dupes: dict[str, list[Path]] = {}
    for f in files:
        key = f.relative_to(folder).with_suffix("").as_posix()
        if key in out:
            dupes.setdefault(key, [out[key]]).append(f)
        else:
            out[key] = f
    for key, paths in dupes.items():
        for p in paths:
            problems.add(p, f"duplicate name {key!r} ({', '.join(q.name for q in paths)}); keep one")
        del out[key]
    return out


def is_paired_set(root: str | os.PathLike) -> bool:
    """Whether `root` is laid out as a paired set (blur/ or sharp/ inside it, or inside its scene folders)."""
    root = Path(root)
    return root.is_dir() and bool(pair_scenes(root))


def pair_scenes(root: Path) -> list[Path]:
    """The folders of a paired set that hold blur/ and sharp/: `root` itself, or its scene folders (GoPro)."""
    if (root / "blur").is_dir() or (root / "sharp").is_dir():
        return [root]
    return sorted(d for d in root.iterdir() if d.is_dir() and ((d / "blur").is_dir() or (d / "sharp").is_dir()))


def discover_pairs(root: str | os.PathLike, problems: Problems) -> list[tuple[str, Path, Path]]:
    """Find `<root>/[<scene>/]blur/X` <-> `sharp/X` pairs as (key, blur_path, sharp_path), sorted by key.

    The project's one pairing rule (training, `evaluate --pairs`, export's test images): files pair by
    relative name without extension, so `blur/a.png` pairs with `sharp/a.jpg`. Missing counterparts and
    duplicate names go to `problems`; a root that holds no pair at all raises at once.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; expected a paired set with blur/ and sharp/ inside")
    scenes = pair_scenes(root)
    if not scenes:
        raise DatasetError(
            f"{root}: no blur/ and sharp/ folders found (expected {root}/blur/X and {root}/sharp/X, "
            f"or {root}/<scene>/blur/X as in GoPro)"
        )
    pairs: list[tuple[str, Path, Path]] = []
    for scene in scenes:
        prefix = "" if scene == root else scene.name + "/"
        sides = {}
        for side in ("blur", "sharp"):
            folder = scene / side
            if not folder.is_dir():
                problems.add(folder, f"missing folder: {scene} has no {side}/ beside its "
                             f"{'sharp' if side == 'blur' else 'blur'}/")
                sides[side] = {}
                continue
            sides[side] = _by_stem(folder, _image_files(folder), problems)
        blur, sharp = sides["blur"], sides["sharp"]
        for key in sorted(set(blur) | set(sharp)):
            if key not in sharp:
                problems.add(blur[key], f"no sharp counterpart (expected {scene / 'sharp' / key}.*)")
            elif key not in blur:
                problems.add(sharp[key], f"no blurred counterpart (expected {scene / 'blur' / key}.*)")
            else:
                pairs.append((prefix + key, blur[key], sharp[key]))
    if not pairs and not problems:
        raise DatasetError(f"{root}: the blur/ and sharp/ folders hold no image ({', '.join(IMAGE_EXTENSIONS)})")
    return pairs


def discover_images(folder: str | os.PathLike) -> list[Path]:
    """All images under `folder` (recursive), sorted; an empty or missing folder raises at once."""
    folder = Path(folder)
    if folder.is_file():
        if folder.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DatasetError(f"{folder}: not an image file ({', '.join(IMAGE_EXTENSIONS)})")
        return [folder]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder; expected a folder of sharp photos")
    files = _image_files(folder)
    if not files:
        raise DatasetError(f"{folder}: folder holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    return files


# --------------------------------------------------------------------------------------------- decoding


def read_header(path: Path) -> tuple[int, int] | None:
    """(height, width) from a PNG or JPEG header without decoding, or None when the format needs a decode.

    Why: sizes must be checked at construction (blur/sharp mismatch, smaller than the crop) also for sets
    too large to decode up front; parsing a header is microseconds, a decode is tens of milliseconds.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
            if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
                w, h = struct.unpack(">II", head[16:24])
                return int(h), int(w)
            if head[:2] == b"\xff\xd8":
                fh.seek(2)
                while True:
                    marker = fh.read(2)
                    if len(marker) < 2 or marker[0] != 0xFF:
                        return None
                    code = marker[1]
                    if code == 0xFF:  # fill byte
                        fh.seek(-1, 1)
                        continue
                    if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
                        continue
                    seg = fh.read(2)
                    if len(seg) < 2:
                        return None
                    (length,) = struct.unpack(">H", seg)
                    if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
                        sof = fh.read(5)
                        if len(sof) < 5:
                            return None
                        _, h, w = struct.unpack(">BHH", sof)
                        return int(h), int(w)
                    fh.seek(length - 2, 1)
    except OSError:
        return None
    return None


def check_file(path: Path) -> None:
    """Cheap checks without a decode: exists, readable, not empty, JPEG/PNG not truncated."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise ImageReadError(f"{path}: empty file")
        with open(path, "rb") as fh:
            if size <= 1024:
                data = fh.read()
            else:
                head = fh.read(8)
                fh.seek(size - 256)
                data = head + fh.read()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from exc
    _check_container(path, data)


def decode(path: Path) -> np.ndarray:
    """Decode to RGB (H, W, 3) in the file's own type (uint8, uint16 or float32); raises ImageReadError.

    Kept in the native type so that a cache of 8-bit photos costs 1 byte per value, not 4; `to_signed`
    scales by the type at crop time, which is what maps a 16-bit PNG onto the same [-1, 1] as its 8-bit twin.
    """
    return decode_native(path)


def load_shape(hw: tuple[int, int], load_size: int | tuple[int, int] | None) -> tuple[int, int]:
    """Image (height, width) after the optional resize-before-crop."""
    h, w = hw
    if load_size is None:
        return h, w
    if isinstance(load_size, int | np.integer):
        scale = load_size / min(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))
    lw, lh = load_size
    return int(lh), int(lw)


def resize_for_load(img: np.ndarray, load_size: int | tuple[int, int] | None) -> np.ndarray:
    """The paper's resize-before-crop (DeblurGAN trains on GoPro frames resized to 640x360, then crops 256).

    An int scales the shorter side to it (aspect kept); a (width, height) pair resizes to exactly that.
    INTER_AREA when shrinking, so the resize does not alias motion-blur streaks.
    """
    if load_size is None:
        return img
    h, w = load_shape(img.shape[:2], load_size)
    if (h, w) == img.shape[:2]:
        return img
    interp = cv2.INTER_AREA if h * w < img.shape[0] * img.shape[1] else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=interp))


def to_signed(img: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Native-type pixels -> float32 in [-1, 1] (the models' convention), written into `out` if given.

    x * (2 / max) - 1 in float32 on every path, so the tf.data and numpy paths give identical values.
    """
    if out is None:
        out = np.empty(img.shape, np.float32)
    if img.dtype == np.uint8:
        np.multiply(img, np.float32(2.0 / 255.0), out=out, dtype=np.float32)
    elif img.dtype == np.uint16:
        np.multiply(img, np.float32(2.0 / 65535.0), out=out, dtype=np.float32)
    else:
        np.clip(img, 0.0, 1.0, out=out)
        out *= np.float32(2.0)
    out -= np.float32(1.0)
    return out


class ImageStore:
    """A list of image files with their (post-`load_size`) sizes, decoded on demand or all at once.

    `cache=True` decodes every file once at construction (2 threads; OpenCV releases the GIL) when the
    estimated decoded size is below `cache_bytes`, which is also the validation pass for unreadable files.
    Otherwise the constructor checks headers and file ends only, and a file that fails to decode later
    raises an ImageReadError naming it.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        load_size: int | tuple[int, int] | None,
        cache: bool,
        problems: Problems,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        progress: str | None = None,
    ) -> None:
        self.load_size = load_size
        self.paths: list[Path] = list(paths)
        self.shapes: list[tuple[int, int] | None] = [None] * len(self.paths)
        self.images: list[np.ndarray | None] | None = None
        self.bad: set[int] = set()
        headers: list[tuple[int, int] | None] = []
        for i, p in enumerate(self.paths):
            try:
                check_file(p)
            except ImageReadError as exc:
                problems.add(p, str(exc).removeprefix(f"{p}: "))
                self.bad.add(i)
                headers.append(None)
                continue
            headers.append(read_header(p))
        known = [h for h in headers if h is not None]
        est = 3 * sum(h * w for h, w in (load_shape(hw, load_size) for hw in known))
        if known:
            est = est * len(self.paths) // len(known)
        self.cached = bool(cache) and est <= cache_bytes
        if cache and not self.cached:
            log.warning("%d images need ~%.1f GB decoded, above the %.1f GB cache limit: decoding per batch "
                        "(set DEBLUR_DATA_CACHE_BYTES to raise it)", len(self.paths), est / 1e9, cache_bytes / 1e9)
        todo = [i for i in range(len(self.paths)) if i not in self.bad and (self.cached or headers[i] is None)]
        decoded: dict[int, np.ndarray] = {}
        if todo:
            iterator = _decode_many([self.paths[i] for i in todo], load_size, progress)
            for i, result in zip(todo, iterator, strict=True):
                if isinstance(result, ImageReadError):
                    problems.add(self.paths[i], str(result).removeprefix(f"{self.paths[i]}: "))
                    self.bad.add(i)
                else:
                    decoded[i] = result
        for i in range(len(self.paths)):
            if i in decoded:
                self.shapes[i] = decoded[i].shape[:2]
            elif i not in self.bad:
                self.shapes[i] = load_shape(headers[i], load_size)
        if self.cached:
            self.images = [decoded.get(i) for i in range(len(self.paths))]

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> np.ndarray:
        if self.images is not None and self.images[i] is not None:
            return self.images[i]
        return resize_for_load(decode(self.paths[i]), self.load_size)

    @property
    def nbytes(self) -> int:
        return sum(im.nbytes for im in self.images or [] if im is not None)


def _decode_many(paths: list[Path], load_size, progress: str | None):
    def one(p: Path):
        try:
            return resize_for_load(decode(p), load_size)
        except ImageReadError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = pool.map(one, paths)
        if progress and len(paths) > 50:
            from tqdm import tqdm

            results = tqdm(results, total=len(paths), desc=progress, unit="img", leave=False)
        yield from results


# ----------------------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class Augment:
    """Where to crop and how to flip/rotate one sample; the same record is applied to blur and sharp."""

    y: int
    x: int
    flip: bool  # left-right mirror
    rot: int  # number of 90-degree counter-clockwise turns, 0..3


def draw_augment(rng: np.random.Generator, hw: tuple[int, int], crop: int | None, augment: bool) -> Augment:
    """Crop offset uniform over all valid positions; flips and rotations (the 8 symmetries of the square)
    only when `augment`. Motion blur has no preferred orientation, so all 8 are valid training samples."""
    h, w = hw
    y = int(rng.integers(0, h - crop + 1)) if crop else 0
    x = int(rng.integers(0, w - crop + 1)) if crop else 0
    if augment:
        flip, rot = bool(rng.integers(0, 2)), int(rng.integers(0, 4))
    else:
        flip, rot = False, 0
    return Augment(y, x, flip, rot)


_CV_ROTATE = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def apply_augment(img: np.ndarray, aug: Augment, crop: int | None) -> np.ndarray:
    """Crop, mirror, rotate; returns a contiguous array holding only the crop.

    The crop is copied first (cheap: row slices), then OpenCV flips and rotates it: a strided numpy view of a
    rotated crop costs ~1 ms to convert, cv2.flip/cv2.rotate ~0.05 ms, and they release the GIL. Rotation is
    counter-clockwise, as np.rot90.
    """
    if crop:
        img = img[aug.y : aug.y + crop, aug.x : aug.x + crop]
    img = np.ascontiguousarray(img)
    if aug.flip:
        img = cv2.flip(img, 1)
    if aug.rot:
        img = cv2.rotate(img, _CV_ROTATE[aug.rot])
    return img


def epoch_order(n: int, seed: int, epoch: int, count: int, shuffle: bool) -> np.ndarray:
    """`count` sample indices for an epoch: whole permutations of range(n), concatenated, so a set smaller
    than one batch still fills batches and every image appears equally often."""
    reps = -(-count // n)
    if not shuffle:
        return np.tile(np.arange(n), reps)[:count]
    rng = rng_for(seed, _SHUFFLE, epoch)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:count]


# ------------------------------------------------------------------------------------------ batch source


@dataclass(frozen=True)
class Spec:
    """Shape (None = variable) and dtype of one output array, without naming a framework."""

    shape: tuple[int | None, ...]
    dtype: str = "float32"


class BatchSource:
    """Something that builds batch `step` of epoch `epoch` as numpy arrays, deterministically.

    Subclasses set `steps_per_epoch` and `spec` (a Spec, tuple of Specs or dict of Specs matching
    `batch`'s output) and implement `batch`. Both `as_tf_dataset` and `as_py_dataset` are thin wrappers over
    `batch`, which is why the two paths produce the same numbers.
    """

    steps_per_epoch: int
    spec: object
    seed: int = 0
    #: batch() calls Keras ops (tf.data then uses tf.py_function instead of tf.numpy_function)
    uses_backend_ops: bool = False
    #: True when the epoch does not change the batches (a fixed evaluation set)
    fixed: bool = False

    def batch(self, epoch: int, step: int):  # pragma: no cover - interface
        raise NotImplementedError

    def __len__(self) -> int:
        return self.steps_per_epoch

    def _check_step(self, step: int) -> None:
        if not 0 <= step < self.steps_per_epoch:
            raise IndexError(f"batch {step} out of range: an epoch has {self.steps_per_epoch} batches")

    def __iter__(self):
        """One epoch (epoch 0) of numpy batches; convenient for evaluation loops and tests."""
        for step in range(self.steps_per_epoch):
            yield self.batch(0, step)

    def epochs(self, start: int = 0):
        """Batches of epoch `start`, `start + 1`, ... forever: the stream `as_tf_dataset()` also yields."""
        epoch = start
        while True:
            for step in range(self.steps_per_epoch):
                yield self.batch(epoch, step)
            epoch += 1

    def as_tf_dataset(self, repeat: bool | None = None, epoch: int = 0):
        """A `tf.data.Dataset` of these batches (imports TensorFlow; see deblur_tf.data.tfdata).

        repeat=None: infinite for training sets (pass `steps_per_epoch` to fit), one pass for fixed sets.
        """
        from deblur_tf.data.tfdata import to_tf_dataset  # TensorFlow: only for tf.data users

        return to_tf_dataset(self, repeat=repeat, epoch=epoch)

    def as_py_dataset(self, **kwargs):
        """A `keras.utils.PyDataset` of these batches, for the JAX backend (no TensorFlow import)."""
        from deblur_tf.data.numpy_pipeline import NumpyDataset

        return NumpyDataset(self, **kwargs)


def check_crop_and_batch(crop: int | None, batch_size: int, kernel_size: int | None = None,
                         load_size: int | tuple[int, int] | None = None) -> None:
    """Reject option values that would only fail later, naming the option."""
    if load_size is not None:
        ok = (isinstance(load_size, int | np.integer) and load_size > 0) or (
            isinstance(load_size, tuple | list) and len(load_size) == 2
            and all(isinstance(v, int | np.integer) and v > 0 for v in load_size))
        if not ok:
            raise DatasetError(f"load_size={load_size!r}: give the shorter side in pixels (e.g. 360) or an exact "
                               "(width, height) such as (640, 360)")
    if crop is not None and (not isinstance(crop, int | np.integer) or crop < 1):
        raise DatasetError(f"crop={crop!r}: must be a positive number of pixels (e.g. 256) or None")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise DatasetError(f"batch_size={batch_size!r}: must be a positive integer")
    if kernel_size is not None and (kernel_size < 1 or kernel_size % 2 == 0):
        raise DatasetError(f"kernel_size={kernel_size!r}: must be a positive odd number of pixels (e.g. 31)")


"""Image files in and out, with the checks that keep bad input from passing silently.

Conventions: files are read with OpenCV (BGR, converted to RGB); 8- and 16-bit PNG, JPEG, BMP,
TIFF and WebP; grayscale becomes 3 channels; alpha is dropped with a warning. Pixels are returned as float32
in [0, 1] together with the file's bit depth, so a 16-bit PNG can be written back as 16-bit.

Photos are kept as they are (`read_image_meta` / `write_image(..., icc_profile=)`): the EXIF orientation is
applied on reading, so every consumer sees the picture upright (and outputs, written without EXIF, are
upright too); `ImageMeta` says whether the file was grayscale and carries its ICC profile, which JPEG and
PNG outputs embed again (`deblur_tf.imagemeta`).

OpenCV happily decodes a truncated JPEG (libjpeg pads the missing rows with grey and only prints a warning),
so `read_image` checks the container's end marker itself: a JPEG must end with EOI (FFD9) and a PNG must hold
an IEND chunk.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from deblur_tf.errors import DeblurError, ImageReadError, OutputExistsError
from deblur_tf.imagemeta import ICC_FORMATS, apply_orientation, embed_icc, read_metadata

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _check_container(path: Path, data: bytes) -> None:
    """Reject truncated JPEG/PNG files that OpenCV would decode without complaint."""
    if data[:3] == b"\xff\xd8\xff":
        tail = data.rstrip(b"\x00")
        if not tail.endswith(b"\xff\xd9"):
            raise ImageReadError(
                f"{path}: truncated JPEG (no end-of-image marker); re-export or re-download the file"
            )
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in data[-64:]:
            raise ImageReadError(f"{path}: truncated PNG (no IEND chunk); re-export or re-download the file")


@dataclass(frozen=True)
class ImageMeta:
    """What a file says about its pixels besides their values, for writing a result back "as it was"."""

    bit_depth: int = 8
    grayscale: bool = False  # one channel in the file (read as three equal ones)
    icc_profile: bytes | None = None  # the embedded colour profile, if any
    orientation: int = 1  # the EXIF orientation that was applied on reading (1: none)


def decode_native(path: str | os.PathLike) -> np.ndarray:
    """Decode to RGB (H, W, 3) in the file's own type (uint8, uint16 or float32), upright; raises ImageReadError.

    The one place image files are opened: `read_image` scales the result to [0, 1], and the data pipelines
    cache it as it is (1 byte per value for 8-bit photos).
    """
    return _decode(path)[0]


def _decode(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"{path}: no such file")
    if path.is_dir():
        raise ImageReadError(f"{path}: is a folder, expected an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror})") from exc
    if not data:
        raise ImageReadError(f"{path}: empty file")
    _check_container(path, data)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageReadError(f"{path}: not a readable image (supported: {', '.join(IMAGE_EXTENSIONS)})")
    if img.dtype == np.float64:
        img = img.astype(np.float32)
    if img.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageReadError(f"{path}: unsupported pixel type {img.dtype}; save it as 8- or 16-bit")
    orientation, icc = read_metadata(data)
    grayscale = img.ndim == 2 or img.shape[2] == 1
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 1:
        img = cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        warnings.warn(f"{path}: alpha channel dropped", stacklevel=3)
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    depth = 16 if img.dtype == np.uint16 else 8
    return apply_orientation(img, orientation), ImageMeta(depth, grayscale, icc, orientation)


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read an image as float32 RGB in [0, 1], shape (H, W, 3), upright, with its bit depth (8 or 16)."""
    img, meta = read_image_meta(path)
    return img, meta.bit_depth


def read_image_meta(path: str | os.PathLike) -> tuple[np.ndarray, ImageMeta]:
    """`read_image`, with everything needed to write a result the way the input was (`ImageMeta`)."""
    img, meta = _decode(path)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype, 1.0)
    out = img.astype(np.float32) / np.float32(scale)
    return np.clip(out, 0.0, 1.0), meta


def to_grayscale(img01: np.ndarray) -> np.ndarray:
    """HxWx3 RGB -> HxW luma (ITU-R BT.601, as OpenCV), for writing a grayscale input's result as grayscale."""
    return cv2.cvtColor(np.ascontiguousarray(img01, dtype=np.float32), cv2.COLOR_RGB2GRAY)


def to_uint(img01: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Quantise [0, 1] floats to uint8/uint16 with rounding (not truncation, which darkens by half a level)."""
    if bit_depth == 16:
        return np.round(np.clip(img01, 0, 1) * 65535.0).astype(np.uint16)
    return np.round(np.clip(img01, 0, 1) * 255.0).astype(np.uint8)


def encode_image(img01: np.ndarray, ext: str, bit_depth: int = 8, jpeg_quality: int = 95) -> bytes:
    """Encode float RGB [0, 1] (HxWx3) or grayscale (HxW) to the bytes of a file of type `ext` ('.png', ...)."""
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if ext not in IMAGE_EXTENSIONS:
        raise DeblurError(f"unknown image format {ext!r}; choose one of {', '.join(IMAGE_EXTENSIONS)}")
    if bit_depth == 16 and ext not in (".png", ".tif", ".tiff"):
        bit_depth = 8  # JPEG/BMP/WebP hold 8 bits only
    arr = to_uint(img01, bit_depth)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(jpeg_quality)]
    ok, buf = cv2.imencode(ext, arr, params)
    if not ok:
        raise DeblurError(f"OpenCV could not encode an image as {ext}")
    return buf.tobytes()


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def ensure_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """`mkdir -p` that fails as a `DeblurError` naming the folder (read-only disk, a file in the way, ...)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise DeblurError(f"{path}: cannot create the {what}: {exc.filename or path} exists and is not a "
                          "folder; choose another location") from exc
    except OSError as exc:
        raise DeblurError(f"{path}: cannot create the {what} ({_os_reason(exc)}); choose a writable "
                          "location") from exc
    return path


def check_writable(folder: str | os.PathLike, what: str = "output folder") -> Path:
    """Fail now, before any work, if files cannot be created in `folder` (made later if missing).

    Walks up to the nearest existing ancestor: it must be a folder (not a regular file in the way) that this
    process may write into (`os.access` also sees a read-only mount, even for root). Creates nothing, so a
    refused run leaves no empty folder behind.
    """
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise DeblurError(f"{folder}: cannot create the {what}: {probe} is a file, not a folder; choose "
                          "another location")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        why = "read-only file system" if _read_only_mount(probe) else "permission denied"
        raise DeblurError(f"{folder}: cannot write the {what} ({why} at {probe}); choose a writable location")
    return folder


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def write_bytes_atomic(path: str | os.PathLike, data: bytes, overwrite: bool = False) -> Path:
    """Write through a temporary file and rename, so a full disk or a crash never leaves half a file.

    Every failure (no space, read-only disk, no permission, a file where a folder should be) is a
    `DeblurError` naming `path`, and nothing is left behind: not the temporary file, not the old file
    replaced by half a new one.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path}: already exists; pass --overwrite to replace it")
    ensure_dir(path.parent)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=path.suffix, dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    except BaseException as exc:  # OSError, but also Ctrl-C half-way: never leave the temporary file
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            raise DeblurError(f"{path}: cannot write ({_os_reason(exc)}); check free space and "
                              "permissions") from exc
        raise
    return path


def load_npz(path: str | os.PathLike, what: str = "array file", fix: str = "restore or re-create it") -> dict[str, np.ndarray]:
    """Every array of an `.npz` file, read now; an empty, truncated or foreign file is a `DeblurError`.

    `np.load` is lazy (a truncated archive fails only when an array is read, as `BadZipFile`), raises
    `EOFError` for an empty file (which click turns into a bare "Aborted!") and a pickle `ValueError` for
    a text file, so all of it happens here, inside one guard that names the file.
    """
    import zipfile
    import zlib

    path = Path(path)
    if not path.is_file():
        raise DeblurError(f"{path}: no such {what}" + ("" if not path.exists() else " (it is a folder)"))
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with archive as z:
            return {k: z[k] for k in z.files}
    except EOFError as exc:
        raise DeblurError(f"{path}: empty {what} (0 bytes); {fix}") from exc
    except OSError as exc:
        raise DeblurError(f"{path}: cannot read the {what} ({_os_reason(exc)}); {fix}") from exc
    except (ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, KeyError, RuntimeError) as exc:
        why = "not a NumPy archive" if "pickled" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise DeblurError(f"{path}: not a valid .npz {what}, truncated or another kind of file ({why}); "
                          f"{fix}") from exc


def write_image(
    path: str | os.PathLike,
    img01: np.ndarray,
    bit_depth: int = 8,
    overwrite: bool = False,
    jpeg_quality: int = 95,
    icc_profile: bytes | None = None,
) -> Path:
    """Write float RGB [0, 1] (or HxW grayscale) to `path` (format from its extension), refusing to replace a
    file unasked. `icc_profile` is embedded in JPEG and PNG files (`can_embed_icc`); other formats drop it."""
    path = Path(path)
    data = encode_image(img01, path.suffix, bit_depth, jpeg_quality)
    if icc_profile and can_embed_icc(path):
        data = embed_icc(data, icc_profile)
    return write_bytes_atomic(path, data, overwrite)


def can_embed_icc(path: str | os.PathLike) -> bool:
    """Whether `write_image` keeps an ICC profile in a file of this type (JPEG, PNG)."""
    return Path(path).suffix.lower() in ICC_FORMATS


def iter_images(inputs: Iterable[str | os.PathLike], recursive: bool = True) -> Iterator[Path]:
    """Expand files, folders (recursively) and glob patterns into image paths, sorted, each once."""
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if any(ch in str(item) for ch in "*?["):
            matches = sorted(Path().glob(str(item))) if not p.is_absolute() else sorted(
                Path(p.anchor).glob(str(p.relative_to(p.anchor)))
            )
            if not matches:
                raise ImageReadError(f"{item}: the pattern matches no file")
            candidates = [m for m in matches if m.is_file() and is_image_path(m)]
        elif p.is_dir():
            pattern = "**/*" if recursive else "*"
            candidates = sorted(f for f in p.glob(pattern) if f.is_file() and is_image_path(f))
            if not candidates:
                raise ImageReadError(f"{p}: folder holds no image ({', '.join(IMAGE_EXTENSIONS)})")
        elif p.exists():
            candidates = [p]
        else:
            raise ImageReadError(f"{p}: no such file or folder")
        for c in candidates:
            if c not in seen:
                seen.add(c)
                yield c

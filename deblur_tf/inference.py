"""Deblurring images of any size with a fully convolutional generator.

The generator needs H and W divisible by its down-sampling factor (4 for DeblurGAN's two stride-2 convs), and
a 24-megapixel photo does not fit through it in one piece on a phone-sized (or CPU) memory budget. So:

- the image is reflect-padded up to the multiple and cropped back afterwards (reflection, not zeros, so the
  network sees no artificial black frame and the border pixels are not darkened);
- an image larger than `tile` in either side is cut into overlapping tiles of at most `tile` x `tile` pixels
  (as few as cover it with at least `overlap` pixels shared, all the same size), run in batches, and blended back with feathered weights: each tile's weight is 0 for the outermost `overlap // 4`
  pixels of an inner edge (where zero padding inside the network makes the output unreliable), rises linearly
  across the rest of the overlap and is 1 inside. Weights are normalised by their sum, so the blend is exact
  where tiles agree and seam-free where they do not. Image borders are not feathered (no neighbour there).

One caveat worth knowing: instance normalisation (DeblurGAN's) normalises per tile, so tiled and untiled
outputs differ for such models, everywhere a little rather than at the seams. Measured with the shipped
`deblurgan` (ResNet, instance norm) on samples/blurry.jpg (640x480): 512-pixel tiles (two 336-wide tiles)
agree with the whole-image output at 51.0 dB PSNR (mean |diff| 0.57/255, 99.9th percentile 5.2/255, max
26/255 at one highlight), 96 pixels of overlap instead of 32 gives 51.9 dB, and 256-pixel tiles only 37.1 dB.
So keep tiles as large as memory allows. Models without normalisation layers differ only within their
receptive field of a tile border, which is what the overlap and feathering cover (tests/test_inference.py
checks tiled == whole within 1/255 for a small convolutional model).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from deblur_tf.errors import DeblurError

PredictFn = Callable[[np.ndarray], np.ndarray]  # (N, H, W, 3) float32 in [-1, 1] -> same shape

# `deblur`'s tile overlap when none is given: 64 px, at most a quarter of the tile. 32 px was narrower than the
# default nafnet's reach: its 256-px tiles moved `gopro_istanbul` by 0.31 dB against the whole image, 64 px by
# 0.11 (docs/MODELS.md). Tiles shrink to cover the photo, so the wider overlap costs a few percent of compute.
DEFAULT_OVERLAP = 64


def auto_overlap(tile: int | tuple[int, int] | None) -> int:
    """The overlap `deblur` uses without --overlap: DEFAULT_OVERLAP, capped at a quarter of the tile's shorter
    side so that a small --tile still works (tiles must be more than twice the overlap)."""
    if tile is None:
        return DEFAULT_OVERLAP
    side = min(tile) if isinstance(tile, tuple) else int(tile)
    return max(0, min(DEFAULT_OVERLAP, side // 4))


def keras_predict_fn(model) -> PredictFn:
    """Wrap a Keras model as a numpy-in/numpy-out predict function (inference mode: dropout off).

    Through `predict_on_batch`, i.e. the backend's compiled predict step (a `tf.function` that relaxes its
    shapes after a retrace, or a jitted JAX function per input shape), not an eager `model(batch)`: eagerly,
    the first 4x512x512 batch of the shipped nafnet took 33 s on the 2-core CPU and later ones 5 s, against
    5 s and 3.3 s compiled, so a 1280x720 photo took 25 s instead of the documented 5 (docs/BENCHMARKS.md).
    """

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict_on_batch(np.asarray(batch, np.float32)), np.float32)

    return predict


ENSEMBLE_SIZES = (1, 2, 4)
_FLIPS = ((False, False), (True, False), (False, True), (True, True))  # (left-right, up-down)


def flip_ensemble(predict: PredictFn, n: int) -> PredictFn:
    """Average the model's answers on `n` mirrored copies of each batch (geometric self-ensemble, Lim et al.
    2017, "EDSR+"), each mirrored back first.

    Why it is valid for motion blur: a mirrored blurred photo is the mirrored sharp photo blurred with the
    mirrored kernel, i.e. just another camera shake, so each copy is a separate estimate of the same sharp
    image and their mean has less of the model's own error. Measured on the shipped `nafnet` (CPU,
    2026-12-03, docs/RESULTS.md): n = 4 gains +0.12 dB PSNR on val-shake and +0.17 dB on the real pairs, at
    about 3x the time; LPIPS moves by less than 0.002 (averaging smooths a little). One mirrored copy per
    model call, so a call's memory does not grow; 1 returns `predict` itself.
    """
    if n not in ENSEMBLE_SIZES:
        raise DeblurError(f"ensemble size {n}: choose one of {', '.join(map(str, ENSEMBLE_SIZES))}")
    if n == 1:
        return predict

    def mirror(a: np.ndarray, lr: bool, ud: bool) -> np.ndarray:
        if lr:
            a = a[:, :, ::-1]
        if ud:
            a = a[:, ::-1]
        return np.ascontiguousarray(a)

    def predict_ensemble(batch: np.ndarray) -> np.ndarray:
        total = None
        for lr, ud in _FLIPS[:n]:
            out = mirror(np.asarray(predict(mirror(batch, lr, ud)), np.float32), lr, ud)
            total = out.astype(np.float64) if total is None else total + out
        return (total / n).astype(np.float32)

    return predict_ensemble


def pad_to_multiple(img: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reflect-pad an HxWxC array at the bottom/right so H and W divide by `multiple`."""
    h, w = img.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return img, (h, w)
    # reflection needs pad < size; tiny images fall back to edge replication
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def _axis_tiles(size: int, tile: int, overlap: int, multiple: int, fixed: bool = False) -> tuple[int, list[int]]:
    """Tile length and origins along one axis: as few tiles as the overlap allows, spread evenly.

    Tiles shrink to just cover the axis (n tiles of ceil((size + (n-1) * overlap) / n), rounded up to the
    multiple) instead of a last tile pushed flush against the end, which for 1024 pixels in 512-pixel tiles
    would compute 1536 pixels where 1088 suffice. `fixed`: keep every tile `tile` long (overlaps grow
    instead), for a model that only takes one input size (a TFLite file).
    """
    if size <= tile:
        return size, [0]
    n = math.ceil((size - overlap) / (tile - overlap))
    while True:
        length = tile if fixed else min(tile, math.ceil((size + (n - 1) * overlap) / n / multiple) * multiple)
        span = size - length
        # origins on the multiple: a strided network (stride-2 convs, a 1/8-resolution U-Net) computes the
        # same pixels in a tile as in the whole image only if the tile starts on its sampling grid
        starts = [round(i * span / (n - 1) / multiple) * multiple for i in range(n - 1)] + [span]
        if all(a + length - b >= overlap for a, b in zip(starts, starts[1:], strict=False)):
            return length, starts
        n += 1  # rounding to the grid ate into an overlap: one tile more


def _feather(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    """1-D blending weights of one tile: dead margin, linear ramp across the overlap, then 1."""
    w = np.ones(length, np.float32)
    margin = overlap // 4
    ramp_len = max(overlap - 2 * margin, 1)
    ramp = np.concatenate([np.zeros(margin), (np.arange(ramp_len) + 0.5) / ramp_len]).astype(np.float32)
    ramp = ramp[: length // 2]
    if ramp_start:
        w[: len(ramp)] = np.minimum(w[: len(ramp)], ramp)
    if ramp_end:
        w[length - len(ramp) :] = np.minimum(w[length - len(ramp) :], ramp[::-1])
    return w


class Deblurrer:
    """Any-size deblurring around a predict function (or a Keras model).

    `multiple`: H and W the network accepts must divide by it. `tile`: tile side in pixels (rounded down to the
    multiple), an (H, W) tile, or None to always run the whole image. `overlap`: pixels shared by neighbouring
    tiles (at least); None: `auto_overlap` of the tile, what `deblur` and `evaluate` use. `fixed_tile`: every tile of a long enough axis is exactly `tile` (for fixed-size runtimes).
    The project's one tiler: `deblur_tf.tflite.TFLiteRunner` and the Android app (docs/DEPLOY.md) tile this way.
    """

    def __init__(
        self,
        model: PredictFn | object,
        multiple: int = 4,
        tile: int | tuple[int, int] | None = 512,
        overlap: int | None = None,
        batch_size: int = 4,
        fixed_tile: bool = False,
    ) -> None:
        if multiple < 1:
            raise DeblurError(f"input multiple must be >= 1, got {multiple}")
        self.multiple = int(multiple)
        self.tile_hw: tuple[int, int] | None = None
        if tile is not None:
            given = (int(tile), int(tile)) if isinstance(tile, int) else (int(tile[0]), int(tile[1]))
            self.tile_hw = (given[0] // self.multiple * self.multiple, given[1] // self.multiple * self.multiple)
            if overlap is None:
                overlap = auto_overlap(self.tile_hw)
            if overlap < 0 or min(self.tile_hw) <= 2 * overlap:
                side, rounded_side = min(given), min(self.tile_hw)
                rounded = f" ({rounded_side} after rounding down to a multiple of {self.multiple})" \
                    if rounded_side != side else ""
                raise DeblurError(
                    f"--tile {side}{rounded} must be larger than twice the overlap ({overlap}); use a tile of at "
                    f"least {(2 * overlap // self.multiple + 1) * self.multiple}, or a smaller --overlap"
                )
        self.tile = None if self.tile_hw is None else self.tile_hw[0]
        self.overlap = DEFAULT_OVERLAP if overlap is None else int(overlap)
        self.batch_size = max(1, int(batch_size))
        self.fixed_tile = bool(fixed_tile)
        if hasattr(model, "predict") and hasattr(model, "layers"):  # a keras.Model
            self.predict: PredictFn = keras_predict_fn(model)
        elif callable(model):
            self.predict = model  # type: ignore[assignment]
        else:
            raise DeblurError(f"cannot run {type(model).__name__}: expected a Keras model or a predict function")

    def _run(self, batch01: np.ndarray) -> np.ndarray:
        out = self.predict(batch01 * 2.0 - 1.0)
        out = np.asarray(out, np.float32)
        if out.shape != batch01.shape:
            raise DeblurError(f"the model returned shape {out.shape} for input {batch01.shape}; "
                              "a deblurring model must map an image to one of the same size")
        return (out + 1.0) * 0.5

    def _tiles(self, shape: tuple[int, int]) -> Iterator[tuple[int, int, int, int]]:
        tile_h, tile_w = self.tile_hw  # type: ignore[misc]
        th, ys = _axis_tiles(shape[0], tile_h, self.overlap, self.multiple, self.fixed_tile)
        tw, xs = _axis_tiles(shape[1], tile_w, self.overlap, self.multiple, self.fixed_tile)
        for y in ys:
            for x in xs:
                yield y, x, th, tw

    def _runs_whole(self, ph: int, pw: int) -> bool:
        return self.tile_hw is None or (ph <= self.tile_hw[0] and pw <= self.tile_hw[1])

    def tile_count(self, shape: tuple[int, ...]) -> int:
        """How many tiles an image of `shape` (H, W, ...) is cut into (1: it runs whole)."""
        ph, pw = (-(-int(shape[0]) // self.multiple) * self.multiple, -(-int(shape[1]) // self.multiple) * self.multiple)
        if self._runs_whole(ph, pw):
            return 1
        return len(list(self._tiles((ph, pw))))

    def __call__(self, img01: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Deblur one HxWx3 float image in [0, 1]; returns float32 HxWx3 in [0, 1] of the same size.

        `progress(n)` is called after each model call with the number of tiles it finished, so a caller
        can show progress within one large image (a 3-megapixel photo takes a minute on a CPU).
        """
        img = np.asarray(img01, np.float32)
        if img.ndim != 3 or img.shape[2] != 3:
            raise DeblurError(f"expected an HxWx3 RGB image, got shape {img.shape}")
        padded, (h, w) = pad_to_multiple(img, self.multiple)
        ph, pw = padded.shape[:2]
        if self._runs_whole(ph, pw):
            out = self._run(padded[None])[0]
            if progress is not None:
                progress(1)
            return np.clip(out[:h, :w], 0.0, 1.0)

        acc = np.zeros((ph, pw, 3), np.float32)
        wsum = np.zeros((ph, pw, 1), np.float32)
        boxes = list(self._tiles((ph, pw)))
        for i in range(0, len(boxes), self.batch_size):
            chunk = boxes[i : i + self.batch_size]
            batch = np.stack([padded[y : y + th, x : x + tw] for y, x, th, tw in chunk])
            preds = self._run(batch)
            for (y, x, th, tw), pred in zip(chunk, preds, strict=True):
                wy = _feather(th, self.overlap, y > 0, y + th < ph)
                wx = _feather(tw, self.overlap, x > 0, x + tw < pw)
                wt = (wy[:, None] * wx[None, :])[:, :, None]
                acc[y : y + th, x : x + tw] += pred * wt
                wsum[y : y + th, x : x + tw] += wt
            if progress is not None:
                progress(len(chunk))
        out = acc / np.maximum(wsum, 1e-8)
        return np.clip(out[:h, :w], 0.0, 1.0)


"""The training and evaluation sets: paired folders, synthetic blur on sharp photos, and their mixture.

Each is a `BatchSource` (deblur_tf/data/common.py): `batch(epoch, step)` builds one batch as numpy arrays
from numpy-drawn, seed-keyed randomness; `.as_tf_dataset()` and `.as_py_dataset()` wrap that one function.
No TensorFlow is imported here, so this module is usable on the JAX-only GPU machine.

Outputs (float32, NHWC, pixels in [-1, 1]):

- `PairedFolder`: `(blurred, sharp)`.
- `SyntheticPairs`: `{"sharp": (B,c,c,3), "kernel": (B,k,k), "noise_std": (B,)}`; the train step blurs with
  `deblur_tf.blur.blur_images` on the accelerator. `.blurred_pairs()` gives `(blurred, sharp)` instead,
  blurred here on the CPU with the same camera model, for evaluation and for the mixture.
- `mix(paired, synthetic, ratio)`: `(blurred, sharp)`, synthetic batches blurred here on the CPU, so the
  train step stays the plain paired one (the default: simplest, and enough for the 2-core CI machine and
  for small ratios). `mix(..., blur="device")`: `{"input", "sharp", "kernel", "noise_std", "paired"}`, real
  pairs carrying their blurred image as `input` and `paired` = 1, so the step that blurs SyntheticPairs on
  the accelerator (`DeblurGAN._blur` of `input`, falling back to `sharp`) hands real pairs to the generator
  as they are and also trains on the mixture with no CPU blur and no branch. See `Mixture` and
  docs/BENCHMARKS.md for what each costs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from deblur_tf.blur import random_kernels
from deblur_tf.blur.ops import blur_numpy
from deblur_tf.blur.psf import exposure_choices
from deblur_tf.config import MAX_CROP_SCALE
from deblur_tf.data.common import (
    _BANK,
    _CROP,
    _KERNEL,
    _MIX,
    _NOISE,
    _NOISE_FIELD,
    _SCALE,
    _SHARP,
    BatchSource,
    DatasetError,
    ImageStore,
    Problems,
    Spec,
    apply_augment,
    check_crop_and_batch,
    discover_images,
    discover_pairs,
    draw_augment,
    epoch_order,
    rng_for,
    to_signed,
)

log = logging.getLogger("deblur_tf.data")


def _keep_usable(problems: Problems, what: str, skip_bad: bool, keep: list[int], stores: Sequence[ImageStore],
                 none_left: str) -> np.ndarray:
    """Report the bad files found (an error, or a log line each with skip_bad), then free what is not kept."""
    problems.report(what, skip_bad, "Fix or remove these files")
    if not keep:
        raise DatasetError(f"{none_left} left after skipping bad files")
    for store in stores:
        _release_unused(store, keep)
    return np.asarray(keep)


def _release_unused(store: ImageStore, keep: list[int]) -> None:
    """Drop cached images of skipped files (e.g. the good half of a pair whose other half is bad)."""
    if store.images is not None:
        kept = set(keep)
        for i in range(len(store.images)):
            if i not in kept:
                store.images[i] = None


def _steps(count: int, batch_size: int, drop_remainder: bool) -> int:
    return max(1, count // batch_size) if drop_remainder else -(-count // batch_size)



def _too_small_for_crop(problems, path, h: int, w: int, crop: int | None, load_size, what: str) -> bool:
    """Record (and report True for) an image smaller than the training crop, naming the ways out."""
    if not crop or min(h, w) >= crop:
        return False
    after = " after load_size" if load_size is not None else ""
    problems.add(path, f"{w}x{h}{after} is smaller than the {crop}x{crop} crop "
                 f"(use a smaller crop or load_size, or remove the {what})")
    return True

class PairedFolder(BatchSource):
    """GoPro-style blur/sharp pairs: `<root>/[<scene>/]blur/X` <-> `<root>/[<scene>/]sharp/X`.

    Everything that can be wrong with the set is found here, at construction, and reported in one
    DatasetError (first 20 files and a count): missing counterparts, duplicate names, unreadable or
    truncated files, blur/sharp size mismatch, images smaller than the crop, an empty folder. With
    `skip_bad=True` each offending pair is logged and left out instead.

    Args:
        root: the set's folder.
        crop: square crop size; None yields whole images (then batch_size must be 1 unless all sizes agree).
        batch_size: pairs per batch. Training (shuffle=True) drops the last partial batch so every batch has
            a static shape; evaluation (shuffle=False) keeps it.
        load_size: resize before cropping, as the paper does (int: shorter side; (w, h): exact).
        augment: random flips and 90-degree rotations (identical for both images of a pair).
        seed: everything random (order, crops, flips) derives from it; recorded as `self.seed`.
        skip_bad: log and leave out bad pairs instead of raising.
        cache: decode every image once at construction and keep it in memory (if it fits the
            DEBLUR_DATA_CACHE_BYTES budget, 4 GiB by default); this is what makes crops cheap.
        shuffle: a new seeded order every epoch.
        samples_per_epoch: pairs per epoch (default: the number of pairs, at least one batch).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        crop: int | None = 256,
        batch_size: int = 16,
        load_size: int | tuple[int, int] | None = None,
        augment: bool = True,
        seed: int = 0,
        skip_bad: bool = False,
        cache: bool = True,
        shuffle: bool = True,
        samples_per_epoch: int | None = None,
    ) -> None:
        check_crop_and_batch(crop, batch_size, load_size=load_size)
        self.root = Path(root)
        self.crop, self.batch_size, self.load_size = crop, int(batch_size), load_size
        self.augment, self.seed, self.shuffle = bool(augment), int(seed), bool(shuffle)
        problems = Problems()
        pairs = discover_pairs(self.root, problems)
        blur = ImageStore([b for _, b, _ in pairs], load_size, cache, problems, progress="decoding blur/")
        sharp = ImageStore([s for _, _, s in pairs], load_size, cache, problems, progress="decoding sharp/")
        keep: list[int] = []
        for i, (_key, bpath, spath) in enumerate(pairs):
            if i in blur.bad or i in sharp.bad:
                continue
            (bh, bw), (sh, sw) = blur.shapes[i], sharp.shapes[i]
            if (bh, bw) != (sh, sw):
                problems.add(bpath, f"size {bw}x{bh} differs from its sharp counterpart {spath} ({sw}x{sh})")
                continue
            if _too_small_for_crop(problems, bpath, bh, bw, crop, load_size, "pair"):
                continue
            keep.append(i)
        self._keep = _keep_usable(problems, f"paired set {self.root}", skip_bad, keep, (blur, sharp),
                                  f"{self.root}: no usable blur/sharp pair")
        self._blur, self._sharp = blur, sharp
        self.keys = [pairs[i][0] for i in keep]
        self.pairs = [(pairs[i][1], pairs[i][2]) for i in keep]
        if crop is None and batch_size > 1 and len({blur.shapes[i] for i in keep}) > 1:
            raise DatasetError(f"{self.root}: crop=None with batch_size={batch_size} needs images of one size; "
                               "use batch_size=1 or a crop")
        count = samples_per_epoch or max(len(keep), self.batch_size if shuffle else 1)
        self.samples_per_epoch = int(count)
        self.steps_per_epoch = _steps(count, self.batch_size, drop_remainder=shuffle)
        b = self.batch_size if shuffle else None
        c = crop
        if crop is None:
            h, w = blur.shapes[keep[0]] if len({blur.shapes[i] for i in keep}) == 1 else (None, None)
        else:
            h = w = c
        self.spec = (Spec((b, h, w, 3)), Spec((b, h, w, 3)))
        self.fixed = not (shuffle or augment)

    def __repr__(self) -> str:
        return (f"PairedFolder({str(self.root)!r}, pairs={len(self.keys)}, crop={self.crop}, "
                f"batch_size={self.batch_size}, seed={self.seed}, cached={self._blur.cached})")

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        epoch = 0 if self.fixed else epoch
        self._check_step(step)
        order = epoch_order(len(self._keep), self.seed, epoch, self.samples_per_epoch, self.shuffle)
        pos = np.arange(step * self.batch_size, min((step + 1) * self.batch_size, len(order)))
        shapes = [self._blur.shapes[self._keep[order[p]]] for p in pos]
        h, w = (self.crop, self.crop) if self.crop else shapes[0]
        blurred = np.empty((len(pos), h, w, 3), np.float32)
        sharp = np.empty_like(blurred)
        for j, p in enumerate(pos):
            i = int(self._keep[order[p]])
            # one generator per sample position: crops do not change with the batch size
            aug = draw_augment(rng_for(self.seed, _CROP, epoch, int(p)), shapes[j], self.crop, self.augment)
            to_signed(apply_augment(self._blur.get(i), aug, self.crop), out=blurred[j])
            to_signed(apply_augment(self._sharp.get(i), aug, self.crop), out=sharp[j])
        return blurred, sharp


def _noise_range(noise_std: float | Sequence[float]) -> tuple[float, float]:
    lo, hi = (noise_std, noise_std) if np.isscalar(noise_std) else tuple(noise_std)
    if not (0 <= lo <= hi):
        raise DatasetError(f"noise_std={noise_std!r}: must be a level >= 0 or a range (low, high) with "
                           "0 <= low <= high, in [0, 1] pixel units (e.g. (0, 0.01))")
    return float(lo), float(hi)


class SyntheticPairs(BatchSource):
    """Sharp photos plus a random camera-shake kernel and noise level per crop; blurred on the accelerator.

    Elements are `{"sharp", "kernel", "noise_std"}`; the train step calls
    `blur_images((sharp + 1) / 2, kernel, gamma=self.gamma, noise_std=noise_std)`. Kernels come from a bank
    of `kernel_bank` kernels drawn once at construction (drawing a 2000-step trajectory per crop costs more
    CPU than the crop itself), or fresh for every batch with `kernel_bank=0`.

    `sharp_fraction` (train mode): that share of the crops gets a centred delta kernel, so its input is the sharp
    crop with only the camera's noise, rounding and JPEG. A model that never sees a sharp input "deblurs"
    every photo: the shipped models took the sharp validation photos to a median of 31 dB
    (benchmarks/sharp_input.py, docs/MODELS.md).

    `scale_range` (train mode): each crop is taken at a scale s ~ U(lo, hi), 0 < lo <= hi <= 2: a square of side
    crop / s is cut (for s <= 1 at most the photo's shorter side) and shrunk to `crop` with INTER_AREA, or for
    s > 1 enlarged with INTER_CUBIC. A few hundred photos seen at several scales are more distinct content, and
    the blur, applied after the resize, meets textures at sizes it did not meet before. Shrunk crops are crisper
    than their photo; enlarged ones are soft, as upscaled and lightly focused photos are, so the model meets sharp
    targets that are not crisp (docs/BLUR.md). (1, 1), the default, is the plain crop and draws nothing, so the
    crop, kernel and noise streams are the same as without it.

    `exposures`: the fractions of each trajectory a kernel keeps, one drawn per kernel (None: DeblurGAN's
    (0.1, 0.5, 1), whose 10 % cuts make half of the kernels under 8 px). Real hand shake is 10-30 px (Levin
    et al. 2009), so (0.5, 1) moves the bank toward it; the draws come from the kernel streams as before.

    mode="train": seeded shuffle, random crops, flips and rotations, every epoch different.
    mode="fixed": an evaluation set that is the same every run for a given seed, on any backend: images in
        sorted order, one deterministic crop each (or the whole image with crop=None, batch_size=1), one
        kernel, noise level and noise field each, no flips. Image i's kernel, crop and noise depend on
        (seed, i) only, i being its place in the sorted file list.
    """

    def __init__(
        self,
        sharp_dir: str | os.PathLike,
        crop: int | None = 256,
        batch_size: int = 16,
        kernel_size: int = 31,
        kernel_bank: int = 4096,
        noise_std: float | Sequence[float] = (0.0, 0.01),
        gamma: float = 2.2,
        mode: str = "train",
        seed: int = 0,
        load_size: int | tuple[int, int] | None = None,
        augment: bool | None = None,
        skip_bad: bool = False,
        cache: bool = True,
        samples_per_epoch: int | None = None,
        trajectory=None,
        sharp_fraction: float = 0.0,
        scale_range: Sequence[float] = (1.0, 1.0),
        exposures: Sequence[float] | None = None,
    ) -> None:
        if mode not in ("train", "fixed"):
            raise DatasetError(f"mode={mode!r}: choose 'train' (random every epoch) or 'fixed' (evaluation set)")
        check_crop_and_batch(crop, batch_size, kernel_size, load_size)
        if not 0.0 <= sharp_fraction < 1.0:
            raise DatasetError(f"sharp_fraction={sharp_fraction}: must be in [0, 1) (the share of crops left unblurred)")
        self.sharp_fraction = float(sharp_fraction)
        lo, hi = (float(v) for v in scale_range)
        if not 0.0 < lo <= hi <= MAX_CROP_SCALE:
            raise DatasetError(f"scale_range={tuple(scale_range)}: needs 0 < lo <= hi <= {MAX_CROP_SCALE:g} (crop "
                               "scales; (1, 1) = plain crops, (0.5, 1) = from full size down to half, (1, 2) = up "
                               "to twice enlarged)")
        self.scale_range = (lo, hi)
        if exposures is not None:
            try:
                exposures = exposure_choices(tuple(exposures))
            except ValueError:
                raise DatasetError(f"exposures={list(exposures)}: give one or more fractions in (0, 1] (the share of "
                                   "each shake trajectory a kernel keeps; (0.1, 0.5, 1) is DeblurGAN's)") from None
        self.exposures = exposures
        if kernel_bank < 0:
            raise DatasetError(f"kernel_bank={kernel_bank}: must be >= 0 (0 draws fresh kernels every batch)")
        if not gamma > 0:
            raise DatasetError(f"gamma={gamma}: must be > 0 (2.2 for sRGB photos, 1.0 for linear data)")
        self.sharp_dir = Path(sharp_dir)
        self.crop, self.batch_size, self.kernel_size = crop, int(batch_size), int(kernel_size)
        self.kernel_bank, self.noise_range, self.gamma = int(kernel_bank), _noise_range(noise_std), float(gamma)
        self.mode, self.seed, self.load_size, self.trajectory = mode, int(seed), load_size, trajectory
        self.fixed = mode == "fixed"
        self.augment = (not self.fixed) if augment is None else bool(augment)
        problems = Problems()
        files = discover_images(self.sharp_dir)
        store = ImageStore(files, load_size, cache, problems, progress="decoding sharp photos")
        keep = []
        for i, p in enumerate(files):
            if i in store.bad:
                continue
            h, w = store.shapes[i]
            if _too_small_for_crop(problems, p, h, w, crop, load_size, "file"):
                continue
            keep.append(i)
        self._keep = _keep_usable(problems, f"sharp set {self.sharp_dir}", skip_bad, keep, (store,),
                                  f"{self.sharp_dir}: no usable sharp image")
        self._store = store
        self.files = [files[i] for i in keep]
        n = len(keep)
        if crop is None and batch_size > 1 and len({store.shapes[i] for i in keep}) > 1:
            raise DatasetError(f"{self.sharp_dir}: crop=None with batch_size={batch_size} needs images of one "
                               "size; use batch_size=1 or a crop")
        if self.fixed:
            self.samples_per_epoch = n
            self.steps_per_epoch = _steps(n, self.batch_size, drop_remainder=False)
            # one generator per image: image i's kernel depends on (seed, i) only, not on the set size
            self._fixed_kernels = self._draw_kernels(n, [rng_for(self.seed, _KERNEL, i) for i in range(n)])
            self._fixed_noise = np.array([rng_for(self.seed, _NOISE, i).uniform(*self.noise_range)
                                          for i in range(n)], np.float32)
            self._bank = None
        else:
            self.samples_per_epoch = int(samples_per_epoch or max(n, self.batch_size))
            self.steps_per_epoch = _steps(self.samples_per_epoch, self.batch_size, drop_remainder=True)
            self._bank = self._draw_bank() if self.kernel_bank else None
        b = None if self.fixed else self.batch_size
        if crop is None:
            shapes = {store.shapes[i] for i in keep}
            h, w = next(iter(shapes)) if len(shapes) == 1 else (None, None)
        else:
            h = w = crop
        k = self.kernel_size
        self.spec = {"sharp": Spec((b, h, w, 3)), "kernel": Spec((b, k, k)), "noise_std": Spec((b,))}

    def __repr__(self) -> str:
        return (f"SyntheticPairs({str(self.sharp_dir)!r}, images={len(self.files)}, mode={self.mode!r}, "
                f"crop={self.crop}, batch_size={self.batch_size}, kernel_size={self.kernel_size}, "
                f"kernel_bank={self.kernel_bank}, noise_std={self.noise_range}, seed={self.seed})")

    def _draw_kernels(self, n: int, rng: np.random.Generator | list[np.random.Generator]) -> np.ndarray:
        kw = {} if self.trajectory is None else {"params": self.trajectory}
        k = np.asarray(random_kernels(n, size=self.kernel_size, rng=rng, exposure=self.exposures, **kw), np.float32)
        if k.shape != (n, self.kernel_size, self.kernel_size):
            raise DatasetError(f"random_kernels returned shape {k.shape}, expected {(n, self.kernel_size, self.kernel_size)}")
        return k

    def _draw_bank(self, chunk: int = 512) -> np.ndarray:
        """The kernel bank, in chunks of `chunk` kernels (chunk i from its own generator) behind a progress
        bar: 4096 kernels of 2000-step trajectories take ~25 s on one core."""
        from tqdm import tqdm

        sizes = [min(chunk, self.kernel_bank - i) for i in range(0, self.kernel_bank, chunk)]
        bar = tqdm(total=self.kernel_bank, desc="kernel bank", unit="kernel", leave=False,
                   disable=self.kernel_bank <= chunk)
        parts = []
        with bar:
            for i, n in enumerate(sizes):
                parts.append(self._draw_kernels(n, rng_for(self.seed, _BANK, i)))
                bar.update(n)
        return np.concatenate(parts)

    def _positions(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions in the epoch, image indices into the store) of batch `step`."""
        epoch = 0 if self.fixed else epoch
        order = epoch_order(len(self._keep), self.seed, epoch, self.samples_per_epoch, shuffle=not self.fixed)
        pos = np.arange(step * self.batch_size, min((step + 1) * self.batch_size, len(order)))
        return pos, self._keep[order[pos]]

    def batch(self, epoch: int, step: int) -> dict[str, np.ndarray]:
        epoch = 0 if self.fixed else epoch
        self._check_step(step)
        pos, idx = self._positions(epoch, step)
        shapes = [self._store.shapes[i] for i in idx]
        h, w = (self.crop, self.crop) if self.crop else shapes[0]
        sharp = np.empty((len(pos), h, w, 3), np.float32)
        scaled = self.crop is not None and not self.fixed and self.scale_range != (1.0, 1.0)
        for j, (p, i) in enumerate(zip(pos, idx, strict=True)):
            side = self.crop
            if scaled:
                s = rng_for(self.seed, _SCALE, epoch, int(p)).uniform(*self.scale_range)
                if s > 1.0:  # enlarged: a smaller square, which any photo that fits the crop holds
                    side = max(1, round(self.crop / s))
                else:
                    side = max(self.crop, min(round(self.crop / s), *shapes[j]))
            aug = draw_augment(rng_for(self.seed, _CROP, epoch, int(p)), shapes[j], side, self.augment)
            img = apply_augment(self._store.get(int(i)), aug, side)
            if side != self.crop:
                how = cv2.INTER_AREA if side > self.crop else cv2.INTER_CUBIC
                img = cv2.resize(img, (self.crop, self.crop), interpolation=how)
            to_signed(img, out=sharp[j])
        if self.fixed:
            kernel, noise = self._fixed_kernels[pos], self._fixed_noise[pos]
        else:
            rng = rng_for(self.seed, _KERNEL, epoch, step)
            if self._bank is not None:
                kernel = self._bank[rng.integers(0, len(self._bank), size=len(pos))]
            else:
                kernel = self._draw_kernels(len(pos), rng)
            noise = rng_for(self.seed, _NOISE, epoch, step).uniform(*self.noise_range, size=len(pos))
            if self.sharp_fraction > 0:  # its own stream: the other crops keep the kernels they had without it
                unblurred = rng_for(self.seed, _SHARP, epoch, step).random(len(pos)) < self.sharp_fraction
                kernel = np.array(kernel, np.float32)
                kernel[unblurred] = 0.0
                kernel[unblurred, self.kernel_size // 2, self.kernel_size // 2] = 1.0  # blur_images' anchor
        return {"sharp": sharp, "kernel": np.ascontiguousarray(kernel, np.float32),
                "noise_std": np.asarray(noise, np.float32)}

    def noise_field(self, epoch: int, step: int, shape: tuple[int, ...]) -> np.ndarray:
        """Unit Gaussian noise for batch (epoch, step), drawn with numpy so that every backend adds the same
        noise (keras.random streams differ between TensorFlow and JAX). Fixed mode keys it per image."""
        if self.fixed:
            pos, _ = self._positions(0, step)
            return np.stack([rng_for(self.seed, _NOISE_FIELD, int(p)).standard_normal(shape[1:], np.float32)
                             for p in pos])
        return rng_for(self.seed, _NOISE_FIELD, epoch, step).standard_normal(shape, np.float32)

    def blurred_pairs(self, method: str = "fft") -> BlurredPairs:
        """The same set as `(blurred, sharp)` pairs, blurred on the host (for evaluation, CPU training and
        the mixture). In fixed mode this is the reproducible evaluation set. See `BlurredPairs` for `method`."""
        return BlurredPairs(self, method)


BLUR_METHODS = ("fft", "numpy", "keras")


def blur_batch(sharp: np.ndarray, kernel: np.ndarray, noise_std: np.ndarray, noise: np.ndarray | None,
               gamma: float, method: str = "fft") -> np.ndarray:
    """Blur a [-1, 1] batch and add the given noise field; returns [-1, 1] float32 numpy.

    method "fft": `deblur_tf.blur.blur_numpy(engine="fft")` (scipy, fastest on a CPU); "numpy": its OpenCV engine;
    "keras": `deblur_tf.blur.blur_images` on the current Keras backend. The first two need no Keras backend
    and are safe in any worker process. The noise is passed in (numpy-drawn) rather than drawn by the blur
    op, so the result is the same on every backend (keras.random streams differ between TensorFlow and JAX);
    it is added where `blur_images` adds it: after re-applying gamma, in [0, 1] units, before clipping.
    """
    x01 = (sharp + np.float32(1.0)) * np.float32(0.5)
    if method in ("fft", "numpy"):
        engine = "fft" if method == "fft" else "direct"
        out = blur_numpy(x01, kernel, gamma=gamma, noise_std=0.0, clip=False, engine=engine)
    elif method == "keras":
        import keras

        from deblur_tf.blur import blur_images  # the Keras op: the numpy methods run in workers without Keras

        out = keras.ops.convert_to_numpy(blur_images(x01, kernel, gamma=gamma, noise_std=0.0, clip=False))
    else:
        raise DatasetError(f"method={method!r}: choose one of {', '.join(BLUR_METHODS)}")
    out = np.asarray(out, np.float32)
    if noise is not None:
        out = out + noise_std.reshape(-1, 1, 1, 1).astype(np.float32) * noise
    np.clip(out, 0.0, 1.0, out=out)
    return out * np.float32(2.0) - np.float32(1.0)


class BlurredPairs(BatchSource):
    """A SyntheticPairs set blurred on the host: `(blurred, sharp)` like a PairedFolder.

    method "fft" (default, scipy FFT) and "numpy" (OpenCV `blur_numpy`) need no Keras backend and are safe
    in PyDataset worker processes; "keras" uses `blur_images` on the current backend (the op the train step
    uses), e.g. to check that a fixed evaluation set is the same under TensorFlow and JAX.
    """

    def __init__(self, synthetic: SyntheticPairs, method: str = "fft") -> None:
        if method not in BLUR_METHODS:
            raise DatasetError(f"method={method!r}: choose one of {', '.join(BLUR_METHODS)}")
        self.synthetic, self.method = synthetic, method
        # batch() then runs Keras ops, so tf.data wraps it in tf.py_function (eager), not tf.numpy_function
        self.uses_backend_ops = method == "keras"
        self.seed, self.fixed = synthetic.seed, synthetic.fixed
        self.steps_per_epoch = synthetic.steps_per_epoch
        self.batch_size, self.crop = synthetic.batch_size, synthetic.crop
        spec = synthetic.spec["sharp"]
        self.spec = (spec, spec)

    def __repr__(self) -> str:
        return f"BlurredPairs({self.synthetic!r}, method={self.method!r})"

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        d = self.synthetic.batch(epoch, step)
        noise = None
        if float(d["noise_std"].max(initial=0.0)) > 0:
            noise = self.synthetic.noise_field(epoch, step, d["sharp"].shape)
        blurred = blur_batch(d["sharp"], d["kernel"], d["noise_std"], noise, self.synthetic.gamma, self.method)
        return blurred, d["sharp"]


class Mixture(BatchSource):
    """Real pairs and synthetic pairs in a set ratio (the paper's "Comb" training).

    Each batch is wholly real or wholly synthetic, chosen by a seeded draw per (epoch, step) with
    P(synthetic) = ratio; a batch of one (the paper's setting) is then exactly per-sample mixing. Batch
    `step` of the chosen source is used, so the real and synthetic streams stay the ones each source
    yields alone. An epoch is as many steps as the longer source.

    blur="host" (default): elements are `(blurred, sharp)`; synthetic batches are blurred here on the CPU
        (`BlurredPairs`, scipy FFT), so any paired train step works unchanged. Costs ~25-50 ms of CPU per
        256x256 synthetic crop (docs/BENCHMARKS.md).
    blur="device": elements are `{"input", "sharp", "kernel", "noise_std", "paired"}`; `DeblurGAN`'s step
        blurs `input` (the same step as for SyntheticPairs, with `input` in place of `sharp`) and keeps the
        samples with `paired` = 1 as they are. Synthetic batches carry input = sharp, a shake kernel and
        paired = 0; real batches carry input = the real blurred image, paired = 1, and a centred delta
        kernel with zero noise, so that even a step that ignored `paired` would pass them through the plain
        blur nearly unchanged (to ~5e-5; not through the camera model, whose highlight boost and shot noise
        would alter them: that is what `paired` is for). No CPU blur at all, one element structure, no
        branch in the step.
    """

    def __init__(self, paired: PairedFolder, synthetic: SyntheticPairs | BlurredPairs, ratio: float,
                 seed: int | None = None, blur: str = "host") -> None:
        if not 0.0 <= ratio <= 1.0:
            raise DatasetError(f"ratio={ratio}: the fraction of synthetic batches must be in [0, 1]")
        if blur not in ("host", "device"):
            raise DatasetError(f"blur={blur!r}: choose 'host' (pairs, CPU blur) or 'device' (blur in the step)")
        if blur == "device":
            if not isinstance(synthetic, SyntheticPairs):
                raise DatasetError("mix(blur='device') needs a SyntheticPairs set (it is blurred in the step), "
                                   f"got {type(synthetic).__name__}")
            other = synthetic
        else:
            other = synthetic.blurred_pairs() if isinstance(synthetic, SyntheticPairs) else synthetic
        if (paired.crop, paired.batch_size) != (other.crop, other.batch_size) or paired.crop is None:
            raise DatasetError(
                f"mix: both sets need the same crop and batch_size (paired: crop={paired.crop}, batch_size="
                f"{paired.batch_size}; synthetic: crop={other.crop}, batch_size={other.batch_size})"
            )
        self.paired, self.synthetic, self.ratio, self.blur = paired, other, float(ratio), blur
        self.seed = paired.seed if seed is None else int(seed)
        self.batch_size, self.crop = paired.batch_size, paired.crop
        self.steps_per_epoch = max(paired.steps_per_epoch, other.steps_per_epoch)
        self.uses_backend_ops = other.uses_backend_ops
        if blur == "device":
            k = synthetic.kernel_size
            self._delta = np.zeros((paired.batch_size, k, k), np.float32)
            self._delta[:, k // 2, k // 2] = 1.0  # blur_images anchors kernels at (k // 2, k // 2)
            img = paired.spec[0]
            self.spec = {"input": img, "sharp": img, "kernel": Spec((self.batch_size, k, k)),
                         "noise_std": Spec((self.batch_size,)), "paired": Spec((self.batch_size,))}
        else:
            self.spec = paired.spec

    def __repr__(self) -> str:
        return (f"Mixture(ratio={self.ratio}, blur={self.blur!r}, seed={self.seed}, {self.paired!r}, "
                f"{self.synthetic!r})")

    def is_synthetic(self, epoch: int, step: int) -> bool:
        return bool(rng_for(self.seed, _MIX, epoch, step).random() < self.ratio)

    def batch(self, epoch: int, step: int):
        self._check_step(step)
        syn = self.is_synthetic(epoch, step)
        src = self.synthetic if syn else self.paired
        e, s = divmod(epoch * self.steps_per_epoch + step, src.steps_per_epoch)
        out = src.batch(e, s)
        if self.blur == "host":
            return out
        if syn:
            return {"input": out["sharp"], "sharp": out["sharp"], "kernel": out["kernel"],
                    "noise_std": out["noise_std"], "paired": np.zeros(len(out["sharp"]), np.float32)}
        blurred, sharp = out
        n = len(blurred)
        return {"input": blurred, "sharp": sharp, "kernel": self._delta[:n].copy(),
                "noise_std": np.zeros(n, np.float32), "paired": np.ones(n, np.float32)}


def mix(paired: PairedFolder, synthetic: SyntheticPairs | BlurredPairs, ratio: float,
        seed: int | None = None, blur: str = "host") -> Mixture:
    """Real pairs plus synthetic pairs, a fraction `ratio` of the batches synthetic (see `Mixture`)."""
    return Mixture(paired, synthetic, ratio, seed, blur)

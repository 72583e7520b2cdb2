"""Classical non-blind deconvolution baselines (numpy FFT): Wiener, Tikhonov, Richardson–Lucy.

These are the "early deblurring models" a learned deblurrer must beat. All three need the blur kernel, so in
`deblur-tf evaluate` they get the *true* kernel: they are an upper bound on what a classical pipeline with a
perfect kernel estimate can do, not a blind method.

- Wiener (Wiener 1949; Gonzalez & Woods, ch. 5): X = H* Y / (|H|^2 + NSR), NSR = S_n / S_f taken constant.
- Tikhonov / constrained least squares (Tikhonov 1963; Hunt 1973): X = H* Y / (|H|^2 + gamma |P|^2) with P the
  discrete Laplacian [[0,1,0],[1,-4,1],[0,1,0]], which penalises rough (noisy) solutions more than flat ones.
- Richardson–Lucy (Richardson 1972; Lucy 1974): multiplicative EM updates for Poisson noise,
  x <- x * (K^T (y / (K x))), non-negative by construction.

Getting the details right matters more than the formula:
- Kernel centring: the kernel is zero-padded to the image size and circularly shifted so that its centre
  (index k//2 in each axis) lands on (0, 0) before the FFT (MATLAB's psf2otf). Without it the result is shifted
  by half the kernel size. `blur_fft` is the matching forward model (true convolution, kernel centre at k//2).
- Edges: the FFT assumes the image is periodic, so the jump between the left and right (top and bottom) borders
  rings across the whole result. Images are edge-padded by about two kernel sizes and the padding is
  "edge-tapered" (blended into its own circular blur, as MATLAB's edgetaper), then cropped back after filtering.
- Linear light: camera blur averages light, not gamma-encoded pixel values. With `gamma` set, the image is
  linearised (x ** gamma) before deconvolution and re-encoded after, matching blur synthesised in linear light.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft

from deblur_tf.blur.ops import blur_numpy
from deblur_tf.errors import DeblurError
from deblur_tf.metrics import psnr

LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])

DEFAULT_NSR = 3e-2
DEFAULT_TIKHONOV_GAMMA = 5e-3
DEFAULT_RL_ITERS = 15  # defaults: the values --tune picks on the val set with 1 % noise, rounded (docs/RESULTS.md)


def _rfft2(x: np.ndarray, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    return sfft.rfft2(x, axes=axes, workers=-1)


def _irfft2(x: np.ndarray, s: tuple[int, int], axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    return sfft.irfft2(x, s=s, axes=axes, workers=-1)


def _check_kernel(kernel: np.ndarray) -> np.ndarray:
    k = np.asarray(kernel, np.float64)
    if k.ndim != 2:
        raise DeblurError(f"blur kernel must be a 2-D array, got shape {k.shape}")
    if not np.all(np.isfinite(k)) or k.sum() <= 0:
        raise DeblurError("blur kernel must be finite with a positive sum")
    return k / k.sum()


def psf2otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Optical transfer function (rfft2) of `kernel` for images of `shape`, centre (k//2) moved to (0, 0)."""
    k = np.asarray(kernel, np.float64)
    kh, kw = k.shape
    if kh > shape[0] or kw > shape[1]:
        raise DeblurError(f"blur kernel {k.shape} is larger than the image {shape}")
    padded = np.zeros(shape, np.float64)
    padded[:kh, :kw] = k
    padded = np.roll(padded, (-(kh // 2), -(kw // 2)), axis=(0, 1))
    return _rfft2(padded, axes=(0, 1))


def _as_hwc(img01: np.ndarray) -> tuple[np.ndarray, bool]:
    img = np.asarray(img01, np.float64)
    if img.ndim == 2:
        return img[:, :, None], True
    if img.ndim != 3:
        raise DeblurError(f"expected an HxW or HxWxC image, got shape {img.shape}")
    return img, False


def blur_fft(img01: np.ndarray, kernel: np.ndarray, pad_mode: str = "reflect") -> np.ndarray:
    """Convolve each channel with `kernel` (true convolution, centre k//2), borders extended by `pad_mode`.

    The forward model the filters below invert; tests use it to make blur whose kernel is known exactly. It is
    the project's one host blur (`blur_numpy`) in float64, without gamma, noise or clipping.
    """
    img, squeeze = _as_hwc(img01)
    k = _check_kernel(kernel)
    out = blur_numpy(img, k, gamma=None, clip=False, engine="fft", border=pad_mode, dtype=np.float64)
    return out[:, :, 0] if squeeze else out


def _pad_and_taper(img: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """Extend the image by about two kernel sizes and taper the extension into its circular blur.

    Edge replication followed by MATLAB-style edge tapering measured best of reflect/symmetric/edge padding
    with and without tapering (2-4 dB on smooth test images, 0.5-1 dB on photos): a replicated border stays
    nearly consistent with *some* sharp image blurred by `k`, and the taper makes the padded image
    periodic, so neither the FFT wrap-around nor the unknown content beyond the border rings inward.
    """
    ph = max(8, 2 * k.shape[0])
    pw = max(8, 2 * k.shape[1])
    # extra padding at the far side up to an FFT-friendly size (5-smooth), cropped away like the rest
    eh = sfft.next_fast_len(img.shape[0] + 2 * ph, real=True) - img.shape[0] - 2 * ph
    ew = sfft.next_fast_len(img.shape[1] + 2 * pw, real=True) - img.shape[1] - 2 * pw
    padded = np.pad(img, ((ph, ph + eh), (pw, pw + ew), (0, 0)), mode="edge")
    h, w = padded.shape[:2]
    otf = psf2otf(k, (h, w))
    blurred = _irfft2(_rfft2(padded, axes=(0, 1)) * otf[:, :, None], s=(h, w), axes=(0, 1))

    def ramp(n: int, p: int) -> np.ndarray:
        # 0 at the outer edge, rising smoothly (raised cosine) to 1 where the original image starts
        r = np.ones(n)
        t = 0.5 - 0.5 * np.cos(np.pi * (np.arange(p) + 0.5) / p)
        r[:p] = t
        r[n - p :] = t[::-1]
        return r

    alpha = np.outer(ramp(h, ph), ramp(w, pw))[:, :, None]
    return alpha * padded + (1.0 - alpha) * blurred, (ph, pw), otf  # the OTF is reused by the filters


def _linearise(img: np.ndarray, gamma: float | None) -> np.ndarray:
    return np.clip(img, 0.0, 1.0) ** gamma if gamma else img


def _encode(img: np.ndarray, gamma: float | None) -> np.ndarray:
    img = np.clip(img, 0.0, 1.0)
    return img ** (1.0 / gamma) if gamma else img


def _filter(
    img01: np.ndarray, kernel: np.ndarray, gamma: float | None, make_filter: Callable[[np.ndarray, tuple[int, int]], np.ndarray]
) -> np.ndarray:
    img, squeeze = _as_hwc(img01)
    k = _check_kernel(kernel)
    x, (ph, pw), otf = _pad_and_taper(_linearise(img, gamma), k)
    h, w = x.shape[:2]
    g = make_filter(otf, (h, w))
    out = _irfft2(_rfft2(x, axes=(0, 1)) * g[:, :, None], s=(h, w), axes=(0, 1))
    out = _encode(out[ph : ph + img.shape[0], pw : pw + img.shape[1]], gamma).astype(np.float32)
    return out[:, :, 0] if squeeze else out


def wiener(img01: np.ndarray, kernel: np.ndarray, nsr: float = DEFAULT_NSR, gamma: float | None = None) -> np.ndarray:
    """Wiener deconvolution with a constant noise-to-signal power ratio `nsr` (larger: smoother, less ringing)."""
    if nsr < 0:
        raise DeblurError(f"--nsr must be >= 0, got {nsr}")
    return _filter(img01, kernel, gamma, lambda h, _shape: np.conj(h) / (np.abs(h) ** 2 + nsr))


def tikhonov(
    img01: np.ndarray, kernel: np.ndarray, gamma_reg: float = DEFAULT_TIKHONOV_GAMMA, gamma: float | None = None
) -> np.ndarray:
    """Tikhonov-regularised (Laplacian) inverse filter; `gamma_reg` weighs smoothness against data fit."""
    if gamma_reg < 0:
        raise DeblurError(f"Tikhonov weight must be >= 0, got {gamma_reg}")

    def make(h: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        p = psf2otf(LAPLACIAN, shape)
        return np.conj(h) / (np.abs(h) ** 2 + gamma_reg * np.abs(p) ** 2)

    return _filter(img01, kernel, gamma, make)


def richardson_lucy(
    img01: np.ndarray, kernel: np.ndarray, iters: int = DEFAULT_RL_ITERS, gamma: float | None = None
) -> np.ndarray:
    """Richardson–Lucy deconvolution, started from the blurred image itself."""
    if iters < 1:
        raise DeblurError(f"Richardson–Lucy needs at least one iteration, got {iters}")
    return richardson_lucy_path(img01, kernel, [int(iters)], gamma)[int(iters)]


def richardson_lucy_path(
    img01: np.ndarray, kernel: np.ndarray, checkpoints: Sequence[int], gamma: float | None = None
) -> dict[int, np.ndarray]:
    """Richardson–Lucy estimates after each of `checkpoints` iterations, from one run (for tuning)."""
    stops = sorted({int(c) for c in checkpoints})
    if not stops or stops[0] < 1:
        raise DeblurError(f"Richardson–Lucy needs at least one iteration, got {list(checkpoints)}")
    img, squeeze = _as_hwc(img01)
    k = _check_kernel(kernel)
    y, (ph, pw), otf = _pad_and_taper(_linearise(img, gamma), k)
    y = np.maximum(y, 0.0)
    h, w = y.shape[:2]
    otf = otf[:, :, None]
    otf_t = np.conj(otf)  # the adjoint (flipped kernel)

    def conv(x: np.ndarray, f: np.ndarray) -> np.ndarray:
        return _irfft2(_rfft2(x, axes=(0, 1)) * f, s=(h, w), axes=(0, 1))

    x = y.copy()
    eps = 1e-6
    out: dict[int, np.ndarray] = {}
    for it in range(1, stops[-1] + 1):
        ratio = y / np.maximum(conv(x, otf), eps)
        x = x * np.maximum(conv(ratio, otf_t), 0.0)
        if it in stops:
            r = _encode(x[ph : ph + img.shape[0], pw : pw + img.shape[1]], gamma).astype(np.float32)
            out[it] = r[:, :, 0] if squeeze else r
    return out


# name -> (function, name of its tunable parameter, default value, grid searched by `tune`)
METHODS: dict[str, tuple[Callable[..., np.ndarray], str, float, Sequence[float]]] = {
    "wiener": (wiener, "nsr", DEFAULT_NSR, tuple(10.0 ** np.arange(-5.0, -0.75, 0.25))),
    "tikhonov": (tikhonov, "gamma_reg", DEFAULT_TIKHONOV_GAMMA, tuple(10.0 ** np.arange(-5.0, 0.25, 0.25))),
    "rl": (richardson_lucy, "iters", DEFAULT_RL_ITERS, (5, 10, 15, 20, 30, 40, 60, 80)),
}


def restore(method: str, img01: np.ndarray, kernel: np.ndarray, param: float | None = None,
            gamma: float | None = None) -> np.ndarray:
    """Run baseline `method` ('wiener', 'tikhonov', 'rl') with its parameter (default if None)."""
    if method not in METHODS:
        raise DeblurError(f"unknown baseline {method!r}; choose from {', '.join(METHODS)}")
    fn, pname, default, _ = METHODS[method]
    value = default if param is None else param
    if pname == "iters":
        value = int(value)
    return fn(img01, kernel, value, gamma=gamma)


@dataclass
class TuneResult:
    method: str
    param_name: str
    best: float
    best_psnr: float
    table: list[tuple[float, float]] = field(default_factory=list)  # (value, mean PSNR)
    seconds: float = 0.0


def tune(
    method: str,
    blurred: Sequence[np.ndarray],
    sharp: Sequence[np.ndarray],
    kernels: Sequence[np.ndarray],
    grid: Sequence[float] | None = None,
    gamma: float | None | Sequence[float | None] = None,
    refine: bool = True,
) -> TuneResult:
    """Pick the single parameter value (NSR, gamma or RL iterations) with the best mean PSNR on a set.

    Grid search in log space (quarter decades), then, for the continuous parameters, a finer pass around
    the winner. One value for the whole set, as a user without ground truth would have to choose it.
    `gamma` is one value for all images or one per image (a set that mixes linear-light and sRGB blur: each
    image is deconvolved in the domain it was blurred in).
    """
    if not (len(blurred) == len(sharp) == len(kernels)) or not blurred:
        raise DeblurError("tune needs the same positive number of blurred images, sharp images and kernels")
    _, pname, _, default_grid = METHODS.get(method, (None, None, None, None))
    if pname is None:
        raise DeblurError(f"unknown baseline {method!r}; choose from {', '.join(METHODS)}")
    gammas = list(gamma) if isinstance(gamma, Sequence) else [gamma] * len(blurred)
    if len(gammas) != len(blurred):
        raise DeblurError(f"tune got {len(gammas)} gammas for {len(blurred)} images")
    t0 = time.perf_counter()
    values = list(grid if grid is not None else default_grid)

    def score(v: float) -> float:
        return float(np.mean([psnr(restore(method, b, k, v, g), s)
                              for b, s, k, g in zip(blurred, sharp, kernels, gammas, strict=True)]))

    if method == "rl":
        # one run per image to the largest count, scored at every grid value on the way
        per_image = []
        for b, s, k, g in zip(blurred, sharp, kernels, gammas, strict=True):
            path = richardson_lucy_path(b, k, [int(v) for v in values], g)
            per_image.append({it: psnr(r, s) for it, r in path.items()})
        table = [(float(v), float(np.mean([p[int(v)] for p in per_image]))) for v in values]
    else:
        table = [(float(v), score(v)) for v in values]
    best_v, best_p = max(table, key=lambda t: t[1])
    if refine and pname != "iters" and best_v > 0:
        for v in best_v * 10.0 ** np.array([-0.125, 0.125]):
            table.append((float(v), score(v)))
        best_v, best_p = max(table, key=lambda t: t[1])
    table.sort()
    return TuneResult(method, pname, best_v, best_p, table, time.perf_counter() - t0)

"""Point-spread functions: camera-shake trajectories rasterised into blur kernels, and simple line kernels.

A PSF is the fraction of the exposure the image of a scene point spends on each pixel. Following Boracchi &
Foi (2012, Sec. II-B) each trajectory sample deposits equal weight with a bilinear (triangle) splat onto the
four pixels around it, which keeps sub-pixel motion (most shake kernels are a few pixels across) instead of
rounding it away; the PSF is then normalised to sum 1 so blurring preserves brightness.

Centring convention (shared with `deblur_tf.blur.ops` and `blur_numpy`): the kernel's centre of mass sits on
pixel (size // 2, size // 2), and blurring is convolution anchored at that pixel, the same as
`scipy.ndimage.convolve(..., origin=0)` for odd and even sizes alike. Because the bilinear splat preserves each
sample's position as the mean of its four weights, the PSF's centroid is exactly the trajectory's centroid, so a
blurred image is not shifted relative to its sharp counterpart (a shifted pair would teach a deblurring model to
translate, and cost PSNR for nothing).

Kernel size vs trajectory size: `size=None` crops the PSF to its support (the smallest odd square around the
centroid that holds it). A fixed `size` smaller than the trajectory either shrinks the trajectory about its
centroid until it fits (`fit="shrink"`, default: shape and centring kept, blur length reduced; with the default
parameters this touches about 1 % of kernels at size 31 and none at 64 for centred extents) or crops the tails and
renormalises (`fit="crop"`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from deblur_tf.blur.trajectory import RngLike, TrajectoryParams, as_generator, simulate

# DeblurGAN blurs each image with the PSF of one of these fractions of the exposure (Boracchi & Foi's T list
# without its smallest entry 1/100, which is nearly a point).
DEFAULT_EXPOSURES: tuple[float, ...] = (0.1, 0.5, 1.0)
MAX_KERNEL_SIZE = 256


def _check_size(size: int | None) -> None:
    if size is None:
        return
    if int(size) != size or not 1 <= size <= MAX_KERNEL_SIZE:
        raise ValueError(f"kernel size must be an integer in 1..{MAX_KERNEL_SIZE}, got {size!r}")


def _exposure_weights(n: int, m: int, exposure: np.ndarray) -> np.ndarray:
    """Equal weight on the samples inside each kernel's exposure, the last one partially (continuous in exposure)."""
    if np.any(~np.isfinite(exposure)) or np.any(exposure <= 0) or np.any(exposure > 1):
        raise ValueError(f"exposure must be in (0, 1], got {exposure}")
    # sample j covers the time interval [j, j+1) of m samples; exposure e keeps the first e*m of them
    covered = exposure[:, None] * m - np.arange(m)[None, :]
    return np.clip(covered, 0.0, 1.0)  # e > 0, so the first sample always has weight


def rasterise(
    traj: np.ndarray,
    size: int | None = None,
    exposure: float | np.ndarray = 1.0,
    fit: str = "shrink",
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `trajectory_to_psf` for (n, iters) trajectories; also returns each trajectory's shrink factor.

    The shrink factor is 1 where the trajectory fitted and < 1 where `fit="shrink"` had to scale it down.
    """
    _check_size(size)
    if fit not in ("shrink", "crop"):
        raise ValueError(f"fit must be 'shrink' or 'crop', got {fit!r}")
    traj = np.asarray(traj)
    if traj.ndim != 2 or traj.shape[1] < 1:
        raise ValueError(f"trajectories must have shape (n, iters), got {traj.shape}")
    n, m = traj.shape
    exposure = np.broadcast_to(np.asarray(exposure, np.float64), (n,))
    w = _exposure_weights(n, m, exposure)
    w /= w.sum(axis=1, keepdims=True)
    centroid = (w * traj).sum(axis=1, keepdims=True)
    d = traj - centroid
    used = w > 0
    reach = np.where(used, np.maximum(np.abs(d.real), np.abs(d.imag)), 0.0).max(axis=1)  # (n,)
    if size is None:
        size = 2 * int(math.ceil(float(reach.max()) - 1e-9)) + 1 if n else 1
        size = max(1, min(size, MAX_KERNEL_SIZE))
    half_lo = size // 2  # pixels available left/up of the anchor
    # a splat at offset d touches anchor + floor(d) .. anchor + floor(d) + 1, so offsets must stay within
    # [-half_lo, limit]; even sizes have one pixel less on the right/down side
    limit = float(size - 1 - size // 2)
    scale = np.ones(n)
    if fit == "shrink" and limit >= 0:
        over = reach > limit + 1e-9
        scale[over] = limit / reach[over] if limit > 0 else 0.0
    q = d * scale[:, None] + half_lo * (1 + 1j)

    # Bilinear splat onto a canvas with a one-pixel frame, so the four neighbours of every sample are valid
    # indices without per-corner masks; samples whose splat would fall outside the window (fit="crop", or
    # those left out by the exposure) get weight 0, and the frame is dropped afterwards.
    x, y = q.real, q.imag
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    inside = (x0 >= -1) & (x0 <= size - 1) & (y0 >= -1) & (y0 <= size - 1)
    wt = np.where(inside, w, 0.0)
    side = size + 2
    row = np.clip(y0, -1, size - 1).astype(np.int64) + 1
    col = np.clip(x0, -1, size - 1).astype(np.int64) + 1
    idx = row * side + col
    idx += np.arange(n, dtype=np.int64)[:, None] * (side * side)
    w_top, w_bottom = wt * (1 - fy), wt * fy
    total_len = n * side * side  # row, col <= size, so every neighbour stays inside its kernel's block
    psf = np.bincount(idx.ravel(), (w_top * (1 - fx)).ravel(), total_len)
    psf += np.bincount((idx + 1).ravel(), (w_top * fx).ravel(), total_len)
    psf += np.bincount((idx + side).ravel(), (w_bottom * (1 - fx)).ravel(), total_len)
    psf += np.bincount((idx + side + 1).ravel(), (w_bottom * fx).ravel(), total_len)
    psf = psf.reshape(n, side, side)[:, 1:-1, 1:-1]
    total = psf.sum(axis=(1, 2), keepdims=True)
    # "crop" may cut everything off a ring-shaped trajectory: fall back to a delta rather than divide by 0
    empty = total[:, 0, 0] <= 0
    if np.any(empty):
        psf[empty, half_lo, half_lo] = 1.0
        total[empty] = 1.0
    psf = (psf / total).astype(np.float32)
    # one more float32 normalisation so each kernel sums to 1 within float32 rounding
    psf /= psf.sum(axis=(1, 2), keepdims=True, dtype=np.float64).astype(np.float32)
    return psf, scale


def trajectory_to_psf(
    traj: np.ndarray, size: int | None = None, exposure: float = 1.0, fit: str = "shrink"
) -> np.ndarray:
    """Rasterise one trajectory (complex, shape (iters,)) into a float32 PSF of shape (size, size).

    `exposure` in (0, 1] is the fraction of the trajectory the shutter sees (Boracchi & Foi's T); the PSF sums
    to 1, is non-negative, and has its centroid on pixel (size // 2, size // 2). A (n, iters) array gives
    (n, size, size).
    """
    traj = np.asarray(traj)
    if traj.ndim == 1:
        return rasterise(traj[None], size, exposure, fit)[0][0]
    return rasterise(traj, size, exposure, fit)[0]


def per_item_generators(seed: int, indices: Sequence[int]) -> list[np.random.Generator]:
    """One generator per item derived from (seed, index), so item i's kernel never depends on the others."""
    return [np.random.default_rng([int(seed), int(i)]) for i in indices]


def random_kernel_bank(
    n: int,
    size: int | None = 31,
    rng: RngLike = None,
    params: TrajectoryParams | None = None,
    exposure: float | Sequence[float] | None = None,
    fit: str = "shrink",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`random_kernels` plus what was drawn for each kernel (exposure, shake strengths, shrink), for manifests."""
    _check_size(size)
    choices = exposure_choices(exposure)
    params = params or TrajectoryParams()
    if isinstance(rng, Sequence) and not isinstance(rng, str | bytes):
        gens: list[np.random.Generator] | np.random.Generator = [as_generator(g) for g in rng]
    else:
        gens = as_generator(rng)
    traj, drawn = simulate(n, params, gens)
    if choices is None:
        exp = np.full(n, float(exposure))  # type: ignore[arg-type]
    elif isinstance(gens, list):
        exp = np.array([g.choice(choices) for g in gens], np.float64)
    else:
        exp = gens.choice(np.asarray(choices), size=n)
    kernels, scale = rasterise(traj, size, exp, fit)
    info = dict(drawn)
    info["exposure"] = exp
    info["shrink"] = scale
    return kernels, info


def exposure_choices(exposure: float | Sequence[float] | None) -> tuple[float, ...] | None:
    """The fractions one is drawn from per kernel (ValueError outside (0, 1]), or None for one fixed fraction."""
    if exposure is None:
        return DEFAULT_EXPOSURES
    if np.ndim(exposure) == 0:
        return None
    choices = tuple(float(e) for e in exposure)  # type: ignore[union-attr]
    if not choices or not all(np.isfinite(e) and 0 < e <= 1 for e in choices):
        raise ValueError(f"exposure fractions must be in (0, 1], got {list(choices)}")
    return choices


def random_kernels(n: int, size: int | None = 31, rng: RngLike = None, params: TrajectoryParams | None = None,
                   exposure: float | Sequence[float] | None = None, fit: str = "shrink") -> np.ndarray:
    """`n` random camera-shake kernels, float32 (n, size, size): each non-negative, sums to 1, centred.

    `rng`: Generator, int seed (deterministic), None, or a sequence of n Generators (see
    `per_item_generators`). `exposure`: the fraction of the trajectory the shutter sees. None picks per kernel
    one of DEFAULT_EXPOSURES, as DeblurGAN does; a sequence picks per kernel one of its values (repeat a value to
    weight it: (0.5, 1.0) leaves out the 10 % cuts that make half of the kernels under 8 px, docs/BLUR.md).
    """
    return random_kernel_bank(n, size, rng, params, exposure, fit)[0]


def linear_motion_kernel(length: float, angle_deg: float, size: int | None = None) -> np.ndarray:
    """Uniform straight-line motion of `length` pixels at `angle_deg` (counter-clockwise from +x, y up).

    The simple kernel of a camera panning at constant speed; useful for tests and for classical baselines where
    the true kernel is known. Anti-aliased with the same bilinear splat as the shake kernels, centred the same
    way. `size=None` crops it to its support.
    """
    if not np.isfinite(length) or length < 0:
        raise ValueError(f"length must be >= 0 pixels, got {length}")
    _check_size(size)
    samples = max(2, int(math.ceil(length * 8)) + 1)
    t = np.linspace(-length / 2.0, length / 2.0, samples)
    a = math.radians(angle_deg)
    # image rows grow downward, so a counter-clockwise angle moves toward smaller row indices
    traj = t * math.cos(a) - 1j * t * math.sin(a)
    return trajectory_to_psf(traj, size, 1.0, fit="crop")


def kernel_to_image(kernel: np.ndarray) -> np.ndarray:
    """Scale a kernel to [0, 1] by its peak for viewing (the raw values are far too small to see)."""
    k = np.asarray(kernel, np.float32)
    peak = float(k.max())
    return k / peak if peak > 0 else k


EXTENT_THRESHOLD = 0.01


def kernel_extent(kernels: np.ndarray, threshold: float = EXTENT_THRESHOLD) -> np.ndarray:
    """Extent in pixels of each rasterised kernel: the longer side of the bounding box of the pixels that
    hold at least `threshold` (1 %) of that kernel's peak value.

    Why this definition: it is what a deconvolution has to cover and what the literature quotes as a kernel's
    "size" (Levin et al. 2009: 13-27 px; Lai et al. 2016: up to 75 px), measured on the kernel actually
    used, so shrinking to fit the window and the exposure cut are included; the 1 % floor ignores the faint
    bilinear halo a trajectory's ends leave. A delta is 1 px; a 10 px horizontal line about 11 px.
    """
    k = np.asarray(kernels, np.float64)
    if k.ndim not in (2, 3):
        raise ValueError(f"kernels must have shape (k, k) or (n, k, k), got {k.shape}")
    single = k.ndim == 2
    k = k[None] if single else k
    peak = k.max(axis=(1, 2), keepdims=True)
    on = k >= threshold * np.where(peak > 0, peak, np.inf)
    rows, cols = on.any(axis=2), on.any(axis=1)

    def span(mask: np.ndarray) -> np.ndarray:
        idx = np.arange(mask.shape[1])
        first = np.where(mask, idx, mask.shape[1]).min(axis=1)
        last = np.where(mask, idx, -1).max(axis=1)
        return np.maximum(last - first + 1, 0)

    out = np.maximum(span(rows), span(cols)).astype(np.int64)
    return out[0] if single else out

"""Random camera-shake trajectories (Boracchi & Foi 2012), the blur model DeblurGAN trains on.

Reference: G. Boracchi and A. Foi, "Modeling the Performance of Image Restoration From Motion Blur",
IEEE Trans. Image Processing 21(8), 2012, Sec. II-A. A particle starts at the origin with a random unit
velocity; at each of `iters` steps its velocity receives

    dv = impulse + expl * (gaussian_shake * n_t - centripetal * x_t) * step,    step = max_len / (iters - 1)

where n_t is complex standard normal noise, `centripetal * x_t` pulls the particle back toward where the
shake started, and the impulse (taken with probability `prob_big_shake * expl`) is `2 v exp(i(pi + u))`,
u ~ U(-0.5, 0.5): a sudden near-reversal like a hand jerk. The velocity is then renormalised to length
`step`, so every trajectory has path length exactly `max_len` (pixels) over the full exposure. The
per-trajectory strengths are drawn as in the paper and in DeblurGAN's generator when left as None:
expl ("anxiety") ~ 0.1 U(0,1), centripetal ~ 0.7 U(0,1), gaussian_shake ~ 10 U(0,1), prob_big_shake ~
0.2 U(0,1), initial direction ~ U(0, 2 pi).

Why vectorised over trajectories: the 2000-step recursion is inherently sequential in time, so a per-kernel
Python loop costs ~2000 numpy calls per kernel. Running the recursion once for a whole bank of `n`
trajectories (arrays of shape (n,)) amortises that overhead, which is what lets a training step draw 16 fresh
kernels without starving the GPU (see benchmarks/blur.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

RngLike = np.random.Generator | int | None | Sequence[np.random.Generator]


@dataclass(frozen=True)
class TrajectoryParams:
    """Parameters of the Boracchi & Foi shake model; None means "draw per trajectory as the paper does".

    canvas: the support (pixels) the paper rasterises onto; trajectories are returned with their bounding
        box centred in [0, canvas) so they can be drawn as-is on a canvas x canvas PSF.
    iters: number of time samples of the exposure (the paper's numT = 2000).
    max_len: path length in pixels of the whole exposure (the paper's MaxTotalLength = 60), or a range
        (low, high) to draw it uniformly per trajectory (`REALISTIC_SHAKE`).
    expl: "anxiety", scales the random and centripetal terms (None: 0.1 * U(0, 1)).
    centripetal: pull toward the start point (None: 0.7 * U(0, 1)).
    gaussian_shake: strength of the Gaussian velocity noise (None: 10 * U(0, 1)).
    prob_big_shake: probability (times expl) of an impulsive reversal per step (None: 0.2 * U(0, 1)).
    """

    canvas: int = 64
    iters: int = 2000
    max_len: float | tuple[float, float] = 60.0
    expl: float | None = None
    centripetal: float | None = None
    gaussian_shake: float | None = None
    prob_big_shake: float | None = None

    def __post_init__(self) -> None:
        if self.iters < 2:
            raise ValueError(f"TrajectoryParams.iters must be >= 2, got {self.iters}")
        lengths = self.max_len if isinstance(self.max_len, tuple | list) else (self.max_len,)
        if len(lengths) not in (1, 2) or not all(v > 0 for v in lengths) or lengths[0] > lengths[-1]:
            raise ValueError(f"TrajectoryParams.max_len must be > 0 pixels or a range (low, high), got {self.max_len}")
        if isinstance(self.max_len, list):
            object.__setattr__(self, "max_len", tuple(float(v) for v in self.max_len))
        if self.canvas < 1:
            raise ValueError(f"TrajectoryParams.canvas must be >= 1, got {self.canvas}")
        for name in ("expl", "centripetal", "gaussian_shake", "prob_big_shake"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"TrajectoryParams.{name} must be >= 0 or None (random), got {value}")

    def to_dict(self) -> dict:
        return asdict(self)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a Generator, an int seed or None (fresh entropy), so callers can pass whatever they hold."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def _draw(gen: np.random.Generator, n: int, params: TrajectoryParams) -> dict[str, np.ndarray]:
    """All random numbers of `n` trajectories, drawn up front in a fixed order (the order is the seed contract)."""
    steps = params.iters - 1

    def strength(value: float | None, scale: float) -> np.ndarray:
        u = gen.uniform(0.0, 1.0, n)  # always drawn, so a fixed value does not shift the other draws
        return np.full(n, float(value)) if value is not None else scale * u

    out = {
        "expl": strength(params.expl, 0.1),
        "centripetal": strength(params.centripetal, 0.7),
        "gaussian_shake": strength(params.gaussian_shake, 10.0),
        "prob_big_shake": strength(params.prob_big_shake, 0.2),
        "angle": gen.uniform(0.0, 2.0 * np.pi, n),
        "u_big": gen.uniform(0.0, 1.0, (n, steps)),
        "u_turn": gen.uniform(-0.5, 0.5, (n, steps)),
        "noise": gen.standard_normal((n, steps)) + 1j * gen.standard_normal((n, steps)),
    }
    if isinstance(params.max_len, tuple):  # drawn last, so fixed-length seeds keep their trajectories
        out["max_len"] = gen.uniform(params.max_len[0], params.max_len[1], n)
    else:
        out["max_len"] = np.full(n, float(params.max_len))
    return out


def random_trajectories(n: int, params: TrajectoryParams | None = None, rng: RngLike = None) -> np.ndarray:
    """Draw `n` camera-shake trajectories as complex positions (x = real, y = imag), shape (n, iters).

    `rng` is a numpy Generator, an int seed, None, or a sequence of `n` Generators (one per trajectory, so
    trajectory i depends only on its own generator: this is how `deblur-tf synth` makes image i's kernel
    depend on (seed, i) alone while still simulating all trajectories in one vectorised pass).
    """
    return simulate(n, params, rng)[0]


def simulate(
    n: int, params: TrajectoryParams | None = None, rng: RngLike = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`random_trajectories` plus the per-trajectory strengths it drew (for manifests), as (n,) arrays."""
    params = params or TrajectoryParams()
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    iters = params.iters
    if n == 0:
        empty = np.zeros(0)
        return np.zeros((0, iters), np.complex128), dict.fromkeys(
            ("expl", "centripetal", "gaussian_shake", "prob_big_shake", "angle", "max_len"), empty
        )
    if isinstance(rng, Sequence) and not isinstance(rng, str | bytes):
        if len(rng) != n:
            raise ValueError(f"got {len(rng)} generators for {n} trajectories")
        parts = [_draw(as_generator(g), 1, params) for g in rng]
        draws = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    else:
        draws = _draw(as_generator(rng), n, params)

    step = draws["max_len"] / (iters - 1)
    expl = draws["expl"]
    p_big = draws["prob_big_shake"] * expl
    # Per-step coefficients precomputed as (steps, n) arrays so the time loop only does a few vector ops.
    big = np.ascontiguousarray((draws["u_big"] < p_big[:, None]).T)
    u_turn = draws["u_turn"]  # the reversal angle is only evaluated on the rare steps that need it
    shake = np.ascontiguousarray(((expl * draws["gaussian_shake"] * step)[:, None] * draws["noise"]).T)
    pull = expl * draws["centripetal"] * step

    # Time-major buffers, row views taken once and in-place ufuncs: the loop is 7 small numpy calls per step
    # whatever n is (the per-call overhead, not arithmetic, is what costs here).
    x = np.zeros((iters, n), np.complex128)
    rows = list(x)
    shake_rows = list(shake)
    v = np.exp(1j * draws["angle"]) * step
    dv = np.empty(n, np.complex128)
    mag = np.empty(n, np.float64)
    any_big = big.any(axis=1).tolist()
    for t in range(iters - 1):
        xt = rows[t]
        jump = None
        if any_big[t]:  # impulse 2 v exp(i (pi + u)), from the velocity before this step's dv
            jump = np.where(big[t], 2.0 * np.exp(1j * (np.pi + u_turn[:, t])) * v, 0.0)
        np.multiply(pull, xt, out=dv)
        dv -= shake_rows[t]
        v -= dv  # v + gaussian shake - centripetal pull
        if jump is not None:
            v += jump
        # |v| = 0 would need dv to cancel v exactly, a probability-zero event for continuous noise
        np.abs(v, out=mag)
        np.divide(step, mag, out=mag)
        v *= mag
        np.add(xt, v, out=rows[t + 1])
    x = x.T
    # Centre each bounding box in the canvas, as the paper draws it on a canvas x canvas PSF.
    lo = x.real.min(axis=1) + 1j * x.imag.min(axis=1)
    hi = x.real.max(axis=1) + 1j * x.imag.max(axis=1)
    centre = (params.canvas - 1) / 2.0 * (1 + 1j)
    traj = x - ((lo + hi) / 2.0)[:, None] + centre
    drawn = {k: draws[k] for k in ("expl", "centripetal", "gaussian_shake", "prob_big_shake", "angle", "max_len")}
    return traj, drawn


# Real hand shake: Levin et al. 2009 measured 13-27 px kernel supports, Lai et al. 2016 up to 31-75 px. The
# paper's defaults give rasterised kernels (31 px window, random exposure) of median extent 6 px (90th
# percentile 12); a weak pull back to the start point and path lengths of 40-120 px give 9 px and 21 px (13 and
# 30 px over the whole exposure), rasterised on 63 px kernels so that the long ones are not shrunk. Measured by
# `deblur-tf kernels --shake NAME --stats 2000` (docs/BLUR.md).
REALISTIC_SHAKE = TrajectoryParams(canvas=64, max_len=(40.0, 120.0), centripetal=0.05)
SHAKE_PRESETS = {"boracchi": TrajectoryParams(), "realistic": REALISTIC_SHAKE}


def path_length(traj: np.ndarray) -> np.ndarray:
    """Length in pixels of each trajectory's path (sum of step lengths), shape traj.shape[:-1]."""
    return np.abs(np.diff(traj, axis=-1)).sum(axis=-1)


def extent(traj: np.ndarray) -> np.ndarray:
    """Largest side of each trajectory's bounding box in pixels: how big a kernel it needs."""
    w = traj.real.max(axis=-1) - traj.real.min(axis=-1)
    h = traj.imag.max(axis=-1) - traj.imag.min(axis=-1)
    return np.maximum(w, h)

"""PSF rasterisation and kernel banks: normalisation, centring, sizes, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from deblur_tf.blur import (
    TrajectoryParams,
    linear_motion_kernel,
    per_item_generators,
    random_kernel_bank,
    random_kernels,
    random_trajectories,
    trajectory_to_psf,
)


def _centroid(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[: k.shape[-2], : k.shape[-1]]
    return (k * yy).sum(axis=(-2, -1)), (k * xx).sum(axis=(-2, -1))


@pytest.mark.parametrize("size", [15, 31, 32, 64])
def test_random_kernels_sum_to_one_non_negative_and_centred(size):
    k = random_kernels(40, size=size, rng=0)
    assert k.shape == (40, size, size) and k.dtype == np.float32
    np.testing.assert_allclose(k.sum(axis=(1, 2), dtype=np.float64), 1.0, atol=1e-6)
    assert k.min() >= 0
    cy, cx = _centroid(k.astype(np.float64))
    np.testing.assert_allclose(cy, size // 2, atol=1e-3)
    np.testing.assert_allclose(cx, size // 2, atol=1e-3)


def test_same_seed_same_kernels_different_seed_different():
    a, b, c = random_kernels(8, rng=42), random_kernels(8, rng=42), random_kernels(8, rng=43)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_per_item_kernels_do_not_depend_on_the_rest_of_the_batch():
    batch = random_kernels(4, rng=per_item_generators(9, [0, 1, 2, 3]))
    alone = random_kernels(1, rng=per_item_generators(9, [3]))
    np.testing.assert_array_equal(batch[3], alone[0])


def test_longer_trajectories_give_wider_kernels():
    def spread(max_len: float) -> float:
        k = random_kernels(64, size=64, rng=1, params=TrajectoryParams(max_len=max_len), exposure=1.0)
        cy, cx = _centroid(k)
        yy, xx = np.mgrid[:64, :64]
        var = (k * ((yy - cy[:, None, None]) ** 2 + (xx - cx[:, None, None]) ** 2)).sum(axis=(1, 2))
        return float(np.median(var))

    assert spread(10) < spread(30) < spread(60)


def test_exposure_fraction_shortens_the_blur():
    traj = random_trajectories(1, TrajectoryParams(expl=0.0, max_len=40.0), rng=2)[0]  # straight line
    full = trajectory_to_psf(traj, 64, exposure=1.0)
    half = trajectory_to_psf(traj, 64, exposure=0.5)
    assert np.count_nonzero(full > 1e-6) > 1.8 * np.count_nonzero(half > 1e-6)
    tiny = trajectory_to_psf(traj, 9, exposure=1e-4)
    assert tiny[4, 4] > 0.99  # a vanishing exposure is a point


def test_sub_pixel_splat_is_bilinear():
    # a motionless trajectory a quarter pixel right of its centroid is impossible; use two points instead:
    # half the exposure at x = 0, half at x = 0.5 -> centroid 0.25 -> weights split over three pixels
    traj = np.array([0.0 + 0j] * 50 + [0.5 + 0j] * 50)
    k = trajectory_to_psf(traj, 5)
    row = k[2]
    assert k.sum() == pytest.approx(1.0, abs=1e-6) and np.allclose(np.delete(k, 2, axis=0), 0)
    np.testing.assert_allclose(row[1:4], [0.125, 0.75, 0.125], atol=1e-6)


def test_size_none_crops_to_support():
    traj = random_trajectories(1, TrajectoryParams(expl=0.0, max_len=20.0), rng=0)[0]
    k = trajectory_to_psf(traj)
    assert k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1 and k.shape[0] <= 23
    ys, xs = np.nonzero(k > 1e-7)
    c = k.shape[0] // 2
    assert max(np.abs(ys - c).max(), np.abs(xs - c).max()) >= c - 1


def test_too_long_trajectory_is_shrunk_or_cropped_to_the_window():
    traj = random_trajectories(1, TrajectoryParams(expl=0.0, max_len=60.0), rng=3)
    k, info = random_kernel_bank(1, size=21, rng=3, params=TrajectoryParams(expl=0.0, max_len=60.0),
                                 exposure=1.0)
    direction = traj[0, -1] - traj[0, 0]
    half_reach = 30.0 * max(abs(direction.real), abs(direction.imag)) / abs(direction)
    assert info["shrink"][0] == pytest.approx(10.0 / half_reach, rel=1e-6)  # the 21x21 window's half width
    cropped = trajectory_to_psf(traj[0], 21, fit="crop")
    for kern in (k[0], cropped):
        assert kern.sum() == pytest.approx(1.0, abs=1e-6)
    cy, cx = _centroid(k[0].astype(np.float64))
    assert (cy, cx) == pytest.approx((10.0, 10.0), abs=1e-3)


def test_default_exposures_are_drawn_per_kernel():
    _, info = random_kernel_bank(60, rng=0)
    assert set(np.round(info["exposure"], 3)) == {0.1, 0.5, 1.0}


@pytest.mark.parametrize("size", [7, 8])
def test_linear_motion_kernel_horizontal_and_vertical(size):
    h = linear_motion_kernel(4, 0, size)
    v = linear_motion_kernel(4, 90, size)
    c = size // 2
    assert h.sum() == pytest.approx(1, abs=1e-6) and v.sum() == pytest.approx(1, abs=1e-6)
    assert np.allclose(np.delete(h, c, axis=0), 0) and np.count_nonzero(h[c]) == 5
    np.testing.assert_allclose(v, h.T, atol=1e-7)
    cy, cx = _centroid(h.astype(np.float64))
    assert (cy, cx) == pytest.approx((c, c), abs=1e-5)


def test_linear_motion_kernel_diagonal_goes_up_right_and_zero_length_is_delta():
    d = linear_motion_kernel(6, 45, 9)
    assert d[1, 7] > 0 and d[7, 1] > 0 and d[1, 1] == 0 and d[7, 7] == 0
    z = linear_motion_kernel(0, 30, 5)
    assert z[2, 2] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [0, -3, 300, 2.5])
def test_bad_kernel_size_is_rejected(bad):
    with pytest.raises(ValueError, match="kernel size"):
        random_kernels(1, size=bad, rng=0)


def test_bad_exposure_is_rejected():
    with pytest.raises(ValueError, match="exposure"):
        random_kernels(1, rng=0, exposure=1.5)

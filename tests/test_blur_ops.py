"""`blur_images` (keras.ops, both backends) against independent references: scipy, OpenCV, physics."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest
from scipy import ndimage, signal

from deblur_tf.blur import blur_images, blur_numpy, linear_motion_kernel, random_kernels

METHODS = ["conv", "fft"]


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x))


def _scipy_blur(images: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Per-image, per-channel convolution anchored at k // 2 with reflect-101 ('mirror') borders."""
    return np.stack(
        [np.stack([ndimage.convolve(im[:, :, c], k, mode="mirror") for c in range(im.shape[2])], -1)
         for im, k in zip(images, kernels, strict=True)]
    )


@pytest.fixture
def images(rng) -> np.ndarray:
    return rng.uniform(0.0, 1.0, (3, 24, 28, 3)).astype(np.float32)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [1, 5, 6])
def test_delta_kernel_returns_the_image(images, method, size):
    delta = np.zeros((size, size), np.float32)
    delta[size // 2, size // 2] = 1.0
    for gamma in (None, 2.2):
        out = _np(blur_images(images, np.stack([delta] * 3), gamma=gamma, method=method))
        # The FFT's float32 round-off (~1e-7 absolute in linear light) is magnified by the inverse gamma in
        # near-black pixels: (1e-7) ** (1 / 2.2) ~ 7e-4, under a fifth of an 8-bit level.
        tol = 1e-3 if (method == "fft" and gamma) else 2e-5
        np.testing.assert_allclose(out, images, atol=tol)
        assert np.mean(np.abs(out - images)) < 2e-5


@pytest.mark.parametrize("method", METHODS)
def test_box_kernel_matches_scipy_and_opencv_on_the_interior(images, method):
    box = np.full((5, 5), 1 / 25, np.float32)
    out = _np(blur_images(images, box, gamma=None, method=method))
    for i in range(3):
        for c in range(3):
            ref_scipy = signal.convolve2d(images[i, :, :, c], box, mode="same")
            ref_cv = cv2.filter2D(images[i, :, :, c], -1, box)
            np.testing.assert_allclose(out[i, 2:-2, 2:-2, c], ref_scipy[2:-2, 2:-2], atol=1e-4)
            np.testing.assert_allclose(out[i, 2:-2, 2:-2, c], ref_cv[2:-2, 2:-2], atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", [7, 8])
def test_per_image_kernels_match_scipy_everywhere_including_borders(images, method, size):
    kernels = random_kernels(3, size=size, rng=5, exposure=1.0)
    out = _np(blur_images(images, kernels, gamma=None, method=method))
    np.testing.assert_allclose(out, _scipy_blur(images, kernels), atol=1e-5)


def test_fast_fft_len_is_the_smallest_7_smooth_length_not_below_n():
    from deblur_tf.blur.ops import fast_fft_len

    def smooth(m: int) -> bool:
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        return m == 1

    for n in range(1, 400):
        m = fast_fft_len(n)
        assert m >= n and smooth(m) and not any(smooth(j) for j in range(n, m)), n
    assert fast_fft_len(256 + 62) == 320  # the training crop with its 63-px kernel padding (318 = 2 * 3 * 53)


def test_shake_sized_kernel_on_a_prime_padded_size_matches_scipy(rng):
    """The FFT length is raised above the padded size (53 + 20 = 73, a prime, -> 75; 47 + 20 = 67 -> 70): the
    zeros after the image must not wrap into the rows that are kept."""
    images = rng.uniform(0.0, 1.0, (2, 53, 47, 3)).astype(np.float32)
    kernels = random_kernels(2, size=21, rng=9)
    out = _np(blur_images(images, kernels, gamma=None, method="fft"))
    np.testing.assert_allclose(out, _scipy_blur(images, kernels), atol=1e-5)


@pytest.mark.parametrize("size", [7, 8])
def test_numpy_twin_matches_scipy_and_the_keras_op_with_gamma(images, size):
    kernels = random_kernels(3, size=size, rng=6, exposure=1.0)
    np.testing.assert_allclose(blur_numpy(images, kernels, gamma=None), _scipy_blur(images, kernels), atol=1e-5)
    np.testing.assert_allclose(
        _np(blur_images(images, kernels, gamma=2.2)), blur_numpy(images, kernels, gamma=2.2), atol=1e-5
    )


def test_shared_kernel_equals_the_same_kernel_per_image(images):
    k = linear_motion_kernel(5, 30, 7)
    shared = _np(blur_images(images, k, method="conv"))
    per_image = _np(blur_images(images, np.stack([k] * 3), method="conv"))
    np.testing.assert_allclose(shared, per_image, atol=1e-6)


def test_each_image_gets_its_own_kernel(images):
    h, v = linear_motion_kernel(6, 0, 7), linear_motion_kernel(6, 90, 7)
    same = np.stack([images[0]] * 2)
    out = _np(blur_images(same, np.stack([h, v]), gamma=None, method="conv"))
    np.testing.assert_allclose(out[0], _scipy_blur(same[:1], h[None])[0], atol=1e-5)
    np.testing.assert_allclose(out[1], _scipy_blur(same[:1], v[None])[0], atol=1e-5)


def test_gamma_aware_blur_keeps_more_energy_in_a_highlight_streak():
    field = np.zeros((1, 15, 31, 3), np.float32)
    field[0, 7, 15] = 1.0  # a bright point on a dark field
    streak = linear_motion_kernel(9, 0, 11)
    plain = _np(blur_images(field, streak, gamma=None))
    aware = _np(blur_images(field, streak, gamma=2.2))
    assert plain.sum() == pytest.approx(3.0, rel=1e-4)  # plain blur conserves pixel-value sum
    assert aware.sum() > 2.0 * plain.sum()
    # and each streak pixel is the re-encoded kernel weight: k ** (1 / 2.2) instead of k
    np.testing.assert_allclose(aware[0, 7, 10:21, 0], streak[5] ** (1 / 2.2), atol=1e-3)


def test_reflect_borders_do_not_darken_the_frame():
    flat = np.full((2, 20, 20, 3), 0.7, np.float32)
    out = _np(blur_images(flat, random_kernels(2, size=15, rng=1), method="conv"))
    np.testing.assert_allclose(out, 0.7, atol=1e-5)


def test_noise_has_the_requested_std_and_is_seeded():
    grey = np.full((2, 64, 64, 3), 0.5, np.float32)
    k = linear_motion_kernel(3, 0, 3)
    a = _np(blur_images(grey, k, noise_std=0.05, seed=3))
    b = _np(blur_images(grey, k, noise_std=0.05, seed=3))
    c = _np(blur_images(grey, k, noise_std=0.05, seed=4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.01
    assert np.std(a - 0.5) == pytest.approx(0.05, rel=0.05)


def test_per_image_noise_std_and_clipping():
    grey = np.full((2, 32, 32, 3), 0.5, np.float32)
    k = np.ones((1, 1), np.float32)
    out = _np(blur_images(grey, k, noise_std=np.array([0.0, 1.0], np.float32), seed=1))
    np.testing.assert_allclose(out[0], 0.5, atol=1e-6)
    assert out[1].min() == 0.0 and out[1].max() == 1.0  # clipped
    raw = _np(blur_images(grey, k, noise_std=1.0, seed=1, clip=False))
    assert raw.min() < 0 and raw.max() > 1


@pytest.mark.parametrize("method", METHODS)
def test_runs_compiled_on_the_backend(images, method):
    """Inside jax.jit / tf.function, as a training step or tf.data map would call it."""
    kernels = random_kernels(3, size=9, rng=2)

    def f(x, k):
        return blur_images(x, k, noise_std=0.0, method=method)

    if keras.backend.backend() == "jax":
        import jax

        compiled = jax.jit(f)
    else:
        import tensorflow as tf

        compiled = tf.function(f)
    np.testing.assert_allclose(_np(compiled(images, kernels)), _np(f(images, kernels)), atol=1e-6)


def test_seed_generator_draws_fresh_noise_each_call():
    grey = np.full((1, 16, 16, 3), 0.5, np.float32)
    gen = keras.random.SeedGenerator(0)
    a = _np(blur_images(grey, np.ones((1, 1)), noise_std=0.1, seed=gen))
    b = _np(blur_images(grey, np.ones((1, 1)), noise_std=0.1, seed=gen))
    assert np.abs(a - b).max() > 0.01


def test_errors_name_the_problem(images):
    with pytest.raises(ValueError, match="2 kernels for 3 images"):
        blur_images(images, random_kernels(2, size=5, rng=0))
    with pytest.raises(ValueError, match="kernel too large"):
        blur_images(images[:, :8, :8], random_kernels(3, size=31, rng=0))
    with pytest.raises(ValueError, match="method"):
        blur_images(images, np.ones((3, 3)) / 9, method="spline")
    with pytest.raises(ValueError, match="NHWC"):
        blur_images(images[0], np.ones((3, 3)) / 9)


@pytest.mark.tf_only
@pytest.mark.parametrize("method", METHODS)
def test_tf_graph_with_unknown_image_size_and_in_tf_data(images, method):
    """tf.data pipelines trace with a dynamic height/width; per-element maps see a batch of one."""
    import tensorflow as tf

    kernels = random_kernels(3, size=9, rng=4)
    expected = _np(blur_images(images, kernels, method=method))
    spec = [tf.TensorSpec([3, None, None, 3]), tf.TensorSpec([3, 9, 9])]
    f = tf.function(lambda x, k: blur_images(x, k, method=method), input_signature=spec)
    np.testing.assert_allclose(f(images, kernels).numpy(), expected, atol=1e-6)
    ds = tf.data.Dataset.from_tensor_slices((images, kernels)).map(
        lambda x, k: blur_images(x[None], k[None], method=method)[0]
    )
    np.testing.assert_allclose(np.stack(list(ds.as_numpy_iterator())), expected, atol=1e-6)


def test_fft_engine_in_float64_keeps_its_dtype_and_agrees_with_float32(images):
    """`blur_numpy(engine="fft", dtype=float64)` is the classical filters' forward model: float64 all the way,
    gamma included, and the same blur as the float32 camera path and the direct engine."""
    kernels = random_kernels(3, size=7, rng=7, exposure=1.0)
    for gamma in (None, 2.2):
        f64 = blur_numpy(images, kernels, gamma=gamma, engine="fft", dtype=np.float64)
        assert f64.dtype == np.float64
        np.testing.assert_allclose(f64, blur_numpy(images, kernels, gamma=gamma, engine="fft"), atol=1e-4)
        np.testing.assert_allclose(f64, blur_numpy(images, kernels, gamma=gamma), atol=1e-4)


def test_fft_engine_border_modes_and_the_direct_engine_refuses_them(images):
    from scipy.signal import convolve2d

    k = linear_motion_kernel(5, 30, 7)
    out = blur_numpy(images[0], k, gamma=None, clip=False, engine="fft", border="constant", dtype=np.float64)
    ref = np.stack([convolve2d(images[0][..., c].astype(np.float64), k, mode="same", boundary="fill")
                    for c in range(3)], axis=-1)
    np.testing.assert_allclose(out, ref, atol=1e-10)
    with pytest.raises(ValueError, match="engine 'direct'"):
        blur_numpy(images, k, border="constant")

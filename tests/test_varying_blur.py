"""Spatially varying blur in the on-device camera model (camera_blur(varying_fraction=...)), issue 12.

Backend-independent: scripts/test.sh runs it under TensorFlow and under JAX.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from deblur_tf.blur import blur_images, camera_blur
from deblur_tf.config import ConfigError, load_pipeline


def _inputs(n: int = 6, size: int = 32, ksize: int = 7, delta: tuple[int, ...] = ()):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (n, size, size, 3)).astype("float32")
    k = np.zeros((n, ksize, ksize), "float32")
    for i in range(n):  # a horizontal or a vertical streak of random length: kernels that differ clearly
        length = int(rng.integers(3, ksize + 1))
        if i % 2:
            k[i, ksize // 2, :length] = 1.0
        else:
            k[i, :length, ksize // 2] = 1.0
    for i in delta:
        k[i] = 0.0
        k[i, ksize // 2, ksize // 2] = 1.0
    k /= k.sum(axis=(1, 2), keepdims=True)
    return x, k


def _np(t) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(t))


def _plain(x, k, seed, **kw):
    """camera_blur reduced to the blur itself: sRGB values, no noise, no rounding, no mean shift."""
    n = x.shape[0]
    return _np(camera_blur(x, k, gamma=np.ones(n, "float32"), noise_std=0.0, seed=seed, **kw))


def _weights(out, y1, y2):
    """Per pixel and channel the m of out = m*y1 + (1-m)*y2, where y1 and y2 differ enough to tell."""
    diff = y1 - y2
    ok = np.abs(diff) > 0.05
    return np.where(ok, (out - y2) / np.where(ok, diff, 1.0), np.nan)


@pytest.mark.parametrize("seed", ["int", "generator"])
def test_off_is_todays_output(seed):
    x, k = _inputs()
    kw = {"gamma": np.array([2.2, 1.0] * 3, "float32"), "noise_std": np.full(6, 0.01, "float32"),
          "quantize": True, "match_mean": True}

    def run(**extra):
        s = 5 if seed == "int" else keras.random.SeedGenerator(5)
        return _np(camera_blur(x, k, seed=s, **kw, **extra))

    np.testing.assert_array_equal(run(varying_fraction=0.0), run())


def test_every_image_interpolates_its_kernel_and_its_neighbours_across_the_frame():
    x, k = _inputs()
    out = _plain(x, k, 7, varying_fraction=1.0)
    y1 = _np(blur_images(x, k, gamma=None, clip=False))
    y2 = _np(blur_images(x, np.roll(k, 1, axis=0), gamma=None, clip=False))
    m = _weights(out, y1, y2)
    assert np.isfinite(m).mean() > 0.2
    assert np.nanmin(m) > -1e-3 and np.nanmax(m) < 1 + 1e-3  # a convex blend of the two blurs, pixel by pixel
    for i in range(len(x)):
        seen = m[i][np.any(np.isfinite(m[i]), axis=-1)]  # (pixels, 3) with at least one channel known
        mi = np.nanmean(seen, axis=-1)  # the same weight in the three channels
        assert np.nanmax(mi) - np.nanmin(mi) > 0.4, i  # it changes across the frame
        full = np.all(np.isfinite(m[i]), axis=-1)
        assert full.any() and np.max(np.std(m[i][full], axis=-1)) < 1e-3
    np.testing.assert_array_equal(_plain(x, k, 7, varying_fraction=1.0), out)  # seeded
    assert not np.array_equal(_plain(x, k, 8, varying_fraction=1.0), out)  # another seed, other ramps


def test_sharp_crops_stay_sharp_and_the_fraction_is_a_fraction():
    x, k = _inputs(n=6, delta=(2,))
    out = _plain(x, k, 1, varying_fraction=1.0)
    y1 = _np(blur_images(x, k, gamma=None, clip=False))
    # image 2 has a delta kernel and image 3 is paired with it: both keep their own uniform blur exactly
    np.testing.assert_allclose(out[2], x[2], atol=1e-6)
    np.testing.assert_allclose(out[3], y1[3], atol=1e-6)
    assert not np.allclose(out[4], y1[4], atol=1e-3)

    x, k = _inputs(n=32, size=16, ksize=5)
    y1 = _np(blur_images(x, k, gamma=None, clip=False))
    out = _plain(x, k, keras.random.SeedGenerator(0), varying_fraction=0.25)
    same = np.all(np.abs(out - y1) < 1e-6, axis=(1, 2, 3))
    assert 2 <= (~same).sum() <= 16  # about a quarter of 32


def test_bad_arguments_are_refused():
    x, k = _inputs()
    with pytest.raises(ValueError, match="varying_fraction"):
        _plain(x, k, 0, varying_fraction=1.5)
    with pytest.raises(ValueError, match="one kernel per image"):
        _plain(x, k[0], 0, varying_fraction=0.5)


def test_pipeline_option_reaches_the_trainers_blur():
    from deblur_tf.gan import DeblurGAN
    from deblur_tf.models import build_critic, build_generator
    from deblur_tf.run.build import camera_model

    base = camera_model(load_pipeline("nafnet-content"))
    assert "varying_fraction" not in base  # off by default: the same camera dict (and draws) as before
    cam = camera_model(load_pipeline("nafnet-content", ["data.varying_fraction=1.0"]))
    assert cam == {**base, "varying_fraction": 1.0}
    with pytest.raises(ConfigError, match="data.varying_fraction"):
        load_pipeline("nafnet-content", ["data.varying_fraction=2"])

    g = build_generator("nafnet", width=8, encoder_blocks=(1,), middle_blocks=1, decoder_blocks=(1,))
    gan = DeblurGAN(g, build_critic(ndf=4, n_layers=1), None, adversarial="none", perceptual_weight=0.0,
                    charbonnier_weight=1.0, camera={**cam, "srgb_fraction": 1.0, "saturation": 0.0,
                                                    "shot_noise": 0.0, "quantize": False, "match_mean": False})
    x, k = _inputs(n=4, size=32)
    z = np.zeros(4, "float32")
    out = (_np(gan._blur(ops.convert_to_tensor(x * 2 - 1), k, z, keras.random.SeedGenerator(0))) + 1) / 2
    y1 = _np(blur_images(x, k, gamma=None, clip=False))
    y2 = _np(blur_images(x, np.roll(k, 1, axis=0), gamma=None, clip=False))
    m = _weights(out, y1, y2)
    assert np.nanmin(m) > -1e-3 and np.nanmax(m) < 1 + 1e-3
    assert all(np.nanmax(m[i]) - np.nanmin(m[i]) > 0.4 for i in range(4))

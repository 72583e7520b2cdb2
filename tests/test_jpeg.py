"""JPEG compression in the on-device camera model (deblur_tf.blur.jpeg, camera_blur(jpeg_fraction=...)), issue 12.

Backend-independent: scripts/test.sh runs it under TensorFlow and under JAX.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
from keras import ops

from deblur_tf.blur import camera_blur, jpeg_compress
from deblur_tf.blur.jpeg import CHROMINANCE_TABLE, LUMINANCE_TABLE, _tables, dct_matrix, quality_tables
from deblur_tf.config import ConfigError, from_dict, load_pipeline

VAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sharp" / "val"
PHOTO = VAL / "set14_img_001.png"  # 480x500: the worst match to OpenCV of the 19 validation photos' crops


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def _photo_crop(h: int = 256, w: int = 256) -> np.ndarray:
    """An 8-bit BGR crop from the centre of a natural validation photo."""
    if not PHOTO.exists():
        pytest.skip(f"{PHOTO} is not here (shared data)")
    bgr = cv2.imread(str(PHOTO))
    top, left = (bgr.shape[0] - h) // 2, (bgr.shape[1] - w) // 2
    return np.ascontiguousarray(bgr[top:top + h, left:left + w])


def _rgb01(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., ::-1].astype(np.float32) / 255.0


def _cv2_jpeg(bgr: np.ndarray, quality: int, subsample: bool = True) -> np.ndarray:
    flags = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if not subsample:
        flags += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    ok, data = cv2.imencode(".jpg", bgr, flags)
    assert ok
    return _rgb01(cv2.imdecode(data, cv2.IMREAD_COLOR))


def _sim(rgb01: np.ndarray, quality, subsample: bool = True) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(jpeg_compress(rgb01[None], quality, subsample=subsample)))[0]


# ------------------------------------------------------------------------------------------ the codec
def test_dct_matrix_is_orthonormal_dct_ii():
    d = dct_matrix()
    np.testing.assert_allclose(d @ d.T, np.eye(8), atol=1e-6)
    np.testing.assert_allclose(d[0], np.full(8, np.sqrt(1 / 8)), atol=1e-7)
    assert d[1, 0] == pytest.approx(0.5 * np.cos(np.pi / 16), abs=1e-7)


def test_quality_tables_follow_the_ijg_scaling():
    ref = quality_tables(np.array([10, 50, 75, 100]))
    np.testing.assert_array_equal(ref[1, 0], LUMINANCE_TABLE)  # q50 is the Annex K table itself
    np.testing.assert_array_equal(ref[1, 1], CHROMINANCE_TABLE)
    assert ref[0, 0, 0, 0] == (16 * 500 + 50) // 100  # q10: scale 5000 / 10
    assert ref[2, 0, 0, 1] == (11 * 50 + 50) // 100  # q75: scale 200 - 150
    assert (ref[3] == 1).all()  # q100: scale 0, clipped to 1
    lum, chrom = _tables(ops, np.array([10, 50, 75, 100], "float32"))
    np.testing.assert_array_equal(ops.convert_to_numpy(lum)[:, 0, 0], ref[:, 0])
    np.testing.assert_array_equal(ops.convert_to_numpy(chrom)[:, 0, 0], ref[:, 1])


def test_quality_100_without_subsampling_is_near_lossless():
    rgb = _rgb01(_photo_crop(64, 64))
    out = _sim(rgb, 100, subsample=False)
    # not exactly lossless even in a real codec: the 8-bit YCbCr samples alone move saturated colours by up
    # to 4 levels (libjpeg's q100 4:4:4 as well, on this crop: max 4, mean 0.48 levels; this model: 4, 0.45)
    err = np.abs(out - rgb) * 255
    assert err.max() <= 4.0 + 1e-3 and err.mean() < 0.6
    assert (err <= 2.0 + 1e-3).mean() > 0.99
    np.testing.assert_allclose(out * 255, np.round(out * 255), atol=1e-3)  # 8-bit levels


def test_quality_10_is_blocky():
    rgb = _rgb01(_photo_crop(128, 128))
    out = _sim(rgb, 10)
    assert _psnr(out, rgb) < 28
    edge = np.arange(127) % 8 == 7  # steps between pixel 8i + 7 and 8i + 8 cross a block edge

    def ratios(img):  # mean step across block edges / inside blocks, between columns and between rows
        cols = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))
        rows = np.abs(np.diff(img, axis=0)).mean(axis=(1, 2))
        return cols[edge].mean() / cols[~edge].mean(), rows[edge].mean() / rows[~edge].mean()

    assert max(ratios(rgb)) < 1.1  # the photo has no grid (0.97, 0.99)
    assert min(ratios(out)) > 1.5  # q10: 2.0 and 4.4, as libjpeg's (2.0, 4.3)
    assert max(ratios(_sim(rgb, 90))) < 1.1


@pytest.mark.parametrize("quality, floor", [(50, 40.0), (90, 40.0)])
def test_matches_opencv_jpeg(quality, floor):
    """cv2 (libjpeg-turbo, 4:2:0 for colour) is the reference. Measured on this crop: 43.5 dB at q50, 43.9 dB
    at q90; a transposed luminance table gives 33.7 / 37.0, the luminance table on chroma 33.2 / 37.6 and a
    transposed DCT 26.4 / 32.0, so 40 dB separates them."""
    bgr = _photo_crop()
    rgb = _rgb01(bgr)
    ref = _cv2_jpeg(bgr, quality)
    out = _sim(rgb, quality)
    assert _psnr(out, ref) > floor
    assert abs(_psnr(out, rgb) - _psnr(ref, rgb)) < 0.5  # the same loss of quality as the real codec


def test_matches_opencv_444_and_odd_sizes():
    bgr = _photo_crop(101, 75)  # not whole MCUs: edge replication, chroma of the image proper
    rgb = _rgb01(bgr)
    assert _psnr(_sim(rgb, 75), _cv2_jpeg(bgr, 75)) > 40
    assert _psnr(_sim(rgb, 75, subsample=False), _cv2_jpeg(bgr, 75, subsample=False)) > 40


def test_per_image_quality():
    rgb = _rgb01(_photo_crop(64, 64))
    both = np.asarray(ops.convert_to_numpy(jpeg_compress(np.stack([rgb, rgb]), np.array([20.0, 95.0]))))
    np.testing.assert_array_equal(both[0], _sim(rgb, 20))
    np.testing.assert_array_equal(both[1], _sim(rgb, 95))
    assert _psnr(both[1], rgb) > _psnr(both[0], rgb) + 3  # 27.2 vs 23.2 dB (4:2:0 caps the first)


# ------------------------------------------------------------------------------------------ in camera_blur
def _camera_inputs(n: int = 6, size: int = 48):
    rng = np.random.default_rng(1)
    x = np.clip(rng.normal(0.5, 0.2, (n, size // 4, size // 4, 3)), 0, 1).astype("float32")
    x = np.repeat(np.repeat(x, 4, axis=1), 4, axis=2)  # piecewise flat, so JPEG changes it visibly
    k = rng.uniform(0, 1, (n, 5, 5)).astype("float32")
    k /= k.sum(axis=(1, 2), keepdims=True)
    kw = {"gamma": np.where(np.arange(n) % 2 == 0, 2.2, 1.0).astype("float32"),
          "boost": np.full(n, 1.5, "float32"), "noise_std": np.full(n, 0.01, "float32"),
          "shot_noise": np.full(n, 0.001, "float32"), "quantize": True, "match_mean": True}
    return x, k, kw


@pytest.mark.parametrize("seed", ["int", "generator"])
def test_camera_jpeg_is_seeded_and_leaves_the_other_draws_alone(seed):
    x, k, kw = _camera_inputs()

    def run(**extra):
        s = 5 if seed == "int" else keras.random.SeedGenerator(5)
        return np.asarray(ops.convert_to_numpy(camera_blur(x, k, seed=s, **kw, **extra)))

    plain = run()
    np.testing.assert_array_equal(run(jpeg_fraction=0.0), plain)  # off: exactly today's output
    a = run(jpeg_fraction=0.5, jpeg_quality=(20, 40))
    np.testing.assert_array_equal(run(jpeg_fraction=0.5, jpeg_quality=(20, 40)), a)  # same seed, same output
    kept = np.all(a == plain, axis=(1, 2, 3))
    # the images left uncompressed have exactly the blur and noise of the run without JPEG, the others not
    assert kept.any() or (~kept).any()
    for i in np.flatnonzero(~kept):
        assert 20 < _psnr(a[i], plain[i]) < 45
    every = run(jpeg_fraction=1.0, jpeg_quality=(20, 40))
    assert not np.all(every == plain, axis=(1, 2, 3)).any()
    np.testing.assert_allclose(every * 255, np.round(every * 255), atol=1e-3)
    np.testing.assert_array_equal(every[~kept], a[~kept])  # the same quality draws, fraction apart


def test_camera_jpeg_fraction_and_quality_range():
    x, k, kw = _camera_inputs(n=32, size=16)
    s = keras.random.SeedGenerator(0)
    plain = np.asarray(ops.convert_to_numpy(camera_blur(x, k, seed=keras.random.SeedGenerator(0), **kw)))
    out = np.asarray(ops.convert_to_numpy(camera_blur(x, k, seed=s, jpeg_fraction=0.25, jpeg_quality=(50, 50),
                                                      **kw)))
    changed = ~np.all(out == plain, axis=(1, 2, 3))
    assert 2 <= changed.sum() <= 16  # about a quarter of 32
    fixed = np.asarray(ops.convert_to_numpy(jpeg_compress(plain[changed], 50.0)))
    np.testing.assert_array_equal(out[changed], fixed)  # lo = hi: exactly that quality
    with pytest.raises(ValueError, match="jpeg_quality"):
        camera_blur(x, k, seed=0, jpeg_fraction=0.5, jpeg_quality=(90, 60), **kw)


def test_trainer_blurs_with_jpeg_on_the_device():
    from deblur_tf.gan import DeblurGAN
    from deblur_tf.models import build_critic, build_generator
    from deblur_tf.run.build import camera_model

    base = camera_model(load_pipeline("nafnet-content"))
    assert "jpeg_fraction" not in base  # off by default: the same camera dict (and draws) as before
    cam = camera_model(load_pipeline("nafnet-content", ["data.jpeg_fraction=1.0", "data.jpeg_quality=[10, 10]"]))
    assert cam == {**base, "jpeg_fraction": 1.0, "jpeg_quality": (10, 10)}
    g = build_generator("nafnet", width=8, encoder_blocks=(1,), middle_blocks=1, decoder_blocks=(1,))
    gan = DeblurGAN(g, build_critic(ndf=4, n_layers=1), None, adversarial="none", perceptual_weight=0.0,
                    charbonnier_weight=1.0, camera=cam)
    x, k, _ = _camera_inputs(n=2, size=32)
    out = ops.convert_to_numpy(gan._blur(ops.convert_to_tensor(x * 2 - 1), k, np.zeros(2, "float32"),
                                         keras.random.SeedGenerator(0)))
    gan.camera = base
    ref = ops.convert_to_numpy(gan._blur(ops.convert_to_tensor(x * 2 - 1), k, np.zeros(2, "float32"),
                                         keras.random.SeedGenerator(0)))
    want = _sim_batch((np.asarray(ref) + 1) / 2, 10)  # the same blur and noise, then JPEG at q10
    np.testing.assert_array_equal(np.round((np.asarray(out) + 1) / 2 * 255), np.round(want * 255))
    assert not np.array_equal(np.round((np.asarray(ref) + 1) / 2 * 255), np.round(want * 255))
    # and inside the compiled step (static crop size when traced)
    gan.camera = cam
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    logs = gan.train_on_batch({"sharp": x * 2 - 1, "kernel": k, "noise_std": np.full(2, 0.01, "float32")},
                              return_dict=True)
    assert np.isfinite(float(logs["g_content"]))


def _sim_batch(x01: np.ndarray, quality: int) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(jpeg_compress(x01, float(quality))))


# ------------------------------------------------------------------------------------------ config
def test_jpeg_config_is_recorded_and_validated():
    cfg = load_pipeline("nafnet-content", ["data.jpeg_fraction=0.5", "data.jpeg_quality=[60, 95]"])
    text = cfg.to_toml()
    assert "jpeg_fraction = 0.5" in text and "jpeg_quality = [60, 95]" in text
    again = from_dict(tomllib.loads(text))
    assert again.data.jpeg_fraction == 0.5 and again.data.jpeg_quality == [60, 95]
    assert load_pipeline("nafnet-content").data.jpeg_fraction == 0.0
    for item, key in (("data.jpeg_fraction=1.5", "data.jpeg_fraction"),
                      ("data.jpeg_fraction=-0.1", "data.jpeg_fraction"),
                      ("data.jpeg_quality=[0, 90]", "data.jpeg_quality"),
                      ("data.jpeg_quality=[60, 101]", "data.jpeg_quality"),
                      ("data.jpeg_quality=[95, 60]", "data.jpeg_quality"),
                      ("data.jpeg_quality=[75]", "data.jpeg_quality"),
                      ("data.jpeg_quality=[60.5, 90]", "data.jpeg_quality")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_pipeline("nafnet-content", [item])

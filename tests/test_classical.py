import numpy as np
import pytest

from deblur_tf.classical import blur_fft, psf2otf, restore, richardson_lucy, tikhonov, tune, wiener
from deblur_tf.errors import DeblurError
from deblur_tf.metrics import psnr


def smooth_image(h=96, w=128, sigma=3.0, seed=0):
    """Gaussian-smoothed noise: smooth, yet with enough detail at the blur's scale for blur to cost >5 dB."""
    import cv2

    noise = np.random.default_rng(seed).standard_normal((h, w, 3))
    s = cv2.GaussianBlur(noise, (0, 0), sigma)
    return 0.5 + 0.35 * s / np.abs(s).max()


def motion_kernel(size=15):
    k = np.zeros((size, size))
    for i in range(size):
        k[size // 2 + int(round(3 * np.sin(i / 3.0))), i] = 1.0
    k[size // 2 - 2 : size // 2 + 1, 3] += 0.5  # asymmetric: a flipped or shifted kernel would not fit
    return k / k.sum()


def test_psf2otf_centre_is_at_origin():
    k = np.zeros((5, 5))
    k[2, 2] = 1.0  # a centred delta must be the identity filter: OTF == 1 everywhere
    np.testing.assert_allclose(psf2otf(k, (16, 16)), 1.0, atol=1e-12)
    k2 = np.zeros((5, 5))
    k2[2, 3] = 1.0  # shifted delta: pure phase, |OTF| == 1 but not 1
    otf = psf2otf(k2, (16, 16))
    np.testing.assert_allclose(np.abs(otf), 1.0, atol=1e-12)
    assert np.abs(otf - 1).max() > 0.1


def test_blur_fft_is_a_true_convolution(rng):
    from scipy.signal import convolve2d

    img = rng.random((40, 50))
    k = motion_kernel(7)
    ours = blur_fft(img, k, pad_mode="constant")
    ref = convolve2d(img, k, mode="same", boundary="fill")
    np.testing.assert_allclose(ours, ref, atol=1e-10)


def test_wiener_true_kernel_restores_smooth_image_above_35db(rng):
    sharp = smooth_image()
    k = motion_kernel()
    blurred = blur_fft(sharp, k) + 1e-4 * rng.standard_normal(sharp.shape)
    assert psnr(blurred, sharp) < 30
    restored = wiener(blurred, k, nsr=1e-3)
    assert restored.shape == sharp.shape
    assert psnr(restored, sharp) > 35
    # the same filter with the kernel's centre off by two pixels must do clearly worse (centring matters)
    shifted = np.pad(k, ((0, 4), (0, 4)))
    assert psnr(wiener(blurred, shifted, nsr=1e-3), sharp) < psnr(restored, sharp) - 5


def test_tikhonov_and_rl_improve_on_blur(rng):
    sharp = smooth_image()
    k = motion_kernel()
    blurred = np.clip(blur_fft(sharp, k) + 1e-3 * rng.standard_normal(sharp.shape), 0, 1)
    base = psnr(blurred, sharp)
    assert psnr(tikhonov(blurred, k, 1e-3), sharp) > base + 5
    assert psnr(richardson_lucy(blurred, k, 30), sharp) > base + 3


def test_linear_light_option_inverts_gamma_blur(rng):
    sharp = smooth_image()
    k = motion_kernel()
    blurred = np.clip(blur_fft(sharp**2.2, k), 0, 1) ** (1 / 2.2)
    lin = psnr(wiener(blurred, k, 1e-3, gamma=2.2), sharp)
    assert lin > 35
    assert lin > psnr(wiener(blurred, k, 1e-3), sharp) + 1


def test_edge_taper_prevents_border_ringing():
    # a non-periodic image (bright left, dark right): a plain FFT filter rings at the borders (wrap-around)
    img = smooth_image(64, 80) * 0.3 + np.linspace(0.7, 0.0, 80)[None, :, None]
    k = motion_kernel()
    blurred = blur_fft(img, k)
    err = np.abs(wiener(blurred, k, 1e-3) - img)
    h = psf2otf(k, blurred.shape[:2])[:, :, None]
    plain = np.fft.irfft2(np.fft.rfft2(blurred, axes=(0, 1)) * np.conj(h) / (np.abs(h) ** 2 + 1e-3),
                          s=blurred.shape[:2], axes=(0, 1))
    plain_err = np.abs(plain - img)
    assert err[:, :6].mean() < 5 * err[:, 30:50].mean()  # borders about as good as the middle
    assert plain_err[:, :6].mean() > 5 * err[:, :6].mean()  # and much better than without the padding


def test_tune_picks_best_grid_value(rng):
    sharp = [smooth_image(64, 64), smooth_image(64, 80)[::-1].copy()]
    k = motion_kernel(9)
    blurred = [np.clip(blur_fft(s, k) + 0.01 * rng.standard_normal(s.shape), 0, 1) for s in sharp]
    res = tune("wiener", blurred, sharp, [k, k], grid=[1e-6, 1e-2, 1.0], refine=False)
    assert res.best == max(res.table, key=lambda t: t[1])[0]
    assert res.best == 1e-2  # heavy noise: neither no regularisation nor total smoothing wins
    manual = np.mean([psnr(restore("wiener", b, k, 1e-2), s) for b, s in zip(blurred, sharp, strict=True)])
    assert res.best_psnr == pytest.approx(manual)


def test_bad_kernel_and_method_are_named():
    img = smooth_image(32, 32)
    with pytest.raises(DeblurError, match="kernel"):
        wiener(img, np.zeros((3, 3)))
    with pytest.raises(DeblurError, match="unknown baseline 'foo'"):
        restore("foo", img, np.ones((3, 3)))

import numpy as np
import pytest

from deblur_tf.errors import DeblurError
from deblur_tf.metrics import (
    LPIPS,
    LPIPS_LAYERS,
    LPIPS_SCALE,
    LPIPS_SHIFT,
    block_edge_ratio,
    load_lpips_weights,
    psnr,
    psnr_mean_matched,
    ssim,
)


def _pair(rng, shape=(40, 53, 3), noise=0.08):
    a = rng.random(shape)
    b = np.clip(a + noise * rng.standard_normal(shape), 0, 1)
    return a, b


def _u8(x):
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def test_psnr_ssim_match_skimage(rng):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    for noise in (0.02, 0.2):
        a, b = _pair(rng, noise=noise)
        ua, ub = _u8(a), _u8(b)
        assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(ua, ub, data_range=255), abs=0.01)
        ref = structural_similarity(ua, ub, data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False)
        assert ssim(a, b) == pytest.approx(ref, abs=0.001)


@pytest.mark.tf_only
def test_psnr_ssim_match_tf_image(rng):
    import tensorflow as tf

    for noise in (0.02, 0.2):
        a, b = _pair(rng, shape=(33, 47, 3), noise=noise)
        ua, ub = _u8(a), _u8(b)
        assert psnr(a, b) == pytest.approx(float(tf.image.psnr(ua, ub, 255)), abs=0.01)
        assert ssim(a, b) == pytest.approx(float(tf.image.ssim(ua, ub, 255)), abs=0.001)


def test_metrics_quantise_to_8_bit_first(rng):
    a = rng.random((20, 20, 3))
    # a difference below half an 8-bit level vanishes after quantisation, as in a saved PNG
    assert psnr(a, np.clip(a + 0.1 / 255, 0, 1)) > psnr(a, np.clip(a + 1.0 / 255, 0, 1))
    assert ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a) == float("inf")


def test_mean_matched_psnr_ignores_a_global_tint_but_not_structure(rng):
    sharp = 0.2 + 0.6 * rng.random((30, 40, 3))
    tint = np.array([6.0, 0.0, -4.0]) / 255.0  # a reference exposed / white-balanced differently
    tinted = sharp + tint
    assert psnr(sharp, tinted) < 40  # plain PSNR charges the tint
    assert psnr_mean_matched(sharp, tinted) == float("inf")  # the structure is identical
    noisy = np.clip(sharp + 0.03 * rng.standard_normal(sharp.shape), 0, 1)
    # a structural error costs the same either way (its own mean is ~0)
    assert psnr_mean_matched(noisy, sharp) == pytest.approx(psnr(noisy, sharp), abs=0.05)
    assert psnr_mean_matched(noisy + tint, sharp) == pytest.approx(psnr(noisy, sharp), abs=0.05)
    with pytest.raises(DeblurError, match="HxWx3"):
        psnr_mean_matched(sharp[..., :2], tinted[..., :2])


def _smooth_photo(rng, size=128):
    import cv2

    img = cv2.GaussianBlur(rng.random((size, size, 3)).astype(np.float32), (0, 0), 2.0)
    return (img - img.min()) / (img.max() - img.min())


def test_block_edge_ratio_sees_jpeg_blocks_and_not_a_clean_image(rng):
    import cv2

    clean = _smooth_photo(rng)
    assert abs(block_edge_ratio(clean) - 1.0) < 0.1
    ok, buf = cv2.imencode(".jpg", _u8(clean), [cv2.IMWRITE_JPEG_QUALITY, 10])
    assert ok
    coded = cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float64) / 255.0
    assert block_edge_ratio(coded) > 1.3
    # the grid is at 8 px: measured at another period, the same JPEG shows no blocks
    assert abs(block_edge_ratio(coded, block=7) - 1.0) < 0.1


def test_block_edge_ratio_rejects_what_it_cannot_measure(rng):
    with pytest.raises(DeblurError, match="block_edge_ratio"):
        block_edge_ratio(rng.random((10, 40, 3)))
    with pytest.raises(DeblurError, match="block >= 2"):
        block_edge_ratio(rng.random((40, 40)), block=1)


def test_size_mismatch_is_an_error(rng):
    with pytest.raises(DeblurError, match="differ in size"):
        psnr(rng.random((10, 10, 3)), rng.random((10, 11, 3)))
    with pytest.raises(DeblurError, match="at least 11x11"):
        ssim(rng.random((8, 30, 3)), rng.random((8, 30, 3)))


# ----------------------------------------------------------------------------------- LPIPS vs numpy reference


def _np_conv3x3_relu(x, k, b):
    """'same' 3x3 convolution (cross-correlation, as Keras/PyTorch) + ReLU, by shifted matrix products."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, k.shape[-1]))
    for dy in range(3):
        for dx in range(3):
            out += xp[dy : dy + h, dx : dx + w] @ k[dy, dx]
    return np.maximum(out + b, 0.0)


def _np_lpips(a01, b01, weights):
    def feats(img):
        x = ((img * 2.0 - 1.0) - LPIPS_SHIFT.astype(np.float64)) / LPIPS_SCALE.astype(np.float64)
        out = []
        for block, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)):
            if block > 1:  # 2x2 max pooling, stride 2, odd sizes floored
                h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
                x = x[:h, :w].reshape(h // 2, 2, w // 2, 2, -1).max(axis=(1, 3))
            for i in range(1, n + 1):
                name = f"block{block}_conv{i}"
                x = _np_conv3x3_relu(x, weights[f"{name}/kernel"].astype(np.float64),
                                     weights[f"{name}/bias"].astype(np.float64))
            out.append(x)
        return out

    total = 0.0
    for i, (fa, fb) in enumerate(zip(feats(a01), feats(b01), strict=True)):
        na = fa / (np.sqrt((fa**2).sum(-1, keepdims=True)) + 1e-10)
        nb = fb / (np.sqrt((fb**2).sum(-1, keepdims=True)) + 1e-10)
        lin = weights[f"lpips_lin{i}/kernel"].reshape(-1).astype(np.float64)
        total += ((na - nb) ** 2 @ lin).mean()
    return total


def test_lpips_matches_numpy_reference(shared, rng):
    path = shared / "weights" / "vgg16_imagenet_lpips.npz"
    weights = load_lpips_weights(path)
    metric = LPIPS(path)
    a = rng.random((34, 38, 3)).astype(np.float32)
    b = np.clip(a + 0.15 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    ours = metric(a, b)
    ref = _np_lpips(a.astype(np.float64), b.astype(np.float64), weights)
    assert ours == pytest.approx(ref, abs=1e-4)
    assert ours > 0.01
    assert metric(a, a) == pytest.approx(0.0, abs=1e-6)
    # more distortion, larger distance
    c = np.clip(a + 0.4 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    assert metric(a, c) > ours


def test_lpips_missing_weights_named(tmp_path):
    with pytest.raises(DeblurError, match="nope.npz"):
        LPIPS(tmp_path / "nope.npz")
    assert LPIPS_LAYERS[-1] == "block5_conv3"

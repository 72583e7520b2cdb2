"""Image-quality metrics as the deblurring literature reports them.

PSNR and SSIM are computed on 8-bit RGB in [0, 255] over the whole image: both images are first quantised to
uint8 (rounding), exactly as a result saved to PNG would be, so numbers are comparable with published tables
and with `tf.image.psnr/ssim` and `skimage.metrics` (the tests check both). SSIM follows Wang et al. (2004):
11x11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, population (biased) variances, "valid" filtering (no
border padding), mean over pixels then over the three channels.

LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018),
VGG variant, from the offline weights in ../shared/weights/vgg16_imagenet_lpips.npz: VGG16 activations after
relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; each unit-normalised over channels; squared difference; a learned
non-negative 1x1 "lin" head per layer; spatial mean; sum over the five layers. Lower is better.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from deblur_tf.errors import DeblurError
from deblur_tf.io import load_npz

LPIPS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3")
# LPIPS's ScalingLayer: inputs in [-1, 1] are shifted and scaled to roughly ImageNet statistics.
LPIPS_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
LPIPS_SCALE = np.array([0.458, 0.448, 0.450], np.float32)


def default_lpips_weights() -> Path:
    """Where the shared LPIPS weights live: $DEBLUR_SHARED/weights or ../shared/weights beside the checkout."""
    root = Path(os.environ.get("DEBLUR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return root / "weights" / "vgg16_imagenet_lpips.npz"


def _as_uint8(img01: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img01)
    if img.dtype == np.uint8:
        return img
    if img.ndim not in (2, 3):
        raise DeblurError(f"{name}: expected an HxWx3 image, got shape {img.shape}")
    return np.round(np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def _pair_uint8(a01: np.ndarray, b01: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_uint8(a01, "first image"), _as_uint8(b01, "second image")
    if a.shape != b.shape:
        raise DeblurError(f"images differ in size: {a.shape} vs {b.shape}; compare images of the same size")
    return a, b


def psnr(a01: np.ndarray, b01: np.ndarray) -> float:
    """PSNR in dB of two float [0, 1] (or uint8) RGB images after quantising both to 8 bits.

    Identical images give +inf, as `tf.image.psnr` and `skimage` do.
    """
    a, b = _pair_uint8(a01, b01)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def channel_mean_shift(restored01: np.ndarray, reference01: np.ndarray) -> np.ndarray:
    """Per-channel mean of `restored - reference` in 8-bit levels (R, G, B).

    A deblurring network should sharpen, not recolour: a GAN generator drifting the global tint by a few levels
    is visible on flat skies and skin even when PSNR hardly moves, so this is checked on its own.
    """
    a, b = np.asarray(restored01, np.float64), np.asarray(reference01, np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
        raise DeblurError(f"channel_mean_shift needs two HxWx3 images of one shape, got {a.shape} and {b.shape}")
    return (a - b).reshape(-1, 3).mean(0) * 255.0


def psnr_mean_matched(restored01: np.ndarray, reference01: np.ndarray) -> float:
    """PSNR after moving the restored image's per-channel mean onto the reference's (then clipping to [0, 1]).

    Why: the sharp frame of a real pair may be exposed or white-balanced differently from its blurred one
    (`street` in ../shared/data/real_blur/paired is 9.6 levels redder and 5.2 bluer), and plain PSNR then rewards
    a model for tinting its output toward the reference, the colour error `channel_mean_shift` and the checks of
    docs/MODELS.md penalise. This PSNR scores what deblurring changes, the structure; the tint is scored apart.
    """
    shift = channel_mean_shift(restored01, reference01) / 255.0
    return psnr(np.clip(np.asarray(restored01, np.float64) - shift, 0.0, 1.0), reference01)


def checkerboard_score(restored01: np.ndarray, reference01: np.ndarray) -> float:
    """How much periodic grid artifact the restoration added: ~1 for none, >> 1 for a checkerboard.

    Strided transposed convolutions leave period-2 (and, after two 2x upsamplings, period-4) patterns
    (Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016). These put energy on the
    rows and columns of the 2-D spectrum at H/2, W/2 (and H/4, W/4). The score is the energy of the luminance
    of `restored - reference` on those lines divided by that on nearby lines (3 and 6 bins lower), the larger of
    the two periods. Measured: a 0.5/255 checkerboard added to a real restoration of a 256x256 photo scores ~3e4.
    """
    a, b = np.asarray(restored01, np.float64), np.asarray(reference01, np.float64)
    if a.shape != b.shape or a.ndim != 3 or min(a.shape[:2]) < 32:
        raise DeblurError(f"checkerboard_score needs two HxWx3 images of one shape, at least 32x32; got {a.shape} "
                          f"and {b.shape}")
    d = (a - b).mean(-1)
    spec = np.abs(np.fft.fft2(d - d.mean())) ** 2
    h, w = spec.shape
    scores = []
    for period in (2, 4):
        fy, fx = h // period, w // period
        on = spec[fy, :].mean() + spec[:, fx].mean()
        near = (spec[fy - 3, :].mean() + spec[:, fx - 3].mean() + spec[fy - 6, :].mean() + spec[:, fx - 6].mean()) / 2
        scores.append(on / max(near, 1e-30))
    return float(max(scores))


def block_edge_ratio(img01: np.ndarray, block: int = 8) -> float:
    """Blocking of a JPEG/MPEG-coded image, with no reference: ~1 for none, > 1 where 8x8 blocks show.

    Why: some "sharp" references are frames of compressed video (set14_img_008 of the val photos is one), so a
    model that removes their block edges, as training on JPEG teaches it to, is scored as wrong by PSNR. The
    figure is the mean absolute luma step across the block boundaries (every `block`-th column and row) divided
    by the mean step everywhere else, rows and columns averaged (a simple form of the blockiness measures of the
    JPEG quality literature, e.g. Wang, Bovik & Evans, ICIP 2000).
    """
    a = np.asarray(img01, np.float64)
    if a.ndim == 3:
        a = a.mean(-1)
    if a.ndim != 2 or block < 2 or min(a.shape) < 2 * block:
        raise DeblurError(f"block_edge_ratio needs an HxW or HxWxC image of at least {2 * max(block, 2)} px a side "
                          f"and block >= 2; got shape {np.shape(img01)}, block {block}")
    ratios = []
    for steps in (np.abs(np.diff(a, axis=1)), np.abs(np.diff(a, axis=0)).T):
        on = steps[:, block - 1 :: block]
        off = np.delete(steps, np.s_[block - 1 :: block], axis=1)
        ratios.append(on.mean() / max(off.mean(), 1e-12))
    return float(np.mean(ratios))


def _gauss_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def ssim(a01: np.ndarray, b01: np.ndarray, win_size: int = 11, sigma: float = 1.5) -> float:
    """Mean SSIM of two RGB images on the 8-bit scale (see the module docstring for the exact recipe)."""
    a, b = _pair_uint8(a01, b01)
    if min(a.shape[0], a.shape[1]) < win_size:
        raise DeblurError(f"SSIM needs images of at least {win_size}x{win_size} pixels, got {a.shape[:2]}")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    g = _gauss_window(win_size, sigma)
    r = win_size // 2

    def filt(x: np.ndarray) -> np.ndarray:
        # separable Gaussian, then keep only the positions where the window lies inside the image ("valid")
        y = cv2.sepFilter2D(x, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT_101)
        return y[r : x.shape[0] - r, r : x.shape[1] - r]

    c1 = (0.01 * 255.0) ** 2
    c2 = (0.03 * 255.0) ** 2
    values = []
    for c in range(a.shape[2]):
        x, y = a[:, :, c], b[:, :, c]
        mx, my = filt(x), filt(y)
        sxx = filt(x * x) - mx * mx
        syy = filt(y * y) - my * my
        sxy = filt(x * y) - mx * my
        num = (2 * mx * my + c1) * (2 * sxy + c2)
        den = (mx * mx + my * my + c1) * (sxx + syy + c2)
        values.append(np.mean(num / den))
    return float(np.mean(values))


def load_lpips_weights(weights_path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Read the VGG16 + LPIPS-head weights, with a clear message if the file is missing or incomplete."""
    path = Path(weights_path) if weights_path is not None else default_lpips_weights()
    if not path.exists():
        raise DeblurError(
            f"{path}: LPIPS weights not found; pass the path to vgg16_imagenet_lpips.npz "
            "(or set DEBLUR_SHARED), or turn LPIPS off (--no-lpips)"
        )

    weights = {k: v.astype(np.float32) for k, v in load_npz(
        path, "LPIPS weight file", "pass vgg16_imagenet_lpips.npz (or set DEBLUR_SHARED), or turn LPIPS off "
        "(--no-lpips)").items()}
    needed = [f"lpips_lin{i}/kernel" for i in range(5)] + [f"{n}/kernel" for n in LPIPS_LAYERS]
    missing = [k for k in needed if k not in weights]
    if missing:
        raise DeblurError(f"{path}: not an LPIPS weight file (missing {', '.join(missing[:3])}, ...)")
    return weights


def _build_features(weights_path: Path):
    """The project's one VGG16 implementation (models package), with LPIPS's input scaling built in."""
    from deblur_tf.models import build_vgg_features  # imports Keras: PSNR/SSIM need none

    return build_vgg_features(source="vgg16_npz", layers=LPIPS_LAYERS, weights_path=str(weights_path))


class LPIPS:
    """LPIPS-VGG distance between RGB images in [0, 1].

    Features of a reference image can be computed once with `features` and compared to many restorations
    with `distance_from_features`, which is how `deblur-tf evaluate` keeps the cost at one VGG pass per image.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None) -> None:
        self.weights_path = Path(weights_path) if weights_path is not None else default_lpips_weights()
        weights = load_lpips_weights(self.weights_path)
        self.heads = [weights[f"lpips_lin{i}/kernel"].reshape(-1) for i in range(5)]
        self.net = _build_features(self.weights_path)

    def features(self, img01: np.ndarray) -> list[np.ndarray]:
        """Unit-normalised VGG feature maps (one per LPIPS layer) of one HxWx3 image in [0, 1]."""
        import keras

        img = np.asarray(img01, np.float32)
        if img.ndim != 3 or img.shape[2] != 3:
            raise DeblurError(f"LPIPS expects an HxWx3 RGB image, got shape {img.shape}")
        if min(img.shape[:2]) < 16:
            raise DeblurError(f"LPIPS needs images of at least 16x16 pixels, got {img.shape[:2]}")
        x = img[None] * 2.0 - 1.0
        feats = self.net(x, training=False)
        out = []
        for f in feats:
            f = keras.ops.convert_to_numpy(f)[0].astype(np.float64)
            norm = np.sqrt(np.sum(f * f, axis=-1, keepdims=True))
            out.append(f / (norm + 1e-10))
        return out

    def distance_from_features(self, fa: Sequence[np.ndarray], fb: Sequence[np.ndarray]) -> float:
        total = 0.0
        for a, b, w in zip(fa, fb, self.heads, strict=True):
            total += float(np.mean(((a - b) ** 2) @ w))
        return total

    def __call__(self, a01: np.ndarray, b01: np.ndarray) -> float:
        if np.shape(a01) != np.shape(b01):
            raise DeblurError(f"images differ in size: {np.shape(a01)} vs {np.shape(b01)}")
        return self.distance_from_features(self.features(a01), self.features(b01))

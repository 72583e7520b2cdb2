"""Loss formulas of DeblurGAN and its variants, in `keras.ops` so that both backends' train steps share them.

Every function casts its inputs to float32 first: under a mixed-precision (bfloat16) policy the critic scores
and VGG features arrive in bfloat16, whose 8-bit mantissa is too coarse for a mean over a batch of patch
scores or for the small differences the perceptual loss measures.

Adversarial losses (critic scores are unbounded, no sigmoid):

- WGAN (Arjovsky et al. 2017) with gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028): the
  DeblurGAN paper's choice, penalty weight 10.
- LSGAN (Mao et al. 2017, arXiv:1611.04076), least squares towards 1 (real) and 0 (fake).
- Relativistic average LSGAN (Jolicoeur-Martineau 2018, arXiv:1807.00734), used by DeblurGAN-v2 (Kupyn et
  al. 2019, arXiv:1908.03826, eq. 2): each score is judged relative to the mean score of the other kind.

`ADVERSARIAL_LOSSES[name] = (critic_fn, generator_fn)`, both called as `fn(real_scores, fake_scores)`; the
WGAN and LSGAN generator losses ignore `real_scores` (pass None to skip computing them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from keras import ops

from deblur_tf.config import GP_MODES
from deblur_tf.errors import DeblurError


def _f32(x):
    return ops.cast(x, "float32")


def wgan_critic_loss(real_scores, fake_scores):
    """E[D(fake)] - E[D(real)]: minimising it maximises the critic's Wasserstein estimate."""
    return ops.mean(_f32(fake_scores)) - ops.mean(_f32(real_scores))


def wgan_generator_loss(fake_scores):
    """-E[D(fake)]: the generator raises the critic's score of its restorations."""
    return -ops.mean(_f32(fake_scores))


def lsgan_critic_loss(real_scores, fake_scores):
    """(E[(D(real) - 1)^2] + E[D(fake)^2]) / 2 (Mao et al. eq. 2 with a=0, b=1; pix2pix's averaging)."""
    real, fake = _f32(real_scores), _f32(fake_scores)
    return 0.5 * (ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake)))


def lsgan_generator_loss(fake_scores):
    """E[(D(fake) - 1)^2]: the generator pushes its restorations' scores to the "real" target 1."""
    return ops.mean(ops.square(_f32(fake_scores) - 1.0))


def ragan_ls_critic_loss(real_scores, fake_scores):
    """(E[(D(real) - E D(fake) - 1)^2] + E[(D(fake) - E D(real) + 1)^2]) / 2 (DeblurGAN-v2 eq. 2, averaged
    over the two terms as in the authors' code)."""
    real, fake = _f32(real_scores), _f32(fake_scores)
    mean_real, mean_fake = ops.mean(real), ops.mean(fake)
    return 0.5 * (ops.mean(ops.square(real - mean_fake - 1.0)) + ops.mean(ops.square(fake - mean_real + 1.0)))


def ragan_ls_generator_loss(real_scores, fake_scores):
    """The critic loss with the targets swapped: real images should look less real than the fakes."""
    real, fake = _f32(real_scores), _f32(fake_scores)
    mean_real, mean_fake = ops.mean(real), ops.mean(fake)
    return 0.5 * (ops.mean(ops.square(real - mean_fake + 1.0)) + ops.mean(ops.square(fake - mean_real - 1.0)))


def _ignore_real(fn: Callable) -> Callable:
    def generator_loss(real_scores, fake_scores):
        return fn(fake_scores)

    generator_loss.__name__ = fn.__name__
    generator_loss.__doc__ = fn.__doc__
    return generator_loss


ADVERSARIAL_LOSSES: dict[str, tuple[Callable, Callable]] = {
    "wgan-gp": (wgan_critic_loss, _ignore_real(wgan_generator_loss)),
    "lsgan": (lsgan_critic_loss, _ignore_real(lsgan_generator_loss)),
    "ragan-ls": (ragan_ls_critic_loss, ragan_ls_generator_loss),
}

# generator losses that need the critic's scores of the real images too
GENERATOR_NEEDS_REAL = frozenset({"ragan-ls"})


def gradient_penalty_from_grads(grads, mode: str = "sample"):
    """WGAN-GP penalty E[(||grad D(x_hat)|| - 1)^2] from the critic's input gradient at the interpolates.

    `grads` is dD/dx_hat, shape (batch, H, W, C), taken by the backend's train step. `mode="sample"` takes
    the norm over all of a sample's dimensions, as Gulrajani et al. define it (the critic is 1-Lipschitz
    as a function of the whole image); `mode="pixel"` takes it over the channels of each pixel and
    averages over pixels, as the DeblurGAN authors' code does. The 1e-12 inside the square root keeps the
    second derivative finite where the gradient vanishes.
    """
    g = _f32(grads)
    if mode == "sample":
        axes = tuple(range(1, len(g.shape)))
    elif mode == "pixel":
        axes = (-1,)
    else:
        raise DeblurError(f"unknown gradient-penalty mode {mode!r}: choose one of {', '.join(GP_MODES)}")
    norms = ops.sqrt(ops.sum(ops.square(g), axis=axes) + 1e-12)
    return ops.mean(ops.square(norms - 1.0))


def _mse(a, b):
    return ops.mean(ops.square(_f32(a) - _f32(b)))


def perceptual_loss(feat_fake, feat_real):
    """MSE between VGG feature maps of the restored and the sharp image (DeblurGAN's content loss, on
    conv3_3). Lists of maps (several layers) give the mean of the per-layer MSEs."""
    if isinstance(feat_fake, Sequence) and not hasattr(feat_fake, "shape"):
        if len(feat_fake) != len(feat_real) or not feat_fake:
            raise ValueError(f"perceptual_loss: {len(feat_fake)} fake vs {len(feat_real)} real feature maps")
        return sum(_mse(a, b) for a, b in zip(feat_fake, feat_real, strict=True)) / len(feat_fake)
    return _mse(feat_fake, feat_real)


def l1_loss(restored, sharp):
    """Mean absolute pixel error: an optional content loss that anchors colours the VGG loss ignores."""
    return ops.mean(ops.abs(_f32(restored) - _f32(sharp)))


def charbonnier_loss(restored, sharp, eps: float = 1e-3):
    """Mean of sqrt((x - y)^2 + eps^2): L1 that is smooth at 0 (Lai et al. 2017, LapSRN; the pixel loss of
    MPRNet and most GoPro models since). `eps` is in the [-1, 1] units of the images."""
    d = _f32(restored) - _f32(sharp)
    return ops.mean(ops.sqrt(ops.square(d) + eps * eps))


def fft_l1_loss(restored, sharp):
    """Mean |FFT2(x) - FFT2(y)| over real and imaginary parts (MIMO-UNet's frequency loss, Cho et al. 2021):
    weights the high frequencies that blur removes and a pixel loss under-rewards. Normalised by the pixel
    count so its scale matches the pixel loss."""
    x = ops.transpose(_f32(restored) - _f32(sharp), (0, 3, 1, 2))
    real, imag = ops.fft2((x, ops.zeros_like(x)))
    hw = float(x.shape[2] * x.shape[3]) if x.shape[2] is not None else 1.0
    return (ops.mean(ops.abs(real)) + ops.mean(ops.abs(imag))) / (hw**0.5)


PIXEL_LOSSES: dict[str, Callable] = {"l1": l1_loss, "charbonnier": charbonnier_loss}

"""The DeblurGAN critic: a PatchGAN (Isola et al., pix2pix, arXiv:1611.07004) used as a Wasserstein critic.

Each output pixel scores one overlapping patch of the image (70x70 for n_layers=3) as sharp/real versus
restored/fake, which pushes the generator towards sharp local texture rather than a global look. It has no
sigmoid: under WGAN-GP the scores are unbounded critic values, under (Ra)LSGAN they are regressed to 0/1.
"""

from __future__ import annotations

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.models.layers import normalization


def build_critic(
    ndf: int = 64, n_layers: int = 3, norm: str = "instance", name: str = "patchgan_critic"
) -> keras.Model:
    """PatchGAN critic: image `(batch, H, W, 3)` in [-1, 1] -> patch scores `(batch, ceil(H/2^n), ceil(W/2^n), 1)`.

    4x4 convs ndf, 2·ndf, 4·ndf, 8·ndf (channel multiplier capped at 8) with strides 2, ..., 2, 1, then a
    1-channel 4x4 conv; leaky ReLU 0.2 after each but the last; instance norm after each but the first
    and the last (as pix2pix: normalising the first layer's raw RGB features only removes information).
    Defaults (the paper) give ≈ 2.76 M parameters. Instance norm rather than batch norm because the
    WGAN-GP penalty is defined per sample, which batch statistics would mix (Gulrajani et al. 2017, §4).
    Any H, W work ("same" padding); the score map is H/8 x W/8 for multiples of 8.
    """
    if ndf < 1 or n_layers < 1:
        raise DeblurError(f"critic needs ndf >= 1 and n_layers >= 1, got ndf={ndf}, n_layers={n_layers}")

    image = keras.Input(shape=(None, None, 3), name="image")
    x = keras.layers.Conv2D(ndf, 4, strides=2, padding="same", name="conv1")(image)
    x = keras.layers.LeakyReLU(0.2, name="conv1_lrelu")(x)

    for i in range(1, n_layers + 1):
        filters = ndf * min(2**i, 8)
        strides = 2 if i < n_layers else 1
        x = keras.layers.Conv2D(filters, 4, strides=strides, padding="same", name=f"conv{i + 1}")(x)
        layer = normalization(norm, f"conv{i + 1}_norm")
        if layer is not None:
            x = layer(x)
        x = keras.layers.LeakyReLU(0.2, name=f"conv{i + 1}_lrelu")(x)

    scores = keras.layers.Conv2D(1, 4, padding="same", dtype="float32", name="scores")(x)
    return keras.Model(image, scores, name=name)

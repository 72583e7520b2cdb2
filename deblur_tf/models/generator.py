"""The DeblurGAN generator (Kupyn et al., "DeblurGAN: Blind Motion Deblurring Using Conditional Adversarial
Networks", CVPR 2018, arXiv:1711.07064, Fig. 3), as a functional Keras model.

A functional model of standard layers (plus the serializable layers in `layers.py`) rather than a subclassed
one, because that is what `.keras` save/load, `model.export` and the TFLite converter handle without
surprises, on both backends.
"""

from __future__ import annotations

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.models.layers import (
    CheckDivisible,
    ClipAdd,
    ReflectionPadding2D,
    UpsampleNearest2D,
    normalization,
)

UPSAMPLE_MODES = ("transpose", "resize")

# The encoder halves the resolution twice and the decoder doubles it twice.
RESNET_MULTIPLE = 4


def _norm_act(x, norm: str, name: str, activation: str | None = "relu"):
    layer = normalization(norm, f"{name}_norm")
    if layer is not None:
        x = layer(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def _res_block(x, filters: int, convs: int, dropout: float, norm: str, name: str):
    """pad-conv3x3-norm-ReLU-dropout[-pad-conv3x3-norm] plus the identity.

    Two convs is the paper (and CycleGAN's ResnetBlock); one conv is what the authors' released code
    actually builds: an operator-precedence slip in `[...] + [Dropout] if use_dropout else [] + [...]`
    drops the second pad-conv-norm whenever dropout is on (6.07 M instead of 11.4 M parameters).
    """
    y = ReflectionPadding2D(1, name=f"{name}_pad1")(x)
    y = keras.layers.Conv2D(filters, 3, name=f"{name}_conv1")(y)
    y = _norm_act(y, norm, f"{name}_1")
    if dropout > 0:
        y = keras.layers.Dropout(dropout, name=f"{name}_dropout")(y)
    if convs == 2:
        y = ReflectionPadding2D(1, name=f"{name}_pad2")(y)
        y = keras.layers.Conv2D(filters, 3, name=f"{name}_conv2")(y)
        y = _norm_act(y, norm, f"{name}_2", activation=None)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def build_resnet_generator(
    ngf: int = 64,
    n_blocks: int = 9,
    convs_per_block: int = 2,
    dropout: float = 0.5,
    upsample: str = "transpose",
    norm: str = "instance",
    name: str = "deblurgan_resnet",
) -> keras.Model:
    """The paper's generator: blurred image in [-1, 1] -> restored image in [-1, 1], same size.

    7x7 conv `ngf` -> two stride-2 3x3 convs (2·ngf, 4·ngf) -> `n_blocks` ResBlocks of 4·ngf -> two
    stride-2 upsamplings (2·ngf, ngf) -> 7x7 conv 3 + tanh, then the global skip
    `clip(input + output, -1, 1)`. Every conv but the last is followed by instance norm and ReLU.
    With the defaults it has ≈ 11.4 M parameters (`convs_per_block=1`: ≈ 6.07 M, the authors' code).

    Input: `(batch, H, W, 3)` float32 RGB in [-1, 1], any H and W that are multiples of 4 (the two
    stride-2 stages); other sizes raise `DeblurError` where the size is known at call time. Pad
    arbitrary images first (`deblur_tf.inference.Deblurrer` does, with reflection).

    `upsample="transpose"` is the paper's transposed convolution; `"resize"` is nearest-neighbour
    upsampling followed by a 3x3 conv (Odena et al., "Deconvolution and Checkerboard Artifacts",
    Distill 2016), which avoids the checkerboard artifacts users of the original code report; both have
    the same parameter count. `dropout` is active only in training (the paper: 0.5).
    """
    if convs_per_block not in (1, 2):
        raise DeblurError(f"convs_per_block must be 1 (authors' code) or 2 (paper), got {convs_per_block!r}")
    if upsample not in UPSAMPLE_MODES:
        raise DeblurError(f"unknown upsample {upsample!r}: choose one of {', '.join(UPSAMPLE_MODES)}")
    if ngf < 1 or n_blocks < 0:
        raise DeblurError(f"ngf must be >= 1 and n_blocks >= 0, got ngf={ngf}, n_blocks={n_blocks}")
    if not 0.0 <= dropout < 1.0:
        raise DeblurError(f"dropout must be in [0, 1), got {dropout!r}")

    blurred = keras.Input(shape=(None, None, 3), name="blurred")
    x = CheckDivisible(RESNET_MULTIPLE, name="check_divisible")(blurred)

    x = ReflectionPadding2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(ngf, 7, name="stem_conv")(x)
    x = _norm_act(x, norm, "stem")

    for i, mult in enumerate((2, 4), start=1):
        x = keras.layers.Conv2D(ngf * mult, 3, strides=2, padding="same", name=f"down{i}_conv")(x)
        x = _norm_act(x, norm, f"down{i}")

    for b in range(n_blocks):
        x = _res_block(x, ngf * 4, convs_per_block, dropout, norm, name=f"res{b + 1}")

    for i, mult in enumerate((2, 1), start=1):
        if upsample == "transpose":
            x = keras.layers.Conv2DTranspose(ngf * mult, 3, strides=2, padding="same", name=f"up{i}_conv")(x)
        else:
            x = UpsampleNearest2D(2, name=f"up{i}_resize")(x)
            x = ReflectionPadding2D(1, name=f"up{i}_pad")(x)
            x = keras.layers.Conv2D(ngf * mult, 3, name=f"up{i}_conv")(x)
        x = _norm_act(x, norm, f"up{i}")

    x = ReflectionPadding2D(3, name="head_pad")(x)
    x = keras.layers.Conv2D(3, 7, name="head_conv")(x)
    # float32 from here on, so that the image is exact under a mixed-precision policy
    residual = keras.layers.Activation("tanh", dtype="float32", name="head_tanh")(x)
    restored = ClipAdd(dtype="float32", name="global_skip")([blurred, residual])
    return keras.Model(blurred, restored, name=name)

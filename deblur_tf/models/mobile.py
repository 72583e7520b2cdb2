"""A light deblurring generator for phones and CPUs: a small U-Net of inverted-residual blocks.

Why this shape:
- Motion blur is spread over tens of pixels, so the network needs a large receptive field; a U-Net gets it
  by doing most of its work at 1/8 resolution, where every MAC is 64 times cheaper than at full size.
- Inverted residuals with depthwise 3x3 convs (MobileNetV2, Sandler et al., arXiv:1801.04381) are the
  cheapest convs that TFLite/XNNPACK runs fast, and the linear bottleneck keeps the skip path exact.
- No normalisation layers and ReLU6 activations: nothing to fold, bounded activations, so post-training
  int8 quantisation keeps its accuracy (Jacob et al., arXiv:1712.05877).
- Decoder skips are additions, not concatenations, and the 1x1 channel reduction happens before the
  upsampling, at the low resolution.
- The same global skip as the paper's generator: output = clip(blurred + tanh(residual), -1, 1).
"""

from __future__ import annotations

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.models.layers import CheckDivisible, ClipAdd, UpsampleNearest2D


def _inverted_residual(x, width: int, expansion: int, kernel_size: int, name: str):
    """1x1 expand + ReLU6 -> depthwise kxk + ReLU6 -> 1x1 project (linear) -> + input."""
    y = keras.layers.Conv2D(width * expansion, 1, name=f"{name}_expand")(x)
    y = keras.layers.ReLU(6.0, name=f"{name}_expand_relu6")(y)
    y = keras.layers.DepthwiseConv2D(kernel_size, padding="same", name=f"{name}_dw")(y)
    y = keras.layers.ReLU(6.0, name=f"{name}_dw_relu6")(y)
    y = keras.layers.Conv2D(width, 1, name=f"{name}_project")(y)
    return keras.layers.Add(name=f"{name}_add")([x, y])


def _downsample(x, width: int, name: str):
    """Depthwise-separable stride-2 conv: the cheap way to halve the resolution and change the width."""
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name=f"{name}_dw")(x)
    x = keras.layers.Conv2D(width, 1, name=f"{name}_pw")(x)
    return keras.layers.ReLU(6.0, name=f"{name}_relu6")(x)


def build_mobile_generator(
    widths: tuple[int, ...] = (16, 24, 48, 96),
    encoder_blocks: tuple[int, ...] = (0, 1, 1, 4),
    decoder_blocks: tuple[int, ...] = (0, 1, 1),
    expansions: tuple[int, ...] = (2, 2, 3, 3),
    kernel_sizes: tuple[int, ...] = (3, 3, 3, 5),
    name: str = "deblur_mobile",
) -> keras.Model:
    """Mobile generator: blurred image in [-1, 1] -> restored image in [-1, 1], same size.

    Level `l` works at 1/2^l resolution with `widths[l]` channels: `encoder_blocks[l]` inverted residuals
    on the way down, `decoder_blocks[l]` on the way up (the deepest level has no decoder entry).
    The defaults (0.30 M parameters) cost 1.12 GFLOPs at 256x256, 1/88 of the paper generator
    (`count_flops`); most of it is spent at 1/8 resolution, where four 5x5 depthwise blocks give the
    receptive field (> 150 px) that long blur trajectories need.

    Input: `(batch, H, W, 3)` float32 RGB in [-1, 1] with H and W multiples of 2^(levels-1) (8 with the
    default 4 levels); other sizes raise `DeblurError` where the size is known at call time. Pad arbitrary
    images first (`deblur_tf.inference.Deblurrer` does).
    """
    levels = len(widths)
    lengths = {
        "encoder_blocks": len(encoder_blocks),
        "expansions": len(expansions),
        "kernel_sizes": len(kernel_sizes),
        "decoder_blocks": len(decoder_blocks) + 1,
    }
    if levels < 2 or any(n != levels for n in lengths.values()):
        raise DeblurError(
            f"mobile generator: widths {tuple(widths)} define {levels} levels (need >= 2); encoder_blocks, "
            f"expansions and kernel_sizes need one entry per level and decoder_blocks one fewer, got {lengths}"
        )
    multiple = 2 ** (levels - 1)

    blurred = keras.Input(shape=(None, None, 3), name="blurred")
    x = CheckDivisible(multiple, name="check_divisible")(blurred)
    x = keras.layers.Conv2D(widths[0], 3, padding="same", name="stem_conv")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu6")(x)

    skips = []
    for level in range(levels):
        if level > 0:
            x = _downsample(x, widths[level], name=f"down{level}")
        for b in range(encoder_blocks[level]):
            x = _inverted_residual(
                x, widths[level], expansions[level], kernel_sizes[level], f"enc{level}_{b + 1}"
            )
        skips.append(x)

    for level in range(levels - 2, -1, -1):
        x = keras.layers.Conv2D(widths[level], 1, name=f"up{level}_pw")(x)
        x = UpsampleNearest2D(2, name=f"up{level}_resize")(x)
        x = keras.layers.Add(name=f"up{level}_skip")([x, skips[level]])
        x = keras.layers.ReLU(6.0, name=f"up{level}_relu6")(x)
        for b in range(decoder_blocks[level]):
            x = _inverted_residual(
                x, widths[level], expansions[level], kernel_sizes[level], f"dec{level}_{b + 1}"
            )

    x = keras.layers.Conv2D(3, 3, padding="same", name="head_conv")(x)
    residual = keras.layers.Activation("tanh", dtype="float32", name="head_tanh")(x)
    restored = ClipAdd(dtype="float32", name="global_skip")([blurred, residual])
    return keras.Model(blurred, restored, name=name)

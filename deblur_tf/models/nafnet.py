"""A NAFNet-class U-Net: the quality-per-FLOP generator (Chen et al. 2022, "Simple Baselines for Image
Restoration", arXiv:2204.04676).

Why this shape:
- NAFNet's finding is that a plain U-Net of cheap blocks (layer norm, 1x1 conv, depthwise 3x3, a
  *SimpleGate* that multiplies the two halves of the channels instead of a nonlinearity) matches heavier
  transformer restorers on GoPro at a fraction of the MACs; each block costs about 6 c^2 MACs per pixel.
- Most blocks sit at the deepest levels (1/8, 1/16 resolution): the FLOPs there are as cheap per block as
  at full size while the receptive field covers the 10-60 px of real hand shake.
- **No global operation.** NAFNet's simplified channel attention pools over the whole image; trained on
  256 px crops and run on a 1280x720 photo, that pooling sees other statistics than it was trained on
  (the train/test inconsistency that Chu et al.'s TLC, arXiv:2112.04491, repairs). Here every operation is
  local and the layer norm is per pixel over channels, so a tile gives exactly the pixels of the whole
  image (`deblur-tf deblur`'s tiling, docs/MODELS.md), and TFLite gets only standard ops.
- Resize + conv upsampling (no transposed conv, no checkerboard), additive skips, and DeblurGAN's global
  skip: output = clip(blurred + residual, -1, 1).
"""

from __future__ import annotations

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.models.layers import CheckDivisible, ClipAdd, UpsampleNearest2D, ZeroMeanResidual


def _gate(x, name: str):
    """SimpleGate: split the channels in two halves and multiply them (NAFNet eq. 3)."""
    c = x.shape[-1] // 2
    left = _channels(x, 0, c, f"{name}_a")
    right = _channels(x, c, 2 * c, f"{name}_b")
    return keras.layers.Multiply(name=f"{name}_mul")([left, right])


def _channels(x, start: int, stop: int, name: str):
    return SliceChannels(start, stop, name=name)(x)


@keras.saving.register_keras_serializable(package="deblur_tf")
class SliceChannels(keras.layers.Layer):
    """`x[..., start:stop]` as a layer (a functional model cannot slice a KerasTensor by itself)."""

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start, self.stop = int(start), int(stop)

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def _block(x, width: int, name: str):
    """NAFNet block without channel attention: two residual branches, each scaled by a learned per-channel
    factor that starts at zero, so a deep stack starts as the identity and trains at high learning rates."""
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = keras.layers.Conv2D(2 * width, 1, name=f"{name}_pw1")(y)
    y = keras.layers.DepthwiseConv2D(3, padding="same", name=f"{name}_dw")(y)
    y = _gate(y, f"{name}_gate1")
    y = keras.layers.Conv2D(width, 1, name=f"{name}_pw2")(y)
    y = Scale(name=f"{name}_beta")(y)
    x = keras.layers.Add(name=f"{name}_add1")([x, y])
    y = keras.layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = keras.layers.Conv2D(2 * width, 1, name=f"{name}_ffn1")(y)
    y = _gate(y, f"{name}_gate2")
    y = keras.layers.Conv2D(width, 1, name=f"{name}_ffn2")(y)
    y = Scale(name=f"{name}_gamma")(y)
    return keras.layers.Add(name=f"{name}_add2")([x, y])


@keras.saving.register_keras_serializable(package="deblur_tf")
class Scale(keras.layers.Layer):
    """Learned per-channel scale, initialised to 0 (NAFNet's beta/gamma): each block starts as the identity."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="scale")

    def call(self, inputs):
        return inputs * keras.ops.cast(self.scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def build_nafnet_generator(
    width: int = 32,
    encoder_blocks: tuple[int, ...] = (1, 1, 2, 4),
    middle_blocks: int = 2,
    decoder_blocks: tuple[int, ...] = (1, 1, 1, 1),
    zero_mean_residual: bool = False,
    name: str = "deblur_nafnet",
) -> keras.Model:
    """NAFNet-class generator: blurred image in [-1, 1] -> restored image in [-1, 1], same size.

    Level `l` (of `len(encoder_blocks)` down-sampling levels) has `width * 2**l` channels and
    `encoder_blocks[l]` blocks before its stride-2 down-sampling and `decoder_blocks[l]` after the skip on
    the way up; `middle_blocks` run at the bottom (1/2^levels resolution). H and W must be multiples of
    2^levels (16 with the defaults); `deblur_tf.inference.Deblurrer` pads any size. `zero_mean_residual`
    removes the residual's mean per image and channel (`layers.ZeroMeanResidual`: the output keeps the input's
    mean colour); it has no weights.
    """
    levels = len(encoder_blocks)
    if len(decoder_blocks) != levels:
        raise DeblurError(f"nafnet: encoder_blocks {encoder_blocks} and decoder_blocks {decoder_blocks} need "
                          "the same number of levels")
    if width < 2 or width % 2 or min(encoder_blocks + decoder_blocks) < 0 or middle_blocks < 0:
        raise DeblurError(f"nafnet: width must be an even number >= 2 (got {width}) and block counts >= 0")
    if not isinstance(zero_mean_residual, bool):
        raise DeblurError(f"nafnet: zero_mean_residual must be true or false, got {zero_mean_residual!r}")
    multiple = 2**levels
    inp = keras.Input((None, None, 3), name="blurred")
    x = CheckDivisible(multiple, name="check_divisible")(inp)
    x = keras.layers.Conv2D(width, 3, padding="same", name="intro")(x)
    skips = []
    for lvl, n in enumerate(encoder_blocks):
        c = width * 2**lvl
        for i in range(n):
            x = _block(x, c, f"enc{lvl}_{i}")
        skips.append(x)
        x = keras.layers.Conv2D(2 * c, 2, strides=2, name=f"down{lvl}")(x)
    for i in range(middle_blocks):
        x = _block(x, width * 2**levels, f"mid_{i}")
    for lvl in reversed(range(levels)):
        c = width * 2**lvl
        x = keras.layers.Conv2D(c, 1, name=f"up{lvl}_reduce")(x)  # reduce at the low resolution, then resize
        x = UpsampleNearest2D(2, name=f"up{lvl}_resize")(x)
        x = keras.layers.Conv2D(c, 3, padding="same", name=f"up{lvl}_conv")(x)
        x = keras.layers.Add(name=f"up{lvl}_skip")([x, skips[lvl]])
        for i in range(decoder_blocks[lvl]):
            x = _block(x, c, f"dec{lvl}_{i}")
    # zero-initialised: the untrained network is the identity (output = blurred input), not input + noise
    x = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="ending")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="residual_f32")(x)
    if zero_mean_residual:
        x = ZeroMeanResidual(dtype="float32", name="zero_mean_residual")(x)
    out = ClipAdd(name="global_skip", dtype="float32")([inp, x])
    return keras.Model(inp, out, name=name)

"""Custom Keras layers shared by the generators, the critic and the VGG feature extractor.

Why custom layers at all: Keras has no reflection padding, no "add then clip" global skip and no way to
check an input size inside a dynamic-shape model. Each layer here is written with `keras.ops` only (so it
runs under the TensorFlow and JAX backends), is registered for `.keras` save/load, and lowers to plain
TFLite builtins (MIRROR_PAD, CONCATENATION, RESHAPE, ADD, MINIMUM/MAXIMUM, SUB/DIV, MEAN), so the exported models need no custom ops.
"""

from __future__ import annotations

import keras
from keras import ops

from deblur_tf.errors import DeblurError

PACKAGE = "deblur_tf"


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    a, b = value
    return (int(a), int(b))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPadding2D(keras.layers.Layer):
    """Mirror padding of the two spatial axes (NHWC), as `torch.nn.ReflectionPad2d`.

    DeblurGAN (like CycleGAN/pix2pix) pads with reflection before its 7x7 and ResBlock convs so that the
    borders of a restored image do not darken the way zero padding makes them.
    """

    def __init__(self, padding: int | tuple[int, int] = 1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair(padding)

    def call(self, inputs):
        ph, pw = self.padding
        return ops.pad(inputs, [[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        ph, pw = self.padding
        return (n, None if h is None else h + 2 * ph, None if w is None else w + 2 * pw, c)

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class UpsampleNearest2D(keras.layers.Layer):
    """Nearest-neighbour upsampling by an integer factor, built from concatenations and reshapes.

    `keras.layers.UpSampling2D(interpolation="nearest")` is built from `ops.repeat`, which in a
    dynamic-size TensorFlow graph loses the static channel count, so the TFLite converter cannot lower
    the following Conv2D to a builtin op; `ops.image.resize` refuses a size that is only known at run
    time. Repeating by concatenation and reshaping with the channel count spelled out keeps every shape
    the converter needs and lowers to CONCATENATION + RESHAPE, which also int8-quantise exactly.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        f = self.factor
        if f == 1:
            return inputs
        shape = ops.shape(inputs)
        h, w, c = shape[1], shape[2], inputs.shape[-1]
        # (n, h, w, f·c) -> (n, h, f·w, c): each pixel followed by its f-1 copies along the width
        x = ops.reshape(ops.concatenate([inputs] * f, axis=-1), (-1, h, w * f, c))
        # (n, h, f·(f·w), c) -> (n, f·h, f·w, c): each row followed by its f-1 copies
        return ops.reshape(ops.concatenate([x] * f, axis=2), (-1, h * f, w * f, c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipAdd(keras.layers.Layer):
    """The global skip of DeblurGAN: `clip(blurred + residual, -1, 1)`.

    The generator only has to learn the residual (the sharp image minus the blurred one), which the
    paper reports speeds up training and generalises better; the clip keeps the result a valid image.
    """

    def __init__(self, clip_min: float = -1.0, clip_max: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip_min = float(clip_min)
        self.clip_max = float(clip_max)

    def call(self, inputs):
        a, b = inputs
        return ops.clip(ops.add(a, b), self.clip_min, self.clip_max)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "clip_min": self.clip_min, "clip_max": self.clip_max}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroMeanResidual(keras.layers.Layer):
    """`residual - mean(residual)` over each image's height and width, per channel.

    A blur kernel sums to 1, so blurring keeps an image's mean colour, and the training pairs are made so
    (`data.match_mean`): the residual a deblurring network should add has zero mean. A network that learns
    it only approximately tints some photos (the shipped `nafnet` raised blue by 2.75 levels on `street`,
    docs/MODELS.md). This layer makes the output's mean colour the input's (before the clip) by construction.
    It has no weights, so it can be switched on for trained weights; under tiling it acts per tile.
    """

    def call(self, x):
        x = ops.cast(x, "float32")
        return x - ops.mean(x, axis=(1, 2), keepdims=True)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class CheckDivisible(keras.layers.Layer):
    """Identity that raises a clear `DeblurError` when the image height/width is not a multiple of `multiple`.

    The encoder/decoder generators halve the resolution `log2(multiple)` times and double it back, so a
    size that does not divide would otherwise fail deep inside the model at the skip connection with a
    shape error that names no image. The check runs wherever the size is known when the layer is called
    (eager TensorFlow, JAX, a traced function with a static shape); in a graph traced with unknown sizes
    (a dynamic-shape SavedModel/TFLite) nothing can be checked and the layer is a no-op.
    """

    def __init__(self, multiple: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)

    def call(self, inputs):
        shape = inputs.shape
        for axis, label in ((1, "height"), (2, "width")):
            size = shape[axis] if len(shape) > axis else None
            if isinstance(size, int) and size % self.multiple:
                raise DeblurError(
                    f"input image {label} {size} is not a multiple of {self.multiple} (input shape "
                    f"{tuple(shape)}); {self.name} needs H and W divisible by {self.multiple}: pad or crop "
                    f"the image (deblur_tf.inference.Deblurrer reflect-pads any size automatically)"
                )
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ChannelAffine(keras.layers.Layer):
    """Fixed per-channel `(x[..., order] - shift) / scale`: the input convention of a pretrained network.

    The VGG weights we use expect a specific colour order, offset and scale (LPIPS: RGB, shift/scale;
    Keras/caffe: BGR in [0, 255] minus the ImageNet mean). Keeping that as one frozen, serializable layer
    lets the feature model take the project's [-1, 1] RGB directly, under any backend.
    """

    def __init__(
        self,
        shift: list[float] | tuple[float, ...],
        scale: list[float] | tuple[float, ...],
        reverse_channels: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.shift = [float(v) for v in shift]
        self.scale = [float(v) for v in scale]
        self.reverse_channels = bool(reverse_channels)
        if len(self.shift) != len(self.scale):
            raise ValueError(f"shift {self.shift} and scale {self.scale} must have the same length")

    def call(self, inputs):
        x = ops.flip(inputs, axis=-1) if self.reverse_channels else inputs
        shift = ops.convert_to_tensor(self.shift, dtype=x.dtype)
        scale = ops.convert_to_tensor(self.scale, dtype=x.dtype)
        return ops.divide(ops.subtract(x, shift), scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "shift": self.shift,
            "scale": self.scale,
            "reverse_channels": self.reverse_channels,
        }


NORMS = ("instance", "none")


def normalization(norm: str, name: str) -> keras.layers.Layer | None:
    """The normalisation layer called `norm`, or None for "none".

    Instance norm is `GroupNormalization(groups=-1)` (one group per channel) with its affine scale and
    offset: tensorflow-addons' InstanceNormalization no longer imports on TensorFlow >= 2.16.
    """
    if norm == "instance":
        return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    if norm == "none":
        return None
    raise DeblurError(f"unknown norm {norm!r}: choose one of {', '.join(NORMS)}")


CUSTOM_OBJECTS = {
    "ReflectionPadding2D": ReflectionPadding2D,
    "ClipAdd": ClipAdd,
    "UpsampleNearest2D": UpsampleNearest2D,
    "CheckDivisible": CheckDivisible,
    "ChannelAffine": ChannelAffine,
    "ZeroMeanResidual": ZeroMeanResidual,
}

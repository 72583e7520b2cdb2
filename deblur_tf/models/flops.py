"""Counting a model's multiply-accumulates per layer, by hand.

Why by hand: profilers count differently per backend and version, while the mobile generator's budget
("at most 1/8 of the paper generator's FLOPs") needs one stable, reviewable number. Only the convolution and
dense layers are counted (they are > 99% of the arithmetic of these models); norms, activations, adds and
resizes are left out. FLOPs are reported as 2 x MACs (one multiply and one add per MAC).
"""

from __future__ import annotations

import math

import keras


def _conv_macs(layer: keras.layers.Layer, in_shape, out_shape) -> int:
    out_pixels = math.prod(out_shape[1:-1])
    in_pixels = math.prod(in_shape[1:-1])
    kernel = math.prod(layer.kernel_size)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return out_pixels * kernel * out_shape[-1]
    if isinstance(layer, keras.layers.SeparableConv2D):
        depth = out_pixels * kernel * in_shape[-1] * layer.depth_multiplier
        return depth + out_pixels * in_shape[-1] * layer.depth_multiplier * out_shape[-1]
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # every input pixel scatters one kernel into the output
        return in_pixels * kernel * in_shape[-1] * out_shape[-1]
    groups = getattr(layer, "groups", 1) or 1
    return out_pixels * kernel * (in_shape[-1] // groups) * out_shape[-1]


def _counted(layer: keras.layers.Layer) -> bool:
    return isinstance(
        layer,
        keras.layers.Dense
        | keras.layers.Conv2D
        | keras.layers.DepthwiseConv2D
        | keras.layers.SeparableConv2D
        | keras.layers.Conv2DTranspose,
    )


def count_macs(model: keras.Model, input_shape: tuple[int, ...]) -> dict[str, int]:
    """MACs of each conv/dense layer of a functional `model` for one input of `input_shape` (no batch axis).

    Shapes are propagated symbolically (nothing is computed), so this is instant even for the full
    generator at 1280x720.
    """
    layers = [layer for layer in model.layers if _counted(layer)]
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [t for layer in layers for t in (layer.input, layer.output)])
    spec = probe.compute_output_spec(keras.KerasTensor((1, *input_shape), dtype="float32"))
    macs = {}
    for i, layer in enumerate(layers):
        in_shape, out_shape = spec[2 * i].shape, spec[2 * i + 1].shape
        if isinstance(layer, keras.layers.Dense):
            macs[layer.name] = math.prod(in_shape[1:]) * out_shape[-1]
        else:
            macs[layer.name] = _conv_macs(layer, in_shape, out_shape)
    return macs


def count_flops(model: keras.Model, input_shape: tuple[int, ...]) -> int:
    """FLOPs (= 2 x MACs of the conv/dense layers) of `model` for one input of `input_shape`, e.g. (256, 256, 3)."""
    return 2 * sum(count_macs(model, input_shape).values())

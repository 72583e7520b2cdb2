"""A generator rebuilt from standard Keras layers only, so its `.keras` file loads in plain Keras.

Users load an exported `.keras` with `keras.saving.load_model` in their own code, where `deblur_tf` is not
imported; Keras then cannot find the project's custom layer classes (a `.keras` file cannot make Keras import
a third-party module: only `keras*` modules are imported by name). `deblur-tf export` therefore saves the
model with each custom layer replaced by standard layers computing the same values:

- `CheckDivisible` (an identity that checks sizes): dropped; H and W must still be multiples of the model's
  input multiple (recorded in the model name, e.g. `deblurgan_resnet_x4`).
- `UpsampleNearest2D(f)`: `UpSampling2D(f, interpolation="nearest")` (the same pixels).
- `ClipAdd`: `Add`, then `Minimum`/`Maximum` against constant tensors (`Rescaling(0, c)` of the sum).
- `Scale` (NAFNet's per-channel beta/gamma): a 1x1 `DepthwiseConv2D` whose kernel is the scale.
- `SliceChannels(a, b)` (NAFNet's SimpleGate halves): `Permute` the channels to axis 1, `Cropping2D` them
  there, `Permute` back: a copy, no arithmetic, so exact. (Until 2026-12-04 it was a 1x1 `Conv2D` with a 0/1
  selection kernel: also exact, but a c x 2c matmul per pixel and more than twice the weights in the file.)
- `ReflectionPadding2D(p)`: zero padding plus, for each of the p border rows (columns) per side, the mirrored
  interior row shifted into place (`Cropping2D` + `ZeroPadding2D`) and selected by a one-row mask built from
  a tensor of ones the same way. Only shifts, products with 0/1 masks and sums of exact zeros: bit-identical
  to `ops.pad(mode="reflect")`, for any input size known only at run time.

The training code keeps the custom layers (their TFLite lowering is tuned, and `CheckDivisible` gives clear
errors); only the exported file is portable.
"""

from __future__ import annotations

import re

import keras

from deblur_tf.errors import DeblurError


def _shift(x, s: int, axis: int, toward_start: bool, name: str):
    """Shift by `s` rows (axis 1) or columns (axis 2), filling with zeros; the size stays the same."""
    none = (0, 0)
    if toward_start:  # out[i] = x[i + s]
        crop, pad = (s, 0), (0, s)
    else:  # out[i] = x[i - s]
        crop, pad = (0, s), (s, 0)
    crop2 = (crop, none) if axis == 1 else (none, crop)
    pad2 = (pad, none) if axis == 1 else (none, pad)
    x = keras.layers.Cropping2D(crop2, name=f"{name}_crop")(x)
    return keras.layers.ZeroPadding2D(pad2, name=f"{name}_pad")(x)


def _reflect_axis(x, p: int, axis: int, name: str):
    """`ops.pad(x, p on one spatial axis, mode="reflect")` from standard layers (see module docstring)."""
    if p == 0:
        return x
    pads = ((p, p), (0, 0)) if axis == 1 else ((0, 0), (p, p))
    z = keras.layers.ZeroPadding2D(pads, name=f"{name}_zeros")(x)  # z[p + i] = x[i], n = size + 2p
    ones = keras.layers.Rescaling(0.0, 1.0, name=f"{name}_ones")(z)
    # from_start[k]: 1 on rows >= k; from_end[k]: 1 on rows < n - k (k = 0: all ones)
    from_start = [ones] + [_shift(ones, k, axis, False, f"{name}_ge{k}") for k in range(1, p + 1)]
    from_end = [ones] + [_shift(ones, k, axis, True, f"{name}_lt{k}") for k in range(1, p + 1)]
    terms = [z]
    for r in range(p):
        # top/left row r takes x[p - r] = z[2p - r]
        row = keras.layers.Subtract(name=f"{name}_row{r}")([from_start[r], from_start[r + 1]])
        moved = _shift(z, 2 * p - 2 * r, axis, True, f"{name}_top{r}")
        terms.append(keras.layers.Multiply(name=f"{name}_top{r}_mask")([row, moved]))
        # bottom/right row n-1-r takes z[n-1-r - (2p-2r)], the mirror of x's (r+1)-th row from the end
        row = keras.layers.Subtract(name=f"{name}_end{r}")([from_end[r], from_end[r + 1]])
        moved = _shift(z, 2 * p - 2 * r, axis, False, f"{name}_bottom{r}")
        terms.append(keras.layers.Multiply(name=f"{name}_bottom{r}_mask")([row, moved]))
    return keras.layers.Add(name=f"{name}_sum")(terms)


def _standard_call(layer, *args, **kwargs):
    """`call_function` for `keras.models.clone_model`: custom layers become standard-layer subgraphs."""
    kind = type(layer).__name__
    name = layer.name
    if kind == "CheckDivisible":
        return args[0]
    if kind == "UpsampleNearest2D":
        return keras.layers.UpSampling2D(layer.factor, interpolation="nearest", name=name)(args[0])
    if kind == "ClipAdd":
        total = keras.layers.Add(name=f"{name}_add")(list(args[0]))
        high = keras.layers.Rescaling(0.0, layer.clip_max, name=f"{name}_max_value")(total)
        low = keras.layers.Rescaling(0.0, layer.clip_min, name=f"{name}_min_value")(total)
        return keras.layers.Maximum(name=name)([keras.layers.Minimum(name=f"{name}_min")([total, high]), low])
    if kind == "ReflectionPadding2D":
        ph, pw = layer.padding
        x = _reflect_axis(args[0], ph, 1, f"{name}_h")
        return _reflect_axis(x, pw, 2, f"{name}_w")
    if kind == "Scale":  # per-channel factor = a 1x1 depthwise conv with that factor as its kernel
        scale = keras.ops.convert_to_numpy(layer.scale)
        conv = keras.layers.DepthwiseConv2D(1, use_bias=False, name=name)
        out = conv(args[0])
        conv.set_weights([scale.reshape(1, 1, -1, 1)])
        return out
    if kind == "SliceChannels":  # x[..., a:b]: channels moved to axis 1, cropped there, moved back (exact)
        c_in = int(args[0].shape[-1])
        x = keras.layers.Permute((3, 1, 2), name=f"{name}_chw")(args[0])
        x = keras.layers.Cropping2D(((layer.start, c_in - layer.stop), (0, 0)), name=f"{name}_crop")(x)
        return keras.layers.Permute((2, 3, 1), name=name)(x)
    if type(layer).__module__.startswith("deblur_tf"):
        raise DeblurError(f"layer {name} ({kind}) has no standard-Keras equivalent; the model cannot be exported "
                          "as a portable .keras file")
    return layer(*args, **kwargs)


def standard_layers_model(model: keras.Model, multiple: int | None = None) -> keras.Model:
    """A functional model computing what `model` computes, built from standard Keras layers only.

    The layers that are kept are shared with `model` (same weights, no copy). `multiple`: the input multiple,
    added to the model name so that the requirement travels with a file that no longer checks it.
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        raise DeblurError(f"{getattr(model, 'name', model)}: only functional Keras models can be made portable")
    portable = keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=_standard_call)
    name = f"{model.name}_x{multiple}" if multiple else model.name
    return keras.Model(portable.input, portable.output, name=name)  # single tensors stay single (not lists)


def multiple_from_name(model) -> int | None:
    """The input multiple a portable model carries in its name (`..._x8`), or None."""
    match = re.search(r"_x(\d+)$", str(getattr(model, "name", "")))
    return int(match.group(1)) if match else None


def model_multiple(model, declared: int | None = None) -> int:
    """What H and W must divide by: the largest of `declared`, the model's `CheckDivisible` layers and the
    multiple a portable export carries in its name; 4 (the generators downsample twice by 2) when none says.

    A config may say 4 while the network (e.g. the mobile U-Net, 1/8 resolution) needs 8; trusting the layers
    keeps odd-sized images from failing inside the model.
    """
    found = [int(layer.multiple) for layer in getattr(model, "layers", [])
             if type(layer).__name__ == "CheckDivisible" and hasattr(layer, "multiple")]
    named = multiple_from_name(model)  # a portable export has no CheckDivisible: its name carries it
    declared_ = [int(declared)] if declared is not None else []
    return max([*declared_, *found, *([named] if named else [])], default=4)


def custom_layers(model: keras.Model) -> list[str]:
    """Names of the layers of `model` whose classes come from deblur_tf (empty for a portable model)."""
    return [layer.name for layer in model.layers if type(layer).__module__.startswith("deblur_tf")]

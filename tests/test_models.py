"""Generators and critic: sizes, shapes, the global skip, FLOP budget, save/load, TFLite conversion."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from deblur_tf.errors import DeblurError
from deblur_tf.models import (
    GENERATORS,
    build_critic,
    build_generator,
    build_mobile_generator,
    build_resnet_generator,
    count_flops,
    count_macs,
)

TINY_RESNET = {"ngf": 8, "n_blocks": 2}
# one input shape for the forward passes: under JAX every new shape is another XLA compile per op
SHAPE = (1, 32, 48, 3)


def conv_params(k: int, cin: int, cout: int) -> int:
    return k * k * cin * cout + cout


def norm_params(c: int) -> int:
    return 2 * c  # instance norm with affine scale and offset


def expected_resnet_params(ngf: int = 64, n_blocks: int = 9, convs: int = 2) -> int:
    """The paper's generator counted layer by layer (convs carry a bias, as in the authors' code)."""
    n = conv_params(7, 3, ngf) + norm_params(ngf)
    n += conv_params(3, ngf, 2 * ngf) + norm_params(2 * ngf)
    n += conv_params(3, 2 * ngf, 4 * ngf) + norm_params(4 * ngf)
    n += n_blocks * convs * (conv_params(3, 4 * ngf, 4 * ngf) + norm_params(4 * ngf))
    n += conv_params(3, 4 * ngf, 2 * ngf) + norm_params(2 * ngf)
    n += conv_params(3, 2 * ngf, ngf) + norm_params(ngf)
    return n + conv_params(7, ngf, 3)


def expected_critic_params(ndf: int = 64) -> int:
    n = conv_params(4, 3, ndf)
    for cin, cout in ((ndf, 2 * ndf), (2 * ndf, 4 * ndf), (4 * ndf, 8 * ndf)):
        n += conv_params(4, cin, cout) + norm_params(cout)
    return n + conv_params(4, 8 * ndf, 1)


@pytest.mark.parametrize(("convs", "paper_value"), [(2, 11.4e6), (1, 6.07e6)])
def test_resnet_generator_parameter_count(convs, paper_value):
    model = build_resnet_generator(convs_per_block=convs)
    assert model.count_params() == expected_resnet_params(convs=convs)
    assert abs(model.count_params() - paper_value) / paper_value < 0.01


def test_resize_upsampling_has_the_same_parameters_as_transposed():
    a = build_resnet_generator(upsample="transpose", **TINY_RESNET)
    b = build_resnet_generator(upsample="resize", **TINY_RESNET)
    assert a.count_params() == b.count_params() == expected_resnet_params(8, 2)


def test_critic_parameter_count_and_patch_output():
    critic = build_critic()
    assert critic.count_params() == expected_critic_params()
    assert abs(critic.count_params() - 2.76e6) / 2.76e6 < 0.01
    scores = critic(np.zeros((2, 64, 96, 3), "float32"))
    assert tuple(scores.shape) == (2, 8, 12, 1)
    assert tuple(critic.compute_output_shape((1, 70, 90, 3))) == (1, 9, 12, 1)  # "same" padding: ceil


def test_critic_without_norm_has_no_norm_layers():
    critic = build_critic(ndf=8, norm="none")
    assert not [lyr for lyr in critic.layers if isinstance(lyr, keras.layers.GroupNormalization)]
    assert tuple(critic(np.zeros(SHAPE, "float32")).shape) == (1, 4, 6, 1)


GENERATOR_CASES = [
    ("resnet", {**TINY_RESNET, "upsample": "transpose"}),
    ("resnet", {**TINY_RESNET, "upsample": "resize", "convs_per_block": 1}),
    ("mobile", {}),
]


@pytest.mark.parametrize(("kind", "kwargs"), GENERATOR_CASES)
def test_generator_keeps_the_shape_and_the_range(kind, kwargs, rng):
    model = build_generator(kind, **kwargs)
    # inputs at the range limits: without the clip, blurred + tanh(residual) would leave [-1, 1]
    x = rng.choice([-1.0, 1.0], size=SHAPE).astype("float32")
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.all(np.abs(y) <= 1.0)
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize(("kind", "kwargs"), GENERATOR_CASES)
def test_global_skip_returns_the_input_when_the_residual_is_zero(kind, kwargs, rng):
    model = build_generator(kind, **kwargs)
    head = model.get_layer("head_conv")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)


@pytest.mark.parametrize(
    ("kind", "kwargs", "bad_hw"), [("resnet", TINY_RESNET, (66, 96)), ("mobile", {}, (64, 100))]
)
def test_size_not_divisible_is_a_clear_error(kind, kwargs, bad_hw):
    model = build_generator(kind, **kwargs)
    with pytest.raises(DeblurError, match="not a multiple of"):
        model(np.zeros((1, *bad_hw, 3), "float32"))


def test_unknown_generator_lists_the_kinds():
    with pytest.raises(DeblurError) as err:
        build_generator("unet")
    for kind in GENERATORS:
        assert kind in str(err.value)


@pytest.mark.parametrize(
    "kwargs", [{"convs_per_block": 3}, {"upsample": "pixelshuffle"}, {"norm": "batch"}, {"dropout": 1.0}]
)
def test_bad_resnet_options_are_user_errors(kwargs):
    with pytest.raises(DeblurError):
        build_resnet_generator(**{**TINY_RESNET, **kwargs})


def test_bad_option_names_are_user_errors():
    with pytest.raises(DeblurError, match="mobile"):
        build_generator("mobile", n_blocks=3)
    with pytest.raises(DeblurError, match="levels"):
        build_mobile_generator(widths=(8, 16), encoder_blocks=(1,))


def test_count_macs_matches_a_hand_count():
    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(8, 3, padding="same", name="conv")(x)  # 16x16 out
    y = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(y)  # 8x8 out
    y = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="tconv")(y)  # 8x8 in
    y = keras.layers.Dense(5, name="dense")(y)  # per pixel, 16x16
    model = keras.Model(x, y)
    macs = count_macs(model, (16, 16, 3))
    assert macs == {
        "conv": 16 * 16 * 9 * 3 * 8,
        "dw": 8 * 8 * 9 * 8,
        "tconv": 8 * 8 * 9 * 8 * 4,
        "dense": 16 * 16 * 4 * 5,
    }
    assert count_flops(model, (16, 16, 3)) == 2 * sum(macs.values())


def test_mobile_generator_costs_at_most_an_eighth_of_the_paper_generator():
    paper = count_flops(build_resnet_generator(), (256, 256, 3))
    mobile = count_flops(build_mobile_generator(), (256, 256, 3))
    # the paper generator is ~49.5 G multiply-accumulates at 256x256, almost all in the 18 ResBlock convs
    assert paper == pytest.approx(2 * 18 * 64 * 64 * 9 * 256 * 256, rel=0.15)
    assert mobile <= paper / 8
    assert mobile < 2e9  # lean enough for ~1280x720 in about a second with TFLite on 2 CPU cores


@pytest.mark.parametrize(("kind", "kwargs"), GENERATOR_CASES + [("critic", {"ndf": 8})])
def test_keras_save_load_round_trip(kind, kwargs, tmp_path, rng):
    model = build_critic(**kwargs) if kind == "critic" else build_generator(kind, **kwargs)
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")
    # move the norm offsets away from their zero init so that every weight kind is checked
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in layer.get_weights()])
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # the custom layers are registered by importing deblur_tf.models
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )
    assert [type(lyr) for lyr in loaded.layers] == [type(lyr) for lyr in model.layers]


def test_dropout_only_in_training(rng):
    model = build_resnet_generator(**TINY_RESNET, dropout=0.5)
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")

    def run(training):
        return keras.ops.convert_to_numpy(model(x, training=training))

    np.testing.assert_array_equal(run(False), run(False))
    assert not np.allclose(run(True), run(False))


def test_outputs_stay_float32_under_mixed_precision():
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        generator = build_resnet_generator(**TINY_RESNET)
        critic = build_critic(ndf=8)
    finally:
        keras.config.set_dtype_policy(policy)
    # the symbolic outputs carry the dtypes the layers compute in; no bfloat16 kernels need compiling
    assert generator.get_layer("res1_conv1").compute_dtype == "bfloat16"
    assert generator.get_layer("res1_conv1").output.dtype == "bfloat16"
    assert generator.output.dtype == "float32"
    assert critic.output.dtype == "float32"


def _tflite_output(model, x: np.ndarray, tmp_path) -> np.ndarray:
    """`model` converted to TFLite with builtin ops only (no Flex/Select TF ops) and run on `x` by LiteRT."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    model.export(str(tmp_path / "saved"), format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.tf_only
@pytest.mark.parametrize(("kind", "kwargs"), GENERATOR_CASES)
def test_generators_convert_to_tflite_with_builtin_ops(kind, kwargs, tmp_path, rng):
    model = build_generator(kind, **kwargs)
    x = rng.uniform(-1, 1, size=SHAPE).astype("float32")
    np.testing.assert_allclose(_tflite_output(model, x, tmp_path), keras.ops.convert_to_numpy(model(x, training=False)),
                               atol=1e-5)


def test_custom_layers_match_numpy(rng):
    from deblur_tf.models.layers import ChannelAffine, ReflectionPadding2D, UpsampleNearest2D

    x = rng.normal(size=(2, 5, 7, 3)).astype("float32")
    up = keras.ops.convert_to_numpy(UpsampleNearest2D(2)(x))
    np.testing.assert_array_equal(up, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2))
    pad = keras.ops.convert_to_numpy(ReflectionPadding2D((2, 1))(x))
    np.testing.assert_array_equal(pad, np.pad(x, [(0, 0), (2, 2), (1, 1), (0, 0)], mode="reflect"))
    affine = ChannelAffine([1.0, 2.0, 3.0], [2.0, 4.0, 8.0], reverse_channels=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(affine(x)), (x[..., ::-1] - [1, 2, 3]) / [2, 4, 8], rtol=1e-6
    )


TINY_NAFNET = {"width": 8, "encoder_blocks": [1, 1], "middle_blocks": 1, "decoder_blocks": [1, 1]}


def _nafnet_pair(rng):
    """The same tiny nafnet weights without and with `zero_mean_residual` (the layer has no weights)."""
    plain = build_generator("nafnet", **TINY_NAFNET)
    ending = plain.get_layer("ending")  # zero-initialised: give the residual something to say
    ending.set_weights([rng.normal(0, 0.05, w.shape).astype(w.dtype) + 0.02 for w in ending.get_weights()])
    locked = build_generator("nafnet", **TINY_NAFNET, zero_mean_residual=True)
    locked.set_weights(plain.get_weights())
    return plain, locked


def test_zero_mean_residual_must_be_a_boolean():
    with pytest.raises(DeblurError, match="zero_mean_residual must be true or false, got 'yes'"):
        build_generator("nafnet", **TINY_NAFNET, zero_mean_residual="yes")


def test_zero_mean_residual_keeps_each_channel_mean_of_the_input(rng, tmp_path):
    plain, locked = _nafnet_pair(rng)
    x = rng.uniform(-0.3, 0.3, size=SHAPE).astype("float32")  # away from the clip at +-1
    y_plain = keras.ops.convert_to_numpy(plain(x))
    y_locked = keras.ops.convert_to_numpy(locked(x))
    x_mean = x.mean(axis=(1, 2))
    np.testing.assert_allclose(y_locked.mean(axis=(1, 2)), x_mean, atol=1e-5)
    assert np.abs(y_plain.mean(axis=(1, 2)) - x_mean).max() > 1e-3  # without the layer the mean moves
    shift = y_locked - y_plain  # only a constant per channel is taken away: the detail is the same
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :1, :1, :], shift.shape), atol=1e-5)
    locked.save(tmp_path / "locked.keras")
    again = keras.saving.load_model(tmp_path / "locked.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(x)), y_locked)


@pytest.mark.tf_only
def test_zero_mean_residual_converts_to_tflite_with_builtin_ops(rng, tmp_path):
    _, locked = _nafnet_pair(rng)
    x = rng.uniform(-0.3, 0.3, size=SHAPE).astype("float32")
    np.testing.assert_allclose(_tflite_output(locked, x, tmp_path), keras.ops.convert_to_numpy(locked(x)), atol=1e-5)

"""Loss formulas on toy inputs whose values are worked out by hand in the comments."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from deblur_tf import losses
from deblur_tf.errors import DeblurError

REAL = np.array([[1.0], [3.0]], "float32")  # mean 2
FAKE = np.array([[0.0], [2.0]], "float32")  # mean 1


def value(x) -> float:
    return float(keras.ops.convert_to_numpy(x))


def test_wgan():
    # E[D(fake)] - E[D(real)] = 1 - 2; generator: -E[D(fake)]
    assert value(losses.wgan_critic_loss(REAL, FAKE)) == pytest.approx(-1.0)
    assert value(losses.wgan_generator_loss(FAKE)) == pytest.approx(-1.0)


def test_lsgan():
    # critic: ((0^2 + 2^2)/2 + (0^2 + 2^2)/2) / 2 = 2; generator: ((-1)^2 + 1^2)/2 = 1
    assert value(losses.lsgan_critic_loss(REAL, FAKE)) == pytest.approx(2.0)
    assert value(losses.lsgan_generator_loss(FAKE)) == pytest.approx(1.0)


def test_relativistic_average_lsgan():
    # critic: real - E[fake] - 1 = [-1, 1] -> 1; fake - E[real] + 1 = [-1, 1] -> 1; (1 + 1) / 2
    assert value(losses.ragan_ls_critic_loss(REAL, FAKE)) == pytest.approx(1.0)
    # generator: real - E[fake] + 1 = [1, 3] -> 5; fake - E[real] - 1 = [-3, -1] -> 5; (5 + 5) / 2
    assert value(losses.ragan_ls_generator_loss(REAL, FAKE)) == pytest.approx(5.0)
    # a critic that scores every real image exactly 1 above the average fake (and vice versa) has zero loss
    fake = np.full((2, 1), 0.3, "float32")
    assert value(losses.ragan_ls_critic_loss(fake + 1.0, fake)) == pytest.approx(0.0, abs=1e-6)


def test_adversarial_table_has_one_calling_convention():
    for name, (critic_fn, generator_fn) in losses.ADVERSARIAL_LOSSES.items():
        assert np.isfinite(value(critic_fn(REAL, FAKE))), name
        real = REAL if name in losses.GENERATOR_NEEDS_REAL else None
        assert np.isfinite(value(generator_fn(real, FAKE))), name
    _, gen = losses.ADVERSARIAL_LOSSES["wgan-gp"]
    assert value(gen(None, FAKE)) == value(losses.wgan_generator_loss(FAKE))
    _, gen = losses.ADVERSARIAL_LOSSES["ragan-ls"]
    assert value(gen(REAL, FAKE)) == value(losses.ragan_ls_generator_loss(REAL, FAKE))


def test_gradient_penalty_per_sample_and_per_pixel():
    grads = np.zeros((2, 1, 2, 2), "float32")
    grads[0] = 0.5  # sample norm sqrt(4 * 0.25) = 1 -> 0; pixel norms sqrt(0.5)
    grads[1, 0, 0] = [3.0, 0.0]  # sample norm 5 -> (5 - 1)^2 = 16; pixel norms 3 and 4
    grads[1, 0, 1] = [0.0, 4.0]
    assert value(losses.gradient_penalty_from_grads(grads)) == pytest.approx((0.0 + 16.0) / 2, rel=1e-5)
    pixel = (2 * (math.sqrt(0.5) - 1.0) ** 2 + (3 - 1) ** 2 + (4 - 1) ** 2) / 4
    assert value(losses.gradient_penalty_from_grads(grads, mode="pixel")) == pytest.approx(pixel, rel=1e-5)
    with pytest.raises(DeblurError, match="sample"):
        losses.gradient_penalty_from_grads(grads, mode="batch")


def test_perceptual_and_l1():
    a = np.array([[1.0, -2.0]], "float32")
    b = np.zeros((1, 2), "float32")
    assert value(losses.perceptual_loss(a, b)) == pytest.approx((1 + 4) / 2)
    # several layers: the mean of the per-layer MSEs, (2.5 + 1) / 2
    assert value(losses.perceptual_loss([a, b + 1], [b, b])) == pytest.approx(1.75)
    assert value(losses.l1_loss(a, b)) == pytest.approx((1 + 2) / 2)


def test_losses_are_float32_for_bfloat16_inputs():
    real = keras.ops.cast(REAL, "bfloat16")
    fake = keras.ops.cast(FAKE + 0.001, "bfloat16")
    for loss in (
        losses.wgan_critic_loss(real, fake),
        losses.ragan_ls_generator_loss(real, fake),
        losses.perceptual_loss(fake, real),
        losses.gradient_penalty_from_grads(keras.ops.reshape(fake, (2, 1, 1, 1))),
    ):
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"

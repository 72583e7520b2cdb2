"""DeblurGAN training: the step's bookkeeping, the gradient penalty, the schedule, checkpoints, learning.

Tiny networks (ngf 4, one ResBlock, 16x16 images) keep each backend's compile cheap; one module-scoped
GAN is compiled once and shared by the step tests.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from deblur_tf.gan import DeblurGAN, gradient_penalty, make_optimizers  # noqa: E402
from deblur_tf.models import build_critic, build_generator, build_vgg_features  # noqa: E402
from deblur_tf.schedules import ConstantThenLinearDecay  # noqa: E402

N_CRITIC = 3  # not the default 5, so the count test sees the configured value, not a constant


def tiny_gan(n_critic=N_CRITIC, dropout=0.0, perceptual=True, l1=0.0, seed=0, gp_alpha=None, optimizers=None,
             size_kw=None):
    keras.utils.set_random_seed(seed)
    kw = {"ngf": 4, "n_blocks": 1, "convs_per_block": 1, "dropout": dropout, **(size_kw or {})}
    g = build_generator("resnet", **kw)
    d = build_critic(ndf=4, n_layers=1)
    f = build_vgg_features("vgg16_npz", ("block1_conv2",), pretrained=False) if perceptual else None
    gan = DeblurGAN(g, d, f, n_critic=n_critic, perceptual_weight=1.0 if perceptual else 0.0, l1_weight=l1,
                    seed=seed, gp_alpha=gp_alpha)
    go, do = optimizers or make_optimizers(constant_steps=10, decay_steps=10, n_critic=n_critic)
    gan.compile(go, do)
    return gan


def synthetic_batch(seed=0, n=2, size=16, k=5):
    rng = np.random.default_rng(seed)
    sharp = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    kernel = rng.uniform(0, 1, (n, k, k)).astype("float32")
    kernel /= kernel.sum(axis=(1, 2), keepdims=True)
    return {"sharp": sharp, "kernel": kernel, "noise_std": np.full((n,), 0.01, "float32")}


def weights_of(model):
    return [np.array(ops.convert_to_numpy(v.value)) for v in model.weights]


def as_int(v):
    return int(ops.convert_to_numpy(v))


@pytest.fixture(scope="module")
def stepped():
    """A tiny GAN after one step on a synthetic batch (blurred on the device), with the weights before."""
    gan = tiny_gan(dropout=0.5)
    before = {"g": weights_of(gan.generator), "d": weights_of(gan.critic), "seed": weights_of_seed(gan)}
    logs = gan.train_on_batch(synthetic_batch(), return_dict=True)
    return gan, before, logs


def weights_of_seed(gan):
    from deblur_tf.run import rng_variables

    return np.concatenate([np.ravel(ops.convert_to_numpy(v.value)) for v in rng_variables(gan)])


def test_one_step_changes_both_networks_and_losses_are_finite(stepped):
    gan, before, logs = stepped
    assert set(logs) >= {"d_loss", "gp", "g_adv", "g_perceptual", "psnr"}
    assert all(np.isfinite(v) for v in logs.values()), logs
    assert logs["gp"] > 0 and logs["g_perceptual"] > 0
    for key, model in (("g", gan.generator), ("d", gan.critic)):
        after = weights_of(model)
        for v, a, b in zip(model.weights, before[key], after, strict=True):
            # every kernel moves; a conv bias right before an instance norm has an exactly zero gradient
            # (the norm subtracts it again), so biases are only required to move where they matter
            if len(v.shape) >= 2:
                assert not np.array_equal(a, b), f"{model.name}: {v.path} did not change"
        changed = sum(not np.array_equal(a, b) for a, b in zip(before[key], after, strict=True))
        assert changed >= 0.5 * len(after), f"{model.name}: only {changed}/{len(after)} tensors changed"
    # dropout masks (the generator's seed state) and the GAN's own stream moved on
    from deblur_tf.run import rng_variables

    assert len(rng_variables(gan)) == 2  # the GAN's stream + the one dropout layer of the tiny generator
    # the random stream (blur noise, gradient-penalty alphas) moved on: the next step draws new numbers
    assert not np.array_equal(before["seed"], weights_of_seed(gan))
    # the frozen VGG features stay frozen
    assert not gan.feature_extractor.trainable_weights


def test_critic_updated_n_critic_times_per_generator_step(stepped):
    gan = stepped[0]
    g0, d0 = as_int(gan.optimizer.iterations), as_int(gan.d_optimizer.iterations)
    assert d0 == N_CRITIC * g0 and g0 >= 1
    gan.train_on_batch(synthetic_batch(seed=1), return_dict=True)
    assert as_int(gan.optimizer.iterations) == g0 + 1
    assert as_int(gan.d_optimizer.iterations) == d0 + N_CRITIC


def test_generator_optimizer_holds_only_generator_state(stepped):
    gan = stepped[0]
    n_gen = len(gan.generator.trainable_variables)
    # Adam: iterations + (m, v) per generator weight; nothing for the critic's weights
    assert len(gan.optimizer.variables) == 1 + 2 * n_gen
    assert len(gan.d_optimizer.variables) == 1 + 2 * len(gan.critic.trainable_variables)


def test_lr_schedule_start_middle_end():
    s = ConstantThenLinearDecay(1e-4, constant_steps=100, decay_steps=50)
    at = lambda step: float(ops.convert_to_numpy(s(step)))  # noqa: E731
    assert at(0) == pytest.approx(1e-4)
    assert at(99) == pytest.approx(1e-4) and at(100) == pytest.approx(1e-4)
    assert at(125) == pytest.approx(0.5e-4)
    assert at(140) == pytest.approx(0.2e-4)
    assert at(150) == pytest.approx(0.0, abs=1e-12) and at(1000) == pytest.approx(0.0, abs=1e-12)
    # the critic's schedule counts its own iterations, n_critic per generator step
    c = ConstantThenLinearDecay(1e-4, constant_steps=100, decay_steps=50, step_divisor=5)
    assert float(ops.convert_to_numpy(c(125 * 5 + 4))) == pytest.approx(at(125))
    # serialisable (it is saved with the optimizer)
    again = ConstantThenLinearDecay.from_config(s.get_config())
    assert float(ops.convert_to_numpy(again(125))) == pytest.approx(at(125))
    assert float(ops.convert_to_numpy(ConstantThenLinearDecay(1e-3, 10, 0)(10**6))) == pytest.approx(1e-3)


def test_optimizer_lr_follows_schedule_through_training(stepped):
    gan = stepped[0]
    g_step = as_int(gan.optimizer.iterations)
    expected = gan.optimizer.learning_rate
    assert float(ops.convert_to_numpy(expected)) == pytest.approx(
        float(ops.convert_to_numpy(ConstantThenLinearDecay(1e-4, 10, 10)(g_step)))
    )
    # the critic's rate is the generator's at the same generator step
    assert float(ops.convert_to_numpy(gan.d_optimizer.learning_rate)) == pytest.approx(
        float(ops.convert_to_numpy(expected))
    )


def _toy_critic():
    """A smooth (tanh) critic, so central differences are accurate."""
    keras.utils.set_random_seed(3)
    x = keras.Input((4, 4, 3))
    h = keras.layers.Conv2D(5, 3, padding="same", activation="tanh")(x)
    h = keras.layers.Conv2D(1, 3, padding="same")(h)
    return keras.Model(x, h)


@pytest.mark.parametrize("mode", ["sample", "pixel"])
def test_gradient_penalty_matches_finite_differences(mode):
    critic = _toy_critic()
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    fake = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    alpha = np.array([0.25, 0.8], "float32").reshape(2, 1, 1, 1)
    gp = float(ops.convert_to_numpy(gradient_penalty(lambda x: critic(x), ops.convert_to_tensor(real),
                                                      ops.convert_to_tensor(fake), ops.convert_to_tensor(alpha),
                                                      mode=mode)))
    # the same quantity with central differences of the critic in float64 (numpy copy of the weights)
    x_hat = (alpha * real + (1 - alpha) * fake).astype(np.float64)
    w = [np.asarray(v, np.float64) for v in critic.get_weights()]

    def conv(x, k, b):  # 'same' 3x3 convolution (cross-correlation), NHWC
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros(x.shape[:3] + (k.shape[3],))
        for i in range(3):
            for j in range(3):
                out += np.einsum("nhwc,cd->nhwd", p[:, i:i + x.shape[1], j:j + x.shape[2]], k[i, j])
        return out + b

    def score_sum(x):  # the critic on one sample, summed over its patch map
        return conv(np.tanh(conv(x[None], w[0], w[1])), w[2], w[3]).sum()

    # the numpy critic is the Keras critic
    np.testing.assert_allclose(score_sum(x_hat[0]), float(ops.convert_to_numpy(ops.sum(critic(x_hat[:1])))),
                               rtol=1e-5, atol=1e-5)
    eps, grads = 1e-5, np.zeros_like(x_hat)
    for n in range(2):
        for idx in np.ndindex(x_hat.shape[1:]):
            d = np.zeros(x_hat.shape[1:])
            d[idx] = eps
            grads[n][idx] = (score_sum(x_hat[n] + d) - score_sum(x_hat[n] - d)) / (2 * eps)
    if mode == "sample":
        norms = np.sqrt((grads**2).sum(axis=(1, 2, 3)))
    else:
        norms = np.sqrt((grads**2).sum(axis=-1))
    expected = float(np.mean((norms - 1.0) ** 2))
    assert gp == pytest.approx(expected, rel=1e-3)


def test_checkpoint_restore_is_exact_and_continues_identically(stepped, tmp_path):
    from deblur_tf.run import list_checkpoints, restore_checkpoint, save_checkpoint

    gan = stepped[0]
    step = as_int(gan.optimizer.iterations)
    save_checkpoint(gan, tmp_path, step=step, keep=2)
    ckpt = list_checkpoints(tmp_path)[-1]
    assert (tmp_path / "generator.weights.h5").is_file()

    def snapshot(m):
        return ([weights_of(m.generator), weights_of(m.critic)]
                + [[np.array(ops.convert_to_numpy(v.value)) for v in o.variables] for o in (m.optimizer, m.d_optimizer)]
                + [[weights_of_seed(m)]])

    def assert_same(a, b, **tol):
        for xs, ys in zip(a, b, strict=True):
            for x, y in zip(xs, ys, strict=True):
                (np.testing.assert_allclose(x, y, **tol) if tol else np.testing.assert_array_equal(x, y))

    saved = snapshot(gan)
    # a fresh GAN (other initial weights and seed) restored from disk holds exactly the saved state
    other = tiny_gan(dropout=0.5, seed=7)
    assert restore_checkpoint(other, ckpt)["step"] == step
    assert_same(saved, snapshot(other))

    # continuing: step A from the live state, then restore the checkpoint into the same (compiled) GAN and
    # take step B on the same batch; dropout masks and blur noise come from the restored seed state, so
    # the resumed run is the same run
    batch = synthetic_batch(seed=5)
    logs_a = gan.train_on_batch(batch, return_dict=True)
    after_a = snapshot(gan)
    restore_checkpoint(gan, ckpt)
    assert_same(saved, snapshot(gan))
    logs_b = gan.train_on_batch(batch, return_dict=True)
    assert logs_a == pytest.approx(logs_b, rel=1e-6)
    assert_same(after_a, snapshot(gan), rtol=1e-6, atol=1e-7)
    assert as_int(gan.optimizer.iterations) == step + 1


def test_checkpoints_keep_the_last_k(stepped, tmp_path):
    from deblur_tf.run import list_checkpoints, save_checkpoint

    for step in (1, 2, 3, 4):
        save_checkpoint(stepped[0], tmp_path, step=step, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000003", "step_00000004"]


def test_a_full_disk_at_checkpoint_time_loses_nothing(stepped, tmp_path, monkeypatch):
    import errno

    from deblur_tf.errors import DeblurError
    from deblur_tf.run import checkpoints

    checkpoints.save_checkpoint(stepped[0], tmp_path, step=1, keep=2)
    before = (tmp_path / "checkpoints" / "step_00000001" / "optimizers.npz").read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", no_space)
    with pytest.raises(DeblurError) as err:
        checkpoints.save_checkpoint(stepped[0], tmp_path, step=2, keep=2)
    msg = str(err.value)
    assert "No space left on device" in msg and "step_00000001" in msg and "--resume" in msg
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_00000001"]  # no half checkpoint
    assert (tmp_path / "checkpoints" / "step_00000001" / "optimizers.npz").read_bytes() == before


@pytest.mark.slow
def test_overfits_four_pairs():
    """On 4 fixed synthetic pairs the generator's PSNR rises by >= 3 dB: losses and updates point the right way."""
    from deblur_tf.blur import blur_images, linear_motion_kernel

    rng = np.random.default_rng(0)
    # smooth random images (a sum of a few low-frequency waves) so that deblurring them is learnable
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    imgs = []
    for _ in range(4):
        img = np.zeros((64, 64, 3))
        for _ in range(4):
            f, ph = rng.uniform(1, 4, 2), rng.uniform(0, 2 * np.pi, 3)
            img += np.sin(2 * np.pi * (f[0] * xx + f[1] * yy)[..., None] + ph) * rng.uniform(0.1, 0.3, 3)
        imgs.append(img)
    sharp = np.clip(np.stack(imgs), -1, 1).astype("float32")
    kernel = np.stack([linear_motion_kernel(7, a, 9) for a in (0, 45, 90, 135)]).astype("float32")
    blurred = np.asarray(ops.convert_to_numpy(blur_images((sharp + 1) / 2, kernel))) * 2 - 1

    gan = tiny_gan(n_critic=2, perceptual=False, l1=10.0, seed=1,
                   optimizers=(keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-4, beta_1=0.5)),
                   size_kw={"ngf": 8, "n_blocks": 2})

    def psnr_now():
        out = np.asarray(ops.convert_to_numpy(gan.generator(blurred, training=False)))
        mse = np.mean(((out - sharp) / 2) ** 2)
        return 10 * np.log10(1.0 / mse)

    start = psnr_now()
    for _ in range(20):  # +9 dB on the 2-core CI machine; 3 dB is the bar
        gan.train_on_batch(blurred, sharp)
    end = psnr_now()
    assert end >= start + 3.0, (start, end)


def test_mixed_bfloat16_trains_with_float32_losses_and_weights():
    from deblur_tf.gan import set_precision

    set_precision("mixed_bfloat16")
    try:
        gan = tiny_gan(n_critic=1)
    finally:
        set_precision("float32")
    convs = [layer for layer in gan.generator.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(v.dtype == "float32" for v in gan.generator.weights + gan.critic.weights)
    before = weights_of(gan.generator)
    logs = gan.train_on_batch(synthetic_batch(), return_dict=True)
    assert all(np.isfinite(v) for v in logs.values()) and logs["gp"] > 0
    assert any(not np.array_equal(a, b) for a, b in zip(before, weights_of(gan.generator), strict=True))
    assert all(v.dtype == "float32" for v in gan.optimizer.variables[1:] + gan.d_optimizer.variables[1:])

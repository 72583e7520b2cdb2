"""The content stage (`loss.adversarial = "none"`), the NAFNet-class generator, the on-device camera model,
the warm-up + cosine schedule and the realistic shake preset (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from deblur_tf.blur import REALISTIC_SHAKE, TrajectoryParams, blur_images, camera_blur, path_length
from deblur_tf.blur.trajectory import simulate
from deblur_tf.config import ConfigError, load_pipeline
from deblur_tf.gan import DeblurGAN
from deblur_tf.models import build_critic, build_generator
from deblur_tf.schedules import WarmupCosine

HERE = Path(__file__).resolve().parent
TINY_NAF = {"width": 8, "encoder_blocks": (1, 1), "middle_blocks": 1, "decoder_blocks": (1, 1)}


def content_gan(seed: int = 0, optimizers=None) -> DeblurGAN:
    keras.utils.set_random_seed(seed)
    g = build_generator("nafnet", **TINY_NAF)
    d = build_critic(ndf=4, n_layers=1)
    gan = DeblurGAN(g, d, None, adversarial="none", perceptual_weight=0.0, charbonnier_weight=1.0,
                    fft_weight=0.1, l1_weight=0.5, seed=seed)
    go, do = optimizers or (keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    gan.compile(go, do)
    return gan


def _randomise(model, seed: int) -> None:
    """Random values for every weight, the zero-initialised scales and ending conv included, so that each
    block contributes (the fresh network is the identity)."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.2, w.shape).astype("float32") for w in model.get_weights()])


def _pair(seed=0, n=2, size=32):
    rng = np.random.default_rng(seed)
    sharp = np.tanh(rng.normal(0, 0.7, (n, size, size, 3))).astype("float32")
    blurred = (0.5 * sharp + 0.5 * np.roll(sharp, 2, axis=2)).astype("float32")
    return blurred, sharp


def _flat(model) -> list[np.ndarray]:
    return [np.array(ops.convert_to_numpy(v.value)) for v in model.weights]


# ------------------------------------------------------------------------------------------ content stage
def test_content_step_trains_the_generator_only():
    gan = content_gan()
    g0, d0 = _flat(gan.generator), _flat(gan.critic)
    blurred, sharp = _pair()
    logs = gan.train_on_batch(blurred, sharp, return_dict=True)
    g1, d1 = _flat(gan.generator), _flat(gan.critic)
    assert any(not np.array_equal(a, b) for a, b in zip(g0, g1, strict=True))
    for a, b in zip(d0, d1, strict=True):
        np.testing.assert_array_equal(a, b)  # no critic step, no critic Adam update
    assert logs["d_loss"] == 0.0 and logs["g_adv"] == 0.0
    assert logs["g_content"] > 0.0


def test_content_loss_is_the_weighted_sum_of_its_terms():
    from deblur_tf import losses

    gan = content_gan()
    blurred, sharp = _pair(1)
    fake = gan.generator(blurred)
    total, parts = gan._generator_objective(fake, sharp, None, None, [], [])
    want = (losses.charbonnier_loss(fake, sharp) + 0.1 * losses.fft_l1_loss(fake, sharp)
            + 0.5 * losses.l1_loss(fake, sharp))
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    assert float(parts["g_content"]) == pytest.approx(float(want), rel=1e-6)


def test_content_stage_needs_a_content_loss():
    g, d = build_generator("nafnet", **TINY_NAF), build_critic(ndf=4, n_layers=1)
    with pytest.raises(ValueError, match="content loss"):
        DeblurGAN(g, d, None, adversarial="none", perceptual_weight=0.0)
    with pytest.raises(ConfigError, match="loss.adversarial"):
        load_pipeline("nafnet-content", ["loss.charbonnier_weight=0", "loss.fft_weight=0"])


def test_fft_loss_sees_what_the_blur_removed():
    from deblur_tf.losses import fft_l1_loss

    rng = np.random.default_rng(0)
    sharp = rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    assert float(fft_l1_loss(sharp, sharp)) == 0.0
    smooth = blur_images((sharp + 1) / 2, np.full((5, 5), 1 / 25, "float32"), gamma=None) * 2 - 1
    assert float(fft_l1_loss(smooth, sharp)) > 0.05


def _worker(out_dir: str) -> None:
    """One backend's content step from shared initial weights (run in a subprocess)."""
    backend = keras.backend.backend()
    out = Path(out_dir)
    gan = content_gan(optimizers=(keras.optimizers.SGD(1e-2), keras.optimizers.SGD(1e-2)))
    init = out / "init.weights.h5"
    if init.exists():
        gan.generator.load_weights(init)
    else:
        _randomise(gan.generator, 1)
        gan.generator.save_weights(init)
    before = _flat(gan.generator)
    logs = gan.train_on_batch(*_pair(), return_dict=True)
    after = _flat(gan.generator)
    np.savez(out / f"{backend}.npz", *[a - b for a, b in zip(after, before, strict=True)])
    (out / f"{backend}.json").write_text(json.dumps({k: float(v) for k, v in logs.items()}))


@pytest.mark.tf_only
@pytest.mark.slow
def test_content_step_is_the_same_on_jax_and_tensorflow(tmp_path):
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_content_stage as t; "
            f"t._worker({str(tmp_path)!r})")
    for backend in ("jax", "tensorflow"):
        env = {**os.environ, "KERAS_BACKEND": backend, "XLA_FLAGS": "--xla_backend_optimization_level=0"}
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{backend}:\n{proc.stderr[-3000:]}"
    dj, dt = np.load(tmp_path / "jax.npz"), np.load(tmp_path / "tensorflow.npz")
    uj = np.concatenate([dj[k].ravel() for k in dj.files])
    ut = np.concatenate([dt[k].ravel() for k in dt.files])
    assert np.linalg.norm(ut) > 0
    assert np.linalg.norm(uj - ut) / np.linalg.norm(ut) < 1e-3
    lj = json.loads((tmp_path / "jax.json").read_text())
    lt = json.loads((tmp_path / "tensorflow.json").read_text())
    assert lj == pytest.approx(lt, rel=1e-4, abs=1e-6)


# ------------------------------------------------------------------------------------------ the generator
def test_nafnet_starts_as_the_identity_and_keeps_the_size():
    g = build_generator("nafnet", **TINY_NAF)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 48, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(g(x)), x, atol=1e-6)


def test_nafnet_has_no_global_operation():
    """A far-away change leaves a pixel exactly as it was: no pooling or normalisation over the image, so tiles
    give the whole image's pixels. The paper ResNet's instance norm fails the same check."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 160, 160, 3)).astype("float32")
    y = x.copy()
    y[:, :8, :8] = -x[:, :8, :8]
    naf = build_generator("nafnet", **TINY_NAF)
    _randomise(naf, 2)
    a, b = np.asarray(naf(x)), np.asarray(naf(y))
    assert np.abs(a - b)[:, :16, :16].max() > 1e-3  # the change does reach its neighbourhood
    np.testing.assert_array_equal(a[:, -48:, -48:], b[:, -48:, -48:])
    resnet = build_generator("resnet", ngf=4, n_blocks=1, convs_per_block=1, dropout=0.0)
    ra, rb = np.asarray(resnet(x)), np.asarray(resnet(y))
    assert np.abs(ra - rb)[:, -48:, -48:].max() > 0


def test_nafnet_rejects_sizes_it_cannot_halve():
    from deblur_tf.errors import DeblurError

    g = build_generator("nafnet", **TINY_NAF)
    with pytest.raises(DeblurError, match="multiple of 4"):
        g(np.zeros((1, 30, 32, 3), "float32"))


# ------------------------------------------------------------------------------------------ camera model
def _images_and_kernels(n=4, size=40, k=9):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (n, size, size, 3)).astype("float32")
    kern = rng.uniform(0, 1, (n, k, k)).astype("float32")
    return x, kern / kern.sum(axis=(1, 2), keepdims=True)


def test_camera_blur_matches_the_plain_blur_per_gamma():
    x, k = _images_and_kernels()
    gamma = np.array([2.2, 1.0, 2.2, 1.0], "float32")
    got = np.asarray(camera_blur(x, k, gamma=gamma, noise_std=0.0))
    lin = np.asarray(blur_images(x, k, gamma=2.2, clip=True))
    srgb = np.asarray(blur_images(x, k, gamma=None, clip=True))
    np.testing.assert_allclose(got[0::2], lin[0::2], atol=2e-4)
    np.testing.assert_allclose(got[1::2], srgb[1::2], atol=2e-5)


def test_camera_blur_quantises_clips_and_saturates():
    x, k = _images_and_kernels()
    x[:, 10:20, 10:20] = 1.0  # a clipped light source
    ones = np.ones(4, "float32")
    plain = np.asarray(camera_blur(x, k, gamma=2.2 * ones, noise_std=0.0, quantize=True))
    np.testing.assert_allclose(plain * 255, np.round(plain * 255), atol=1e-3)
    assert len(np.unique(plain)) <= 256
    boosted = np.asarray(camera_blur(x, k, gamma=2.2 * ones, boost=4.0 * ones, noise_std=0.0))
    assert (boosted >= 1.0).sum() > (plain >= 1.0).sum()  # the blurred light clips over a wider area
    assert boosted.max() <= 1.0 and boosted.min() >= 0.0


def test_camera_shot_noise_grows_with_the_signal():
    x = np.concatenate([np.full((1, 64, 64, 3), 0.1), np.full((1, 64, 64, 3), 0.8)]).astype("float32")
    delta = np.zeros((2, 3, 3), "float32")
    delta[:, 1, 1] = 1.0
    y = np.asarray(camera_blur(x, delta, gamma=np.ones(2, "float32"), noise_std=np.zeros(2, "float32"),
                               shot_noise=np.full(2, 0.004, "float32"), seed=0))
    std_dark, std_bright = y[0].std(), y[1].std()
    assert std_dark == pytest.approx(np.sqrt(0.004 * 0.1), rel=0.15)
    assert std_bright == pytest.approx(np.sqrt(0.004 * 0.8), rel=0.15)


def test_content_pipeline_blurs_with_the_camera_model_on_device():
    from deblur_tf.run import camera_model

    cfg = load_pipeline("nafnet-content")
    cam = camera_model(cfg)
    assert cam == {"srgb_fraction": 0.5, "saturation": 0.2, "shot_noise": 0.0005, "quantize": True,
                   "match_mean": True}
    assert camera_model(load_pipeline("smoke")) is None
    gan = content_gan()
    gan.camera = cam
    x, k = _images_and_kernels(n=8, size=32, k=5)
    out = np.asarray(gan._blur(ops.convert_to_tensor(x * 2 - 1), k, np.full(8, 0.01, "float32"),
                               keras.random.SeedGenerator(0)))
    levels = (out + 1) / 2 * 255
    np.testing.assert_allclose(levels, np.round(levels), atol=2e-3)  # 8-bit values


# ------------------------------------------------------------------------------------------ schedule, shake
def test_warmup_cosine_schedule():
    s = WarmupCosine(1e-3, constant_steps=0, decay_steps=1000, warmup_steps=100, min_ratio=0.01)
    assert float(s(0)) == pytest.approx(1e-5, rel=1e-3)
    assert float(s(99)) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * 0.099))), rel=1e-4)
    assert float(s(500)) == pytest.approx(1e-3 * (0.01 + 0.99 * 0.5), rel=1e-4)
    assert float(s(5000)) == pytest.approx(1e-5, rel=1e-3)
    shifted = WarmupCosine(1e-3, 0, 1000, warmup_steps=10, min_ratio=0.01, offset=500)
    assert float(shifted(200)) == pytest.approx(float(s(700)), rel=1e-5)  # the schedule resumes at its step
    assert float(shifted(0)) == pytest.approx(float(s(500)) / 10, rel=1e-4)  # ... and the warm-up restarts
    critic = WarmupCosine(1e-3, 0, 1000, min_ratio=0.01, step_divisor=5)
    assert float(critic(2500)) == pytest.approx(float(s(500)), rel=1e-5)


def test_realistic_shake_draws_a_path_length_per_trajectory():
    traj, drawn = simulate(200, REALISTIC_SHAKE, 0)
    lengths = path_length(traj)
    assert lengths.min() >= 40 - 1e-6 and lengths.max() <= 120 + 1e-6
    assert lengths.std() > 15  # drawn, not fixed
    np.testing.assert_allclose(lengths, drawn["max_len"], rtol=1e-9)
    fixed, _ = simulate(5, TrajectoryParams(), 3)
    np.testing.assert_allclose(path_length(fixed), 60.0, rtol=1e-9)
    with pytest.raises(ValueError, match="max_len"):
        TrajectoryParams(max_len=(50.0, 20.0))


def test_camera_blur_can_keep_the_brightness():
    x, k = _images_and_kernels()
    x = x**3  # dark photos with bright details: linear-light blur raises their encoded mean
    gamma = np.full(4, 2.2, "float32")
    plain = np.asarray(camera_blur(x, k, gamma=gamma, noise_std=0.0))
    kept = np.asarray(camera_blur(x, k, gamma=gamma, noise_std=0.0, match_mean=True))
    rise = (plain.mean(axis=(1, 2)) - x.mean(axis=(1, 2))) * 255
    assert rise.min() > 1.0  # the effect the option removes is there
    np.testing.assert_allclose(kept.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=0.3 / 255)
    assert np.abs(kept - plain).std() < 0.01  # a shift, not another blur


def test_device_mixture_real_pairs_train_as_pairs(tmp_path):
    """A real pair from `mix(..., blur="device")` must train as (its blurred photo, its sharp photo): the same
    step as the tuple form. Before the fix the step blurred `sharp` and learned to copy its input."""
    import cv2

    from deblur_tf.data import PairedFolder, SyntheticPairs, mix

    rng = np.random.default_rng(0)
    for i in range(2):
        sharp = cv2.GaussianBlur(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), (5, 5), 0)
        for sub, img in (("sharp", sharp), ("blur", cv2.blur(sharp, (5, 1)))):
            (tmp_path / "pairs" / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(tmp_path / "pairs" / sub / f"{i}.png"), img)
            (tmp_path / "photos").mkdir(exist_ok=True)
            cv2.imwrite(str(tmp_path / "photos" / f"{i}.png"), sharp)
    paired = PairedFolder(tmp_path / "pairs", crop=32, batch_size=2, seed=1, augment=False)
    syn = SyntheticPairs(tmp_path / "photos", crop=32, batch_size=2, kernel_size=5, kernel_bank=4, seed=1)
    m = mix(paired, syn, 0.0, seed=3, blur="device")  # ratio 0: every batch is a real pair
    batch = m.batch(0, 0)
    blurred, sharp = paired.batch(0, 0)
    assert not np.array_equal(batch["input"], batch["sharp"])

    def step(data):
        gan = content_gan(optimizers=(keras.optimizers.SGD(1e-2), keras.optimizers.SGD(1e-2)))
        _randomise(gan.generator, 4)
        gan.camera = {"saturation": 1.0, "quantize": True}  # must not touch real photos
        gan.train_on_batch(*data) if isinstance(data, tuple) else gan.train_on_batch(data)
        return np.concatenate([w.ravel() for w in _flat(gan.generator)])

    as_pair = step((blurred, sharp))
    as_mixture = step(batch)
    as_copy = step({"sharp": sharp, "kernel": batch["kernel"], "noise_std": batch["noise_std"]})
    np.testing.assert_allclose(as_mixture, as_pair, atol=1e-5)
    assert np.abs(as_copy - as_pair).max() > 1e-4  # blurring `sharp` instead would be another step

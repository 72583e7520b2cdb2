"""Real pairs of a device mixture (`mix(..., blur="device")`) train as pairs: the real train step
(`DeblurGAN.train_on_batch`) feeds the generator the real blurred photo, not a re-blurred sharp crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

keras = pytest.importorskip("keras")
from keras import ops  # noqa: E402

from deblur_tf.data import PairedFolder, SyntheticPairs, mix  # noqa: E402
from deblur_tf.gan import DeblurGAN, make_optimizers  # noqa: E402
from deblur_tf.models import build_critic, build_generator  # noqa: E402

CROP, K = 16, 5


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    rng = np.random.default_rng(0)
    for i in range(2):
        sharp = cv2.resize(rng.integers(0, 256, (5, 5, 3)).astype(np.uint8), (20, 20), interpolation=cv2.INTER_CUBIC)
        blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
        blurred[:4] = 250  # a bright band: the camera model's highlight boost would change it
        _write(root / "pairs" / "blur" / f"{i}.png", blurred)
        _write(root / "pairs" / "sharp" / f"{i}.png", sharp)
        _write(root / "sharp" / f"{i}.png", sharp)
    paired = PairedFolder(root / "pairs", crop=CROP, batch_size=2, seed=1)
    syn = SyntheticPairs(root / "sharp", crop=CROP, batch_size=2, kernel_size=K, kernel_bank=4, seed=1)
    m = mix(paired, syn, 0.5, seed=3, blur="device")
    real = syn_batch = None
    for step in range(40):
        e, s = divmod(step, m.steps_per_epoch)
        if m.is_synthetic(e, s):
            syn_batch = syn_batch or m.batch(e, s)
        else:
            real = real or m.batch(e, s)
    assert real is not None and syn_batch is not None
    assert np.abs(real["input"] - real["sharp"]).max() > 0.1  # the real input really differs from sharp
    return real, syn_batch


def _gan(camera=None):
    keras.utils.set_random_seed(0)
    g = build_generator("resnet", ngf=4, n_blocks=1, convs_per_block=1, dropout=0.0)
    d = build_critic(ndf=4, n_layers=1)
    gan = DeblurGAN(g, d, None, n_critic=1, perceptual_weight=0.0, l1_weight=1.0, seed=0, gp_alpha=0.5,
                    camera=camera)
    gan.compile(*make_optimizers(constant_steps=10, decay_steps=10, n_critic=1))
    return gan


def _generator_after(batch, camera=None):
    gan = _gan(camera)
    gan.train_on_batch(*batch) if isinstance(batch, tuple) else gan.train_on_batch(batch)
    return [ops.convert_to_numpy(v.value) for v in gan.generator.trainable_variables]


def _same(a, b):
    return all(np.allclose(x, y, rtol=1e-5, atol=1e-6) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("camera", [None, {"srgb_fraction": 0.5, "saturation": 1.0, "shot_noise": 0.05,
                                           "quantize": True}], ids=["plain", "camera"])
def test_real_pair_of_a_device_mixture_trains_as_the_pair(mixture, camera):
    real, _ = mixture
    as_pair = _generator_after((real["input"], real["sharp"]), camera)
    from_mix = _generator_after(real, camera)
    # the same update as the (blurred, sharp) pair: the generator saw the real blurred photo ...
    assert _same(from_mix, as_pair)
    # ... and not the sharp crop (the bug: `input` ignored, sharp blurred with a delta, the model learns to copy)
    assert not _same(from_mix, _generator_after((real["sharp"], real["sharp"]), camera))


def test_synthetic_half_of_a_device_mixture_is_still_blurred_in_the_step(mixture):
    _, syn = mixture
    np.testing.assert_array_equal(syn["input"], syn["sharp"])
    assert not _same(_generator_after(syn), _generator_after((syn["input"], syn["sharp"])))

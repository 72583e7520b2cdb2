"""deblur_tf.explain and `deblur-tf explain`: critic saliency, the panel, the CLI.

The saliency property test needs a critic that has learnt something: a PatchGAN with random weights has
no reason to prefer edges (its gradient w.r.t. the input mixes random filters equally over flat and edged
areas; measured edge/flat ratios of 0.7-1.3 over seeds 0-4), so "concentrated on edges" would be luck, not a
property. The fixture below trains a tiny critic for a few seconds, as a DeblurGAN critic is trained, to
score sharp synthetic shapes high and Gaussian-blurred ones low. Blur only changes an image near its edges,
so a critic that separates the two must look at edges: its saliency is then concentrated there, which is
what the panel is meant to show on real photos.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from scipy.ndimage import gaussian_filter

from deblur_tf.errors import DeblurError
from deblur_tf.explain import COLUMNS, TITLE_HEIGHT, critic_saliency, panel
from deblur_tf.models import build_critic
from deblur_tf.zoo import find_critic, load_critic

SEED = 0  # edge/flat ratio with this seed: 5.6 (TensorFlow), 4.4 (JAX); seeds 0-4 range 1.9-5.6


def shapes(rng: np.random.Generator, n: int, size: int = 32) -> np.ndarray:
    """Flat backgrounds with 1-3 flat rectangles: sharp edges and flat areas only."""
    imgs = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        img = np.full((size, size, 3), rng.uniform(-0.8, 0.8, 3), np.float32)
        for _ in range(rng.integers(1, 4)):
            h, w = rng.integers(4, size // 2, 2)
            y, x = rng.integers(0, size - h), rng.integers(0, size - w)
            img[y : y + h, x : x + w] = rng.uniform(-1, 1, 3)
        imgs[i] = img
    return imgs


def square_scene(n: int = 64, side: int = 24) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bright square on a flat field; masks of its edge band and of flat interior areas.

    Flat areas are >= 6 px from the square's outline and >= 8 px from the image border (zero padding makes
    the border an edge too).
    """
    img = np.full((n, n, 3), -0.2, np.float32)
    a = (n - side) // 2
    img[a : a + side, a : a + side] = 0.6
    yy, xx = np.mgrid[:n, :n]
    b = a + side - 1
    inside = (yy >= a) & (yy <= b) & (xx >= a) & (xx <= b)
    d_inside = np.minimum(np.minimum(yy - a, b - yy), np.minimum(xx - a, b - xx))
    d_outside = np.maximum(np.maximum(a - yy, yy - b), np.maximum(a - xx, xx - b))
    dist = np.where(inside, d_inside, d_outside)
    border = np.minimum(np.minimum(yy, n - 1 - yy), np.minimum(xx, n - 1 - xx))
    return img, dist <= 1, (dist >= 6) & (border >= 8)


@pytest.fixture(scope="module")
def trained_critic():
    """A tiny critic trained (seeded, 180 Adam steps) to score sharp shapes +1 and blurred shapes -1."""
    rng = np.random.default_rng(SEED)
    sharp = shapes(rng, 96)
    blurred = np.stack([gaussian_filter(s, (1.5, 1.5, 0)) for s in sharp]).astype(np.float32)
    x = np.concatenate([sharp, blurred])
    keras.utils.set_random_seed(SEED)
    critic = build_critic(ndf=8, n_layers=2)
    label = np.concatenate([np.ones(len(sharp)), -np.ones(len(blurred))]).astype(np.float32)
    target = np.broadcast_to(label[:, None, None, None], (len(x), *critic(x[:1]).shape[1:])).astype(np.float32)
    critic.compile(optimizer=keras.optimizers.Adam(5e-3), loss="mse")
    history = critic.fit(x, target, batch_size=32, epochs=30, verbose=0, shuffle=True)
    assert history.history["loss"][-1] < 0.3, f"the test critic did not learn: loss {history.history['loss']}"
    return critic


def test_saliency_is_concentrated_on_edges(trained_critic):
    img, edge, flat = square_scene()
    sal = critic_saliency(trained_critic, img[None])[0]
    assert sal.shape == img.shape[:2]
    assert sal.std() > 0.1 * sal.mean(), "saliency is (nearly) constant"
    ratio = sal[edge].mean() / sal[flat].mean()
    assert ratio > 2.0, f"mean saliency on edges / flat areas = {ratio:.2f}, expected > 2"


def test_saliency_methods_agree(trained_critic):
    """tf-keras-vis (TensorFlow) and the backend-gradient path compute the same map."""
    img, _, _ = square_scene(48, 16)
    batch = np.stack([img, img[::-1] * 0.5])
    ours = critic_saliency(trained_critic, batch, method="gradient")
    if keras.backend.backend() == "tensorflow":
        theirs = critic_saliency(trained_critic, batch, method="tf-keras-vis")
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-7)
    else:
        with pytest.raises(DeblurError, match="tf-keras-vis needs"):
            critic_saliency(trained_critic, batch, method="tf-keras-vis")
    # each sample's map depends on that sample only
    single = critic_saliency(trained_critic, batch[1:], method="gradient")
    np.testing.assert_allclose(ours[1], single[0], rtol=1e-4, atol=1e-7)


def _tiny_generator() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    x = keras.Input((None, None, 3))
    y = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x)
    return keras.Model(x, keras.layers.Add()([x, keras.layers.Rescaling(0.2)(y)]))


def test_panel_layout(trained_critic):
    rng = np.random.default_rng(0)
    blurred = rng.uniform(-1, 1, (3, 40, 56, 3)).astype(np.float32)
    sharp = np.zeros_like(blurred)
    out = panel(_tiny_generator(), trained_critic, (blurred, sharp), max_images=2)
    assert out.dtype == np.uint8
    assert out.shape == (2 * (40 + TITLE_HEIGHT) + 4, len(COLUMNS) * 56 + 4 * 4, 3)
    # the input column shows the input pixels (under a title bar)
    np.testing.assert_allclose(out[TITLE_HEIGHT : TITLE_HEIGHT + 40, :56], (blurred[0] + 1) * 127.5, atol=0.51)
    # the difference column is not blank: the generator changed the picture
    diff_col = out[TITLE_HEIGHT : TITLE_HEIGHT + 40, 4 * (56 + 4) :]
    assert diff_col.std() > 5


def _write_critic(tmp_path, critic):
    critic.save_weights(tmp_path / "critic.weights.h5")
    (tmp_path / "critic.json").write_text(json.dumps({"kwargs": {"ndf": 8, "n_layers": 2}}))
    return tmp_path / "critic.weights.h5"


def test_load_critic_round_trip(tmp_path, trained_critic):
    path = _write_critic(tmp_path, trained_critic)
    assert find_critic(tmp_path / "generator.keras") == path
    again = load_critic(path)
    img, _, _ = square_scene(32, 12)
    np.testing.assert_allclose(critic_saliency(again, img[None]), critic_saliency(trained_critic, img[None]),
                               rtol=1e-5, atol=1e-8)
    (tmp_path / "critic.json").unlink()
    with pytest.raises(DeblurError, match="critic.json"):
        load_critic(path)
    with pytest.raises(DeblurError, match="no such file"):
        load_critic(tmp_path / "missing.keras")


def test_cli_explain(tmp_path, trained_critic):
    from deblur_tf.cli import main
    from deblur_tf.io import read_image, write_image

    img, _, _ = square_scene(48, 16)
    src = tmp_path / "blurry.png"
    write_image(src, gaussian_filter((img + 1) / 2, (1.5, 1.5, 0)))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    _tiny_generator().save(model_dir / "generator.keras")
    out = tmp_path / "panel.png"
    runner = CliRunner()

    # no critic beside the model and none given: a clear message, nothing written
    res = runner.invoke(main, ["explain", str(src), "--model", str(model_dir / "generator.keras"), "-o", str(out)])
    assert res.exit_code == 2 and "no trained critic" in res.output and "--critic" in res.output, res.output
    assert not out.exists()

    critic_path = _write_critic(tmp_path, trained_critic)
    args = ["explain", str(src), "--model", str(model_dir / "generator.keras"), "--critic", str(critic_path), "-o", str(out)]
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    written, _ = read_image(out)
    assert written.shape == (48 + TITLE_HEIGHT, len(COLUMNS) * 48 + 4 * 4, 3)

    res = runner.invoke(main, args)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0


class ToyGAN(keras.Model):
    """Just enough of DeblurGAN for the callback: `.generator`, `.critic`, trains the generator with fit."""

    def __init__(self, generator, critic):
        super().__init__()
        self.generator = generator
        self.critic = critic

    def call(self, x, training=False):
        return self.generator(x, training=training)


@pytest.mark.parametrize("writer", ["png", "tensorboard"])
def test_explain_callback_writes_every_n_steps(tmp_path, trained_critic, writer):
    from deblur_tf.explain import ExplainCallback

    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (6, 16, 16, 3)).astype(np.float32)
    model = ToyGAN(_tiny_generator(), trained_critic)
    model.compile(optimizer="sgd", loss="mse")
    cb = ExplainCallback((x[:2], x[:2]), every_n_steps=2, log_dir=tmp_path, max_images=2, writer=writer)
    model.fit(x, x, batch_size=2, epochs=2, verbose=0, callbacks=[cb])  # 6 steps
    assert cb.written == [2, 4, 6]
    files = sorted((tmp_path / "explain").iterdir())
    if writer == "png":
        assert [f.name for f in files] == ["step_00000002.png", "step_00000004.png", "step_00000006.png"]
        from deblur_tf.io import read_image

        img, _ = read_image(files[0])
        assert img.shape == (2 * (16 + TITLE_HEIGHT) + 4, len(COLUMNS) * 16 + 4 * 4, 3)
    else:
        assert any(f.name.startswith("events.out.tfevents") and f.stat().st_size > 1000 for f in files)

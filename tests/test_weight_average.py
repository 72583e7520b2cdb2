"""`optim.ema`: the generator's weights averaged along the run (an exponential moving average kept in its Adam).

The run trains with its own weights and delivers the average: RUN/generator.weights.h5 and validation are the
average, each checkpoint keeps the raw weights for an exact resume, and a resume continues the average.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from deblur_tf.config import ConfigError


def _cfg(shared, *extra: str):
    from deblur_tf.config import load_pipeline

    val = shared / "data" / "sharp" / "val"
    return load_pipeline("smoke", [f"data.train_dir={val}", f"data.val_dir={val}", "train.checkpoint_every=1",
                                   "train.keep_checkpoints=3", "train.val_every=1",
                                   f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}", *extra])


def _weights(path) -> list[np.ndarray]:
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return [out[k] for k in sorted(out)]


def _train(shared, run, steps: int, resume: bool, *extra: str):
    from deblur_tf.run import prepare_run_dir, run_training

    prepare_run_dir(run, resume=resume, overwrite=False)
    return run_training(_cfg(shared, f"train.steps={steps}", *extra), run, resume=resume, progress=False,
                        echo=lambda m: None, tensorboard=False)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory, shared):
    """Two steps with a momentum of 0.75, the second one resumed from the first step's checkpoint."""
    run = tmp_path_factory.mktemp("ema") / "run"
    _train(shared, run, 1, False, "optim.ema=0.75")
    _train(shared, run, 2, True, "optim.ema=0.75")
    return run


def test_the_average_is_the_moving_average_of_the_trained_weights_across_a_resume(ema_run):
    ck = ema_run / "checkpoints"
    w1, w2 = _weights(ck / "step_00000001" / "generator.weights.h5"), _weights(ck / "step_00000002" / "generator.weights.h5")
    avg1 = _weights(ck / "step_00000001" / "generator_ema.weights.h5")
    avg2 = _weights(ck / "step_00000002" / "generator_ema.weights.h5")
    # the first step starts the average at the trained weights; each later one moves it a quarter of the way
    for a, w in zip(avg1, w1, strict=True):
        np.testing.assert_allclose(a, w, rtol=1e-6, atol=1e-7)
    moved = 0
    for a, p, w in zip(avg2, w1, w2, strict=True):
        np.testing.assert_allclose(a, 0.75 * p + 0.25 * w, rtol=1e-5, atol=1e-6)
        moved += int(not np.allclose(a, w, rtol=1e-6, atol=1e-7))
    assert moved > 0  # the average is not the trained weights
    # what the run delivers (what ships, what init_from reads) is the average of its last step
    for a, b in zip(_weights(ema_run / "generator.weights.h5"), avg2, strict=True):
        np.testing.assert_array_equal(a, b)


def test_validation_measures_the_average(ema_run, shared):
    """The log's last val PSNR is the average's, not the trained weights' (they differ at step 2)."""
    from deblur_tf.run import build_data, build_gan
    from deblur_tf.run.logs import validate

    cfg = _cfg(shared, "train.steps=2", "optim.ema=0.75")
    _, val = build_data(cfg)
    with open(ema_run / "log.csv", newline="") as f:
        logged = float([r for r in csv.DictReader(f) if r["val_psnr"]][-1]["val_psnr"])
    gan = build_gan(cfg)
    scores = {}
    for name in ("generator_ema", "generator"):
        gan.generator.load_weights(ema_run / "checkpoints" / "step_00000002" / f"{name}.weights.h5")
        scores[name] = validate(gan, val, cfg.data.val_limit)[0]
    assert scores["generator_ema"] != scores["generator"]
    assert logged == pytest.approx(scores["generator_ema"], abs=1e-4)


def test_the_swap_puts_the_trained_weights_back(shared):
    import keras

    from deblur_tf.gan import averaged_generator
    from deblur_tf.run import build_data, build_gan, train_on

    cfg = _cfg(shared, "train.steps=3", "optim.ema=0.5")
    gan = build_gan(cfg)
    with averaged_generator(gan) as swapped:  # before the first step there is no average yet
        assert not swapped
    train, _ = build_data(cfg)
    for step in range(2):
        train_on(gan, train.batch(0, step))
    trained = [np.array(v) for v in gan.generator.get_weights()]
    with averaged_generator(gan) as swapped:
        assert swapped
        inside = [np.array(v) for v in gan.generator.get_weights()]
    assert any(not np.array_equal(a, b) for a, b in zip(inside, trained, strict=True))
    for a, b in zip(gan.generator.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()


def test_without_ema_the_run_delivers_its_trained_weights(tmp_path, shared):
    run = tmp_path / "plain"
    _train(shared, run, 1, False)
    assert not (run / "checkpoints" / "step_00000001" / "generator_ema.weights.h5").exists()
    for a, b in zip(_weights(run / "generator.weights.h5"),
                    _weights(run / "checkpoints" / "step_00000001" / "generator.weights.h5"), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resuming_with_the_average_switched_on_names_the_option(tmp_path, shared):
    from deblur_tf.errors import DeblurError

    run = tmp_path / "plain"
    _train(shared, run, 1, False)
    with pytest.raises(DeblurError, match=r"optim\.ema"):
        _train(shared, run, 2, True, "optim.ema=0.9")
    # nothing of the run is lost: its checkpoint and its saved settings are as they were
    assert (run / "checkpoints" / "step_00000001" / "optimizers.npz").is_file()
    assert "ema = 0.0" in (run / "config.toml").read_text()


@pytest.mark.parametrize("value", ["1.0", "-0.1"])
def test_a_momentum_outside_0_1_is_refused_by_name(shared, value):
    with pytest.raises(ConfigError, match=r"optim\.ema .*momentum in \[0, 1\)"):
        _cfg(shared, f"optim.ema={value}")

"""The single-device JAX training loop (state kept on the device between log lines) trains exactly like the
step-by-step `train_on_batch` loop: same logged means, validation, checkpoints and weights."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

pytestmark = pytest.mark.jax_only


def _train(tmp_path, shared, name: str, device_loop: bool, steps: int = 7):
    from deblur_tf.config import load_pipeline
    from deblur_tf.run import prepare_run_dir, run_training

    run = tmp_path / name
    overrides = [f"train.steps={steps}", "train.log_every=3", "train.val_every=4", "train.checkpoint_every=5",
                 f"data.train_dir={shared / 'data' / 'sharp' / 'val'}", f"data.val_dir={shared / 'data' / 'sharp' / 'val'}",
                 f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}"]
    cfg = load_pipeline("smoke", overrides)
    prepare_run_dir(run, resume=False, overwrite=False)
    summary = run_training(cfg, run, progress=False, echo=lambda m: None, tensorboard=False,
                           device_loop=device_loop)
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return run, summary, rows


def test_device_loop_matches_train_on_batch(tmp_path, shared):
    import keras

    os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    ref_run, ref, ref_rows = _train(tmp_path, shared, "reference", device_loop=False)
    keras.backend.clear_session()
    run, got, rows = _train(tmp_path, shared, "device", device_loop=True)

    # log lines at 3, 6, 7 (window means), validation at 4 and 7, the lr at each log line
    assert [r["step"] for r in rows] == [r["step"] for r in ref_rows] == ["3", "4", "6", "7"]
    for r, e in zip(rows, ref_rows, strict=True):
        for key in ("d_loss", "gp", "g_adv", "g_perc", "psnr", "lr", "val_psnr", "val_ssim"):
            assert (r[key] == "") == (e[key] == ""), key
            if e[key]:
                np.testing.assert_allclose(float(r[key]), float(e[key]), rtol=2e-4, atol=1e-6, err_msg=key)
    assert got["end_step"] == ref["end_step"] == 7

    # checkpoints at 5 and 7 hold the same weights and optimizer state
    for step in ("step_00000005", "step_00000007"):
        names = sorted(p.name for p in (ref_run / "checkpoints" / step).iterdir())
        assert names == sorted(p.name for p in (run / "checkpoints" / step).iterdir())
        compared = 0
        for fname in names:
            a, b = _arrays(ref_run / "checkpoints" / step / fname), _arrays(run / "checkpoints" / step / fname)
            assert sorted(a) == sorted(b), fname
            for k in a:
                np.testing.assert_allclose(b[k], a[k], rtol=2e-4, atol=1e-6, err_msg=f"{step}/{fname}/{k}")
            compared += len(a)
        assert compared > 20  # generator, critic and both optimizers' tensors


def _arrays(path) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint file (.npz or Keras .weights.h5); {} for the JSON state."""
    if path.suffix == ".npz":
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".h5":
        import h5py

        out = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out
    return {}


def test_transfer_puts_the_batch_on_the_device():
    """The device loop's Prefetcher hook: numpy in, device arrays out, values unchanged."""
    import jax

    from deblur_tf.run.feed import JaxDeviceLoop

    batch = {"sharp": np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3), "noise_std": np.array([0.01], np.float32)}
    got = JaxDeviceLoop.transfer(batch)
    assert all(isinstance(v, jax.Array) for v in got.values())
    for k in batch:
        np.testing.assert_array_equal(np.asarray(got[k]), batch[k])

"""The tf.data path (TensorFlow only): same stream as the numpy path, fit-ready, and a fixed synthetic set
that is the same under TensorFlow and JAX."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblur_tf.data import PairedFolder, SyntheticPairs, mix

pytestmark = pytest.mark.tf_only

ROOT = Path(__file__).resolve().parents[1]
K = 9


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def _smooth(rng, h, w, dtype=np.uint8):
    hi = 256 if dtype == np.uint8 else 65536
    small = rng.integers(0, hi, size=(max(2, h // 6), max(2, w // 6), 3)).astype(dtype)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def paired_dir(tmp_path, rng) -> Path:
    d = 2
    for i in range(5):
        base = _smooth(rng, 40, 44 + d)
        _write(tmp_path / "pairs" / "blur" / f"{i}.png", base[:, :44])
        _write(tmp_path / "pairs" / "sharp" / f"{i}.png", base[:, d:])
    return tmp_path / "pairs"


@pytest.fixture
def sharp_dir(tmp_path, rng) -> Path:
    for i, (h, w) in enumerate([(40, 48), (36, 36), (44, 40)]):
        _write(tmp_path / "sharp" / f"img{i}.png", _smooth(rng, h, w))
    _write(tmp_path / "sharp" / "deep.png", _smooth(rng, 40, 40, np.uint16))
    return tmp_path / "sharp"


def _np(x):
    return {k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else tuple(v.numpy() for v in x)


def test_tf_stream_equals_numpy_stream_across_epochs(paired_dir):
    import tensorflow as tf

    src = PairedFolder(paired_dir, crop=24, batch_size=2, seed=9)
    ds = src.as_tf_dataset()
    assert isinstance(ds, tf.data.Dataset)
    assert ds.element_spec[0].shape == (2, 24, 24, 3) and ds.element_spec[0].dtype == tf.float32
    it = iter(ds)
    for epoch in range(3):
        for step in range(src.steps_per_epoch):
            got = _np(next(it))
            want = src.batch(epoch, step)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)
            # alignment survives the tf.data path too: the shift is along one axis, length 2
            b, s = got[0][0], got[1][0]
            assert any(np.array_equal(np.roll(s, r, axis=a)[2:-2, 2:-2], b[2:-2, 2:-2])
                       for a in (0, 1) for r in (2, -2))
    # resuming at an epoch gives that epoch's batches
    resumed = _np(next(iter(src.as_tf_dataset(epoch=2))))
    np.testing.assert_array_equal(resumed[0], src.batch(2, 0)[0])


def test_synthetic_tf_elements_and_16bit(sharp_dir):
    src = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, kernel_bank=8, seed=3)
    ds = src.as_tf_dataset()
    assert sorted(ds.element_spec) == ["kernel", "noise_std", "sharp"]
    assert ds.element_spec["kernel"].shape == (2, K, K)
    it = iter(ds)
    for step in range(src.steps_per_epoch):
        got, want = _np(next(it)), src.batch(0, step)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
    fixed = SyntheticPairs(sharp_dir, crop=None, batch_size=1, kernel_size=K, mode="fixed")
    ds = fixed.as_tf_dataset()
    assert int(ds.cardinality()) == 4  # one pass, finite
    deep = [d for d in ds][0]["sharp"].numpy()  # deep.png sorts first
    assert deep.shape == (1, 40, 40, 3)
    raw = cv2.imread(str(sharp_dir / "deep.png"), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    np.testing.assert_allclose(deep[0], raw / 65535.0 * 2 - 1, atol=1e-6)


def test_device_mixture_through_tf_data(paired_dir, sharp_dir):
    paired = PairedFolder(paired_dir, crop=24, batch_size=2, seed=2)
    syn = SyntheticPairs(sharp_dir, crop=24, batch_size=2, kernel_size=K, kernel_bank=4, seed=2)
    m = mix(paired, syn, 0.5, blur="device", seed=4)
    ds = m.as_tf_dataset()
    assert sorted(ds.element_spec) == ["input", "kernel", "noise_std", "paired", "sharp"]
    it = iter(ds)
    for step in range(2 * m.steps_per_epoch):
        got, want = _np(next(it)), m.batch(*divmod(step, m.steps_per_epoch))
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def test_fit_on_tf_dataset(paired_dir, sharp_dir):
    import keras

    paired = PairedFolder(paired_dir, crop=24, batch_size=2)
    syn = SyntheticPairs(sharp_dir, crop=24, batch_size=2, kernel_size=K, kernel_bank=4)
    for src in (paired, mix(paired, syn, 0.5)):
        model = keras.Sequential([keras.Input((24, 24, 3)), keras.layers.Conv2D(3, 3, padding="same")])
        model.compile(optimizer="sgd", loss="mse")
        hist = model.fit(src.as_tf_dataset(), steps_per_epoch=src.steps_per_epoch, epochs=2, verbose=0)
        assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()


def test_fixed_set_same_under_tensorflow_and_jax(sharp_dir, tmp_path):
    """The fixed evaluation set read through tf.data under TensorFlow equals the one read through the
    PyDataset under JAX (a separate process), blurred by blur_images on each backend: max diff < 1e-5."""
    kw = dict(crop=32, batch_size=2, kernel_size=K, noise_std=(0.005, 0.01), mode="fixed", seed=21)
    out = tmp_path / "jax.npz"
    script = textwrap.dedent(f"""
        import numpy as np
        import keras
        from deblur_tf.data import SyntheticPairs
        assert keras.backend.backend() == "jax"
        src = SyntheticPairs({str(sharp_dir)!r}, **{kw!r})
        ds, bp = src.as_py_dataset(), src.blurred_pairs("keras").as_py_dataset()
        arrays = {{}}
        for i in range(len(ds)):
            for k, v in ds[i].items():
                arrays[f"{{k}}{{i}}"] = v
            arrays[f"blurred{{i}}"], arrays[f"bsharp{{i}}"] = bp[i]
        np.savez({str(out)!r}, **arrays)
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    jax_arrays = np.load(out)

    src = SyntheticPairs(sharp_dir, **kw)
    elements = [_np(d) for d in src.as_tf_dataset()]
    blurred = [_np(d) for d in src.blurred_pairs("keras").as_tf_dataset()]
    assert len(elements) == len(blurred) == 2
    for i, (d, (b, s)) in enumerate(zip(elements, blurred, strict=True)):
        for k in ("sharp", "kernel", "noise_std"):
            assert np.abs(d[k] - jax_arrays[f"{k}{i}"]).max() < 1e-5
        assert np.abs(s - jax_arrays[f"bsharp{i}"]).max() < 1e-5
        assert np.abs(b - jax_arrays[f"blurred{i}"]).max() < 1e-5
        assert np.abs(b - s).mean() > 1e-3  # blurred for real
    # and again in this process: two runs of the tf.data path are identical
    again = [_np(d) for d in src.blurred_pairs("keras").as_tf_dataset()]
    for (b1, _), (b2, _) in zip(blurred, again, strict=True):
        np.testing.assert_array_equal(b1, b2)

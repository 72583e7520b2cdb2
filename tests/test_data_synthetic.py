"""SyntheticPairs, BlurredPairs and the mixture on the numpy path (both backends), and the no-TensorFlow
guarantee of the JAX path."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblur_tf.data import DatasetError, PairedFolder, SyntheticPairs, mix

ROOT = Path(__file__).resolve().parents[1]
K = 9  # small kernels keep trajectory rasterisation and blurring cheap


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))


def _smooth(rng, h, w):
    """A smooth photo-like image (blur visibly changes noise-free random pixels less predictably)."""
    small = rng.integers(0, 256, size=(max(2, h // 6), max(2, w // 6), 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def sharp_dir(tmp_path, rng) -> Path:
    for i, (h, w) in enumerate([(40, 48), (36, 36), (44, 40), (40, 40), (38, 50)]):
        _write(tmp_path / "sharp" / f"img{i}.png", _smooth(rng, h, w))
    return tmp_path / "sharp"


def _all(source, epoch=0):
    return [source.batch(epoch, s) for s in range(source.steps_per_epoch)]


def _assert_same(a, b, atol=0.0):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if isinstance(x, dict):
            assert sorted(x) == sorted(y)
            for k in x:
                np.testing.assert_allclose(x[k], y[k], atol=atol, rtol=0)
        else:
            for u, v in zip(x, y, strict=True):
                np.testing.assert_allclose(u, v, atol=atol, rtol=0)


def test_train_elements(sharp_dir):
    ds = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, kernel_bank=8, noise_std=(0.01, 0.02))
    assert ds.steps_per_epoch == 2
    seen = []
    for epoch in range(3):
        for step in range(2):
            d = ds.batch(epoch, step)
            assert d["sharp"].shape == (2, 32, 32, 3) and d["sharp"].dtype == np.float32
            assert d["kernel"].shape == (2, K, K) and d["noise_std"].shape == (2,)
            assert -1 <= d["sharp"].min() and d["sharp"].max() <= 1
            np.testing.assert_allclose(d["kernel"].sum(axis=(1, 2)), 1.0, atol=1e-5)
            assert (d["kernel"] >= 0).all()
            assert ((0.01 <= d["noise_std"]) & (d["noise_std"] <= 0.02)).all()
            # kernels come from the bank
            for k in d["kernel"]:
                assert any(np.array_equal(k, b) for b in ds._bank)
            seen.append(d)
    assert not np.array_equal(seen[0]["sharp"], seen[2]["sharp"])  # epochs differ


def test_fresh_kernels_without_bank(sharp_dir):
    ds = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, kernel_bank=0, seed=4)
    assert ds._bank is None
    a, b = ds.batch(0, 0)["kernel"], ds.batch(0, 1)["kernel"]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K,
                                                    kernel_bank=0, seed=4).batch(0, 0)["kernel"])


def test_fixed_mode_identical_across_runs_and_epochs(sharp_dir):
    kw = dict(crop=32, batch_size=2, kernel_size=K, noise_std=(0.005, 0.01), mode="fixed", seed=11)
    a, b = SyntheticPairs(sharp_dir, **kw), SyntheticPairs(sharp_dir, **kw)
    assert a.steps_per_epoch == 3  # 5 images, last batch partial
    _assert_same(_all(a), _all(b))
    _assert_same(_all(a, epoch=0), _all(a, epoch=5))
    _assert_same(_all(a.blurred_pairs()), _all(b.blurred_pairs()))
    _assert_same(_all(a.blurred_pairs("keras")), _all(b.blurred_pairs("keras")))
    # another seed is another set
    c = SyntheticPairs(sharp_dir, **{**kw, "seed": 12})
    assert not np.array_equal(a.batch(0, 0)["kernel"], c.batch(0, 0)["kernel"])
    # no flips in fixed mode: the crop is a plain window of the file
    d = a.batch(0, 0)
    img = cv2.imread(str(sharp_dir / "img0.png"))[:, :, ::-1].astype(np.float32) * np.float32(2 / 255) - 1
    windows = [img[y:y + 32, x:x + 32] for y in range(img.shape[0] - 31) for x in range(img.shape[1] - 31)]
    assert any(np.array_equal(d["sharp"][0], w) for w in windows)


def test_fixed_full_images(sharp_dir):
    ds = SyntheticPairs(sharp_dir, crop=None, batch_size=1, kernel_size=K, mode="fixed")
    shapes = [ds.batch(0, s)["sharp"].shape for s in range(ds.steps_per_epoch)]
    assert shapes == [(1, 40, 48, 3), (1, 36, 36, 3), (1, 44, 40, 3), (1, 40, 40, 3), (1, 38, 50, 3)]
    with pytest.raises(DatasetError, match="crop=None with batch_size=2"):
        SyntheticPairs(sharp_dir, crop=None, batch_size=2, kernel_size=K, mode="fixed")


def test_blurred_pairs_match_blur_op(sharp_dir):
    """The host blur is the project's camera model plus the recorded noise; FFT, OpenCV and Keras agree."""
    from deblur_tf.blur import blur_numpy

    syn = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, noise_std=0.0, mode="fixed", seed=2)
    d = syn.batch(0, 0)
    blurred, sharp = syn.blurred_pairs().batch(0, 0)
    np.testing.assert_array_equal(sharp, d["sharp"])
    ref = blur_numpy((d["sharp"] + 1) / 2, d["kernel"], gamma=2.2) * 2 - 1
    # float32 FFT rounding (~1e-7 of the peak) is amplified by y ** (1 / 2.2) in near-black pixels:
    # up to ~5e-5 there, 1/80 of an 8-bit level; a wrong anchor, border or gamma is off by > 1e-2
    np.testing.assert_allclose(blurred, ref, atol=1e-4)
    np.testing.assert_allclose(blurred[ref > -0.9], ref[ref > -0.9], atol=1e-5)
    assert np.abs(blurred - sharp).mean() > 1e-3  # it is actually blurred
    for method in ("numpy", "keras"):  # OpenCV and Keras implementations of the same camera model
        other, _ = syn.blurred_pairs(method).batch(0, 0)
        np.testing.assert_allclose(other, blurred, atol=1e-4)
    with pytest.raises(DatasetError, match="method='gpu'"):
        syn.blurred_pairs("gpu")
    noisy = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, noise_std=0.02, mode="fixed", seed=2)
    nb, _ = noisy.blurred_pairs().batch(0, 0)
    resid = (nb - blurred)[(blurred > -0.8) & (blurred < 0.8)] / 2  # away from clipping, in [0, 1] units
    assert 0.015 < resid.std() < 0.025


def test_bad_synthetic_inputs(tmp_path, sharp_dir, rng):
    with pytest.raises(DatasetError, match="no such folder"):
        SyntheticPairs(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no image"):
        SyntheticPairs(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"img1\.png: 36x36 is smaller than the 38x38 crop"):
        SyntheticPairs(sharp_dir, crop=38, kernel_size=K, kernel_bank=4)
    (sharp_dir / "junk.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(DatasetError, match=r"junk\.jpg: truncated JPEG"):
        SyntheticPairs(sharp_dir, crop=32, kernel_size=K, kernel_bank=4)
    ds = SyntheticPairs(sharp_dir, crop=32, kernel_size=K, kernel_bank=4, skip_bad=True)
    assert len(ds.files) == 5
    for kw, msg in [({"mode": "eval"}, "mode='eval'"), ({"kernel_size": 8}, "kernel_size=8"),
                    ({"noise_std": (0.02, 0.01)}, "noise_std"), ({"kernel_bank": -1}, "kernel_bank=-1"),
                    ({"gamma": 0}, "gamma=0")]:
        with pytest.raises(DatasetError, match=msg):
            SyntheticPairs(sharp_dir, crop=32, **{"kernel_size": K, **kw})


def test_mixture(tmp_path, sharp_dir, rng):
    for i in range(4):
        img = _smooth(rng, 40, 40)
        _write(tmp_path / "pairs" / "blur" / f"{i}.png", 255 - img)
        _write(tmp_path / "pairs" / "sharp" / f"{i}.png", img)
    paired = PairedFolder(tmp_path / "pairs", crop=32, batch_size=2, seed=1)
    syn = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, kernel_bank=8, seed=1)
    m = mix(paired, syn, 0.3, seed=5)
    kinds = [m.is_synthetic(e, s) for e in range(40) for s in range(m.steps_per_epoch)]
    assert 0.15 < np.mean(kinds) < 0.45
    for e in range(3):
        for s in range(m.steps_per_epoch):
            blurred, sharp = m.batch(e, s)
            src = m.synthetic if m.is_synthetic(e, s) else m.paired
            g = e * m.steps_per_epoch + s
            ref = src.batch(*divmod(g, src.steps_per_epoch))
            np.testing.assert_array_equal(blurred, ref[0])
            np.testing.assert_array_equal(sharp, ref[1])
    assert not any(mix(paired, syn, 0.0).is_synthetic(0, s) for s in range(20))
    assert all(mix(paired, syn, 1.0).is_synthetic(0, s) for s in range(20))
    with pytest.raises(DatasetError, match="same crop and batch_size"):
        mix(paired, SyntheticPairs(sharp_dir, crop=24, batch_size=2, kernel_size=K, kernel_bank=4), 0.5)
    with pytest.raises(DatasetError, match="ratio=1.5"):
        mix(paired, syn, 1.5)
    with pytest.raises(DatasetError, match="blur='gpu'"):
        mix(paired, syn, 0.5, blur="gpu")


def test_device_mixture_blurs_real_pairs_to_themselves(tmp_path, sharp_dir, rng):
    """blur='device': one dict structure; the step's blur leaves real blurred inputs as they are (delta
    kernel, no noise) and blurs synthetic sharp crops with their shake kernel."""
    import keras

    from deblur_tf.blur import blur_images

    for i in range(4):
        img = _smooth(rng, 40, 40)
        _write(tmp_path / "pairs" / "blur" / f"{i}.png", 255 - img)
        _write(tmp_path / "pairs" / "sharp" / f"{i}.png", img)
    paired = PairedFolder(tmp_path / "pairs", crop=32, batch_size=2, seed=1)
    syn = SyntheticPairs(sharp_dir, crop=32, batch_size=2, kernel_size=K, kernel_bank=8, seed=1)
    m = mix(paired, syn, 0.5, seed=3, blur="device")
    assert sorted(m.spec) == ["input", "kernel", "noise_std", "paired", "sharp"]
    kinds = set()
    for step in range(8):
        e, s = divmod(step, m.steps_per_epoch)
        d = m.batch(e, s)
        assert sorted(d) == ["input", "kernel", "noise_std", "paired", "sharp"]
        assert d["kernel"].shape == (2, K, K) and d["noise_std"].shape == (2,)
        out = keras.ops.convert_to_numpy(
            blur_images((d["input"] + 1) / 2, d["kernel"], noise_std=d["noise_std"], seed=0)) * 2 - 1
        if m.is_synthetic(e, s):
            kinds.add("syn")
            np.testing.assert_array_equal(d["input"], d["sharp"])
            assert np.abs(out - d["input"]).max() > 1e-2
            assert (d["paired"] == 0).all()
        else:
            kinds.add("real")
            ref = paired.batch(*divmod(e * m.steps_per_epoch + s, paired.steps_per_epoch))
            np.testing.assert_array_equal(d["input"], ref[0])
            np.testing.assert_array_equal(d["sharp"], ref[1])
            assert (d["noise_std"] == 0).all()
            assert (d["paired"] == 1).all() and d["paired"].dtype == np.float32
            np.testing.assert_allclose(out, d["input"], atol=1e-4)
    assert kinds == {"syn", "real"}
    with pytest.raises(DatasetError, match="needs a SyntheticPairs"):
        mix(paired, syn.blurred_pairs(), 0.5, blur="device")


def test_fit_on_py_dataset(tmp_path, rng):
    """The PyDataset path feeds model.fit on the current backend (JAX on the GPU machine)."""
    import keras

    for i in range(4):
        img = _smooth(rng, 24, 24)
        _write(tmp_path / "blur" / f"{i}.png", img)
        _write(tmp_path / "sharp" / f"{i}.png", img)
    src = PairedFolder(tmp_path, crop=16, batch_size=2)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 3, padding="same")])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(src.as_py_dataset(), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()


def test_jax_path_never_imports_tensorflow(sharp_dir, tmp_path, rng):
    for i in range(2):
        img = _smooth(rng, 40, 40)
        _write(tmp_path / "pairs" / "blur" / f"{i}.png", img)
        _write(tmp_path / "pairs" / "sharp" / f"{i}.png", img)
    script = textwrap.dedent(f"""
        import sys
        from deblur_tf.data import PairedFolder, SyntheticPairs, mix
        p = PairedFolder({str(tmp_path / "pairs")!r}, crop=32, batch_size=2)
        s = SyntheticPairs({str(sharp_dir)!r}, crop=32, batch_size=2, kernel_size={K}, kernel_bank=4)
        for src in (p, s, s.blurred_pairs(), s.blurred_pairs("keras"), mix(p, s, 0.5)):
            ds = src.as_py_dataset(workers=2)
            [ds[i] for i in range(len(ds))]
        import keras
        assert keras.backend.backend() == "jax"
        bad = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
        print("TF_MODULES", len(bad), bad[:5])
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "TF_MODULES 0 []" in out.stdout, out.stdout


def _is_delta(k: np.ndarray) -> bool:
    c = k.shape[0] // 2
    return k[c, c] == 1.0 and float(np.abs(k).sum()) == 1.0


def test_sharp_fraction_leaves_that_share_of_crops_unblurred(sharp_dir):
    """A share `sharp_fraction` of the training crops gets the centred delta kernel (their input is the sharp
    crop plus camera noise); the others keep exactly the kernels they get without it; seeded; validation sets
    (fixed mode) are untouched."""
    kw = dict(crop=32, batch_size=8, kernel_size=K, kernel_bank=16, seed=3)
    plain, sharp = SyntheticPairs(sharp_dir, **kw), SyntheticPairs(sharp_dir, sharp_fraction=0.4, **kw)
    deltas = total = 0
    for step in range(plain.steps_per_epoch):
        for epoch in range(6):
            a, b = plain.batch(epoch, step), sharp.batch(epoch, step)
            np.testing.assert_array_equal(a["sharp"], b["sharp"])
            np.testing.assert_array_equal(a["noise_std"], b["noise_std"])
            for ka, kb in zip(a["kernel"], b["kernel"], strict=True):
                assert not _is_delta(ka)  # camera-shake kernels are never a delta here
                if _is_delta(kb):
                    deltas += 1
                else:
                    np.testing.assert_array_equal(ka, kb)
                total += 1
    assert total >= 40 and 0.2 < deltas / total < 0.6, (deltas, total)
    again = SyntheticPairs(sharp_dir, sharp_fraction=0.4, **kw)
    np.testing.assert_array_equal(again.batch(2, 0)["kernel"], sharp.batch(2, 0)["kernel"])
    fixed = dict(crop=32, batch_size=2, kernel_size=K, mode="fixed", seed=2)
    np.testing.assert_array_equal(SyntheticPairs(sharp_dir, sharp_fraction=0.4, **fixed).batch(0, 0)["kernel"],
                                  SyntheticPairs(sharp_dir, **fixed).batch(0, 0)["kernel"])
    with pytest.raises(DatasetError, match="sharp_fraction"):
        SyntheticPairs(sharp_dir, sharp_fraction=1.0, **kw)


def test_sharp_fraction_comes_from_the_pipeline(sharp_dir):
    from deblur_tf.config import ConfigError, load_pipeline
    from deblur_tf.run.build import build_data

    assert load_pipeline("nafnet-content").data.sharp_fraction == 0.1
    assert load_pipeline("smoke").data.sharp_fraction == 0.0
    cfg = load_pipeline("smoke", [f"data.train_dir={sharp_dir}", "data.val_dir=", "data.sharp_fraction=0.25",
                                  "data.kernel_bank=4"])
    train, val = build_data(cfg)
    assert train.sharp_fraction == 0.25 and val is None
    for bad in ("data.sharp_fraction=1.0", "data.sharp_fraction=-0.1"):
        with pytest.raises(ConfigError, match=r"data\.sharp_fraction"):
            load_pipeline("smoke", [bad])


def _ramp_dir(tmp_path: Path) -> Path:
    """Photos whose value rises 2 levels per pixel to the right: a crop's mean step between neighbours is
    2 / s at scale s, whatever part of the photo it comes from."""
    for i, (h, w) in enumerate([(64, 96), (72, 80)]):
        ramp = np.tile((2 * np.arange(w)).astype(np.uint8)[None, :, None], (h, 1, 3))
        _write(tmp_path / "ramp" / f"r{i}.png", ramp)
    return tmp_path / "ramp"


def _plain_and_scaled(d: Path, scale_range: tuple[float, float], kw: dict, epochs: int = 4):
    """(epoch, plain batch, batch at `scale_range`) for a few epochs, after checking that the scaled crops have
    the crop's shape and that the kernel and noise streams are those of plain crops."""
    plain, scaled = SyntheticPairs(d, **kw), SyntheticPairs(d, scale_range=scale_range, **kw)
    for epoch in range(epochs):
        a, b = plain.batch(epoch, 0), scaled.batch(epoch, 0)
        assert b["sharp"].shape == a["sharp"].shape == (kw["batch_size"], kw["crop"], kw["crop"], 3)
        np.testing.assert_array_equal(a["kernel"], b["kernel"])
        np.testing.assert_array_equal(a["noise_std"], b["noise_std"])
        yield epoch, a, b


def test_scale_range_takes_crops_at_smaller_scales(tmp_path):
    """scale_range (lo, hi) shrinks a square of side crop / s to the crop: the ramp gets steeper by 1 / s; the
    kernel and noise streams stay those of plain crops; (1, 1) is the plain crop; fixed sets are untouched."""
    d = _ramp_dir(tmp_path)
    kw = dict(crop=24, batch_size=2, kernel_size=K, kernel_bank=8, seed=5, augment=False)
    some = SyntheticPairs(d, scale_range=(0.5, 1.0), **kw)
    same = SyntheticPairs(d, scale_range=(1.0, 1.0), **kw)
    steps = []
    for epoch, a, b in _plain_and_scaled(d, (0.5, 0.5), kw):
        c = some.batch(epoch, 0)
        np.testing.assert_array_equal(a["sharp"], same.batch(epoch, 0)["sharp"])
        step_a = np.diff(a["sharp"], axis=2)[:, :, 1:-1].mean(axis=(1, 2, 3))
        step_b = np.diff(b["sharp"], axis=2)[:, :, 1:-1].mean(axis=(1, 2, 3))
        np.testing.assert_allclose(step_a, 4 / 255.0, rtol=0.02)  # 2 levels in [-1, 1] units
        np.testing.assert_allclose(step_b, 2 * step_a, rtol=0.05)
        steps.extend(np.diff(c["sharp"], axis=2)[:, :, 1:-1].mean(axis=(1, 2, 3)) / step_a)
    assert min(steps) >= 0.98 and max(steps) <= 2.05 and max(steps) - min(steps) > 0.1, steps
    again = SyntheticPairs(d, scale_range=(0.5, 1.0), **kw)
    np.testing.assert_array_equal(again.batch(3, 0)["sharp"], some.batch(3, 0)["sharp"])
    fixed = dict(crop=24, batch_size=2, kernel_size=K, mode="fixed", seed=2)
    np.testing.assert_array_equal(SyntheticPairs(d, scale_range=(0.5, 0.5), **fixed).batch(0, 0)["sharp"],
                                  SyntheticPairs(d, **fixed).batch(0, 0)["sharp"])
    for bad in ((0.0, 1.0), (0.8, 0.5), (0.5, 2.5)):
        with pytest.raises(DatasetError, match="scale_range"):
            SyntheticPairs(d, scale_range=bad, **kw)


def test_scale_range_above_one_enlarges_crops(tmp_path):
    """s > 1 cuts a square of side crop / s and enlarges it (bicubic): the ramp gets flatter by 1 / s, a fine
    pattern gets soft, every photo that fits the crop still works, and the other streams are those of plain
    crops."""
    d = _ramp_dir(tmp_path)
    kw = dict(crop=24, batch_size=2, kernel_size=K, kernel_bank=8, seed=5, augment=False)
    wide = SyntheticPairs(d, scale_range=(0.5, 2.0), **kw)
    ratios = []
    for epoch, a, b in _plain_and_scaled(d, (2.0, 2.0), kw):
        c = wide.batch(epoch, 0)
        assert c["sharp"].shape == (2, 24, 24, 3)
        step_a = np.diff(a["sharp"], axis=2)[:, 2:-2, 3:-3].mean(axis=(1, 2, 3))
        step_b = np.diff(b["sharp"], axis=2)[:, 2:-2, 3:-3].mean(axis=(1, 2, 3))
        np.testing.assert_allclose(step_b, step_a / 2, rtol=0.1)  # 8-bit rounding of the half-pixel values
        ratios.extend(np.diff(c["sharp"], axis=2)[:, 2:-2, 3:-3].mean(axis=(1, 2, 3)) / step_a)
    assert min(ratios) < 0.9 and max(ratios) > 1.1, ratios  # both sides of 1 are drawn
    # a one-pixel checkerboard (the finest detail) comes out soft: most of its contrast is gone
    board = (np.indices((40, 40)).sum(axis=0) % 2 * 200 + 20).astype(np.uint8)
    (tmp_path / "board").mkdir()
    _write(tmp_path / "board" / "b.png", np.repeat(board[..., None], 3, axis=2))
    one = dict(crop=24, batch_size=1, kernel_size=K, kernel_bank=8, seed=1, augment=False)
    crisp = SyntheticPairs(tmp_path / "board", **one).batch(0, 0)["sharp"]
    soft = SyntheticPairs(tmp_path / "board", scale_range=(1.8, 1.8), **one).batch(0, 0)["sharp"]
    assert np.abs(np.diff(soft, axis=2)).mean() < 0.5 * np.abs(np.diff(crisp, axis=2)).mean()


def test_scale_range_comes_from_the_pipeline(tmp_path):
    from deblur_tf.config import ConfigError, load_pipeline
    from deblur_tf.run.build import build_data

    d = _ramp_dir(tmp_path)
    assert load_pipeline("smoke").data.scale_range == [1.0, 1.0]
    cfg = load_pipeline("smoke", [f"data.train_dir={d}", "data.val_dir=", "data.scale_range=[0.6, 0.9]",
                                  "data.kernel_bank=4", "data.crop=24"])
    train, _ = build_data(cfg)
    assert train.scale_range == (0.6, 0.9)
    cfg = load_pipeline("smoke", [f"data.train_dir={d}", "data.val_dir=", "data.scale_range=[0.5, 1.5]",
                                  "data.kernel_bank=4", "data.crop=24"])
    assert build_data(cfg)[0].scale_range == (0.5, 1.5)
    for bad in ("data.scale_range=[0, 1]", "data.scale_range=[0.9, 0.5]", "data.scale_range=[0.5]",
                'data.scale_range=["a", 1]', "data.scale_range=[1, 2.5]"):
        with pytest.raises(ConfigError, match=r"data\.scale_range"):
            load_pipeline("smoke", [bad])


def test_exposures_shift_the_kernel_bank_and_come_from_the_pipeline(sharp_dir):
    """`exposures` feeds the kernel bank (longer kernels with (0.5, 1)); the default equals DeblurGAN's list given
    explicitly; bad values are errors naming the option, in the source and in the pipeline."""
    from deblur_tf.blur import kernel_extent
    from deblur_tf.config import ConfigError, load_pipeline
    from deblur_tf.run.build import build_data

    kw = dict(crop=24, batch_size=2, kernel_size=31, kernel_bank=200, seed=3)
    base = SyntheticPairs(sharp_dir, **kw)
    np.testing.assert_array_equal(base._bank, SyntheticPairs(sharp_dir, exposures=(0.1, 0.5, 1.0), **kw)._bank)
    long = SyntheticPairs(sharp_dir, exposures=(0.5, 1.0), **kw)
    assert np.median(kernel_extent(long._bank)) > np.median(kernel_extent(base._bank))
    np.testing.assert_array_equal(long.batch(1, 0)["sharp"], base.batch(1, 0)["sharp"])  # crops untouched
    for bad in ((), (0.0, 1.0), (1.2,)):
        with pytest.raises(DatasetError, match="exposures"):
            SyntheticPairs(sharp_dir, exposures=bad, **kw)

    assert load_pipeline("smoke").data.exposures == [0.1, 0.5, 1.0]
    cfg = load_pipeline("smoke", [f"data.train_dir={sharp_dir}", "data.val_dir=", "data.exposures=[0.5, 1]",
                                  "data.kernel_bank=4", "data.crop=24"])
    train, _ = build_data(cfg)
    assert train.exposures == (0.5, 1.0)
    for bad in ("data.exposures=[]", "data.exposures=[0, 1]", "data.exposures=[1.5]", 'data.exposures=["a"]'):
        with pytest.raises(ConfigError, match=r"data\.exposures"):
            load_pipeline("smoke", [bad])

"""The named evaluation sets of `deblur-tf evaluate --preset` (val-shake): reproducible, as documented, and
what the baselines and the report make of them."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf import classical
from deblur_tf.blur import REALISTIC_SHAKE, per_item_generators, random_kernels
from deblur_tf.cli import main
from deblur_tf.evaluation import EVAL_PRESETS, synthetic_samples

PRESET = EVAL_PRESETS["val-shake"]
# sha256 of the first two val-shake images as 8-bit bytes. The set is blurred by blur_numpy (NumPy/OpenCV,
# no Keras), so this digest must be the same under every Keras backend; it changes only if the set does
# (or if NumPy's generators or OpenCV's filter2D change their arithmetic: then re-derive it and say so).
FIRST_TWO_SHA256 = "8973d1124542f32af1f8b930d6deb771f088b5fc4938568db0d0c229b7cbc92e"


def _val_shake(shared, limit):
    return synthetic_samples(shared / "data" / "sharp" / "val", PRESET["seed"], limit, PRESET["kernel_size"],
                             PRESET["noise_std"], None, None, PRESET["shake"], PRESET["gammas"],
                             PRESET["quantize_bits"])


def test_preset_is_the_documented_set():
    assert PRESET == {"sharp": "../shared/data/sharp/val", "seed": 2026, "kernel_size": 63,
                      "shake": "realistic", "gammas": (2.2, 1.0), "noise_std": 0.01, "quantize_bits": 8}


def test_val_shake_is_reproducible_8bit_and_half_linear(shared):
    a, b = _val_shake(shared, 2), _val_shake(shared, 2)
    digest = hashlib.sha256()
    for sa, sb in zip(a, b, strict=True):
        sharp_a, blur_a = sa.load()
        sharp_b, blur_b = sb.load()
        np.testing.assert_array_equal(blur_a, blur_b)
        np.testing.assert_array_equal(sa.kernel, sb.kernel)
        assert blur_a.shape == sharp_a.shape and sa.kernel.shape == (63, 63)  # whole image, 63 px kernel
        levels = blur_a * 255
        np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # 8-bit values
        assert np.abs(blur_a - sharp_a).mean() > 0.01  # it is blurred
        digest.update(np.round(levels).astype(np.uint8).tobytes())
    assert digest.hexdigest() == FIRST_TWO_SHA256
    # gamma alternates by index: 2.2 (linear light) on even images, sRGB values (None) on odd ones
    assert [s.gamma for s in _val_shake(shared, 5)] == [2.2, None, 2.2, None, 2.2]


def test_kernel_i_depends_on_seed_and_index_only(shared):
    two, five = _val_shake(shared, 2), _val_shake(shared, 5)
    np.testing.assert_array_equal(two[1].kernel, five[1].kernel)
    expect = random_kernels(3, size=63, rng=per_item_generators(2026, range(3)), params=REALISTIC_SHAKE)
    np.testing.assert_allclose(five[2].kernel, expect[2], rtol=0, atol=0)
    # a real shake kernel of the realistic preset, not a near-delta
    assert (five[2].kernel > 0.01 * five[2].kernel.max()).sum() > 20


def test_old_seed_2024_set_is_unchanged(tmp_path, shared):
    """The default (boracchi) kernels are the call that made the seed-2024 table in docs/RESULTS.md."""
    s = synthetic_samples(shared / "data" / "sharp" / "val", 2024, 2, 31, 0.01, 2.2, None)
    expect = random_kernels(2, size=31, rng=per_item_generators(2024, range(2)))
    np.testing.assert_array_equal(s[1].kernel, expect[1])
    assert [x.gamma for x in s] == [2.2, 2.2]


def test_preset_rejects_options_it_fixes(tmp_path):
    r = CliRunner().invoke(main, ["evaluate", "--preset", "val-shake", "--synthetic-seed", "1",
                                  "--no-lpips", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--preset val-shake fixes --synthetic-seed" in r.output


def test_evaluate_val_shake_end_to_end(tmp_path, shared, monkeypatch):
    """Two images, a tiny model, Wiener tuned: the filters get each image's true kernel and gamma."""
    from test_inference import tiny_model

    tiny_model().save(tmp_path / "tiny.keras")
    calls = []
    real_restore = classical.restore

    def spy(method, img, kernel, param=None, gamma=None):
        calls.append((method, np.asarray(kernel).copy(), gamma))
        return real_restore(method, img, kernel, param, gamma=gamma)

    monkeypatch.setattr(classical, "restore", spy)
    out = tmp_path / "o"
    r = CliRunner().invoke(main, ["evaluate", "--preset", "val-shake", "--sharp", str(shared / "data/sharp/val"),
                                  "--limit", "2", "--no-lpips", "--baselines", "blurred,wiener", "--tune",
                                  "--model", str(tmp_path / "tiny.keras"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    syn = summary["synthetic"]
    assert summary["preset"] == "val-shake" and syn["seed"] == 2026 and syn["kernel_size"] == 63
    assert syn["shake"] == "realistic" and syn["trajectory"]["max_len"] == [40.0, 120.0]
    assert syn["trajectory"]["centripetal"] == 0.05 and syn["noise_std"] == 0.01
    assert syn["quantize_bits"] == 8 and syn["gamma_cycle"] == [2.2, 1.0] and syn["whole_images"]
    names = sorted(syn["gammas"])
    assert [syn["gammas"][n] for n in names] == [2.2, 1.0]
    assert len(summary["methods"]) == 3 and {"blurred", "wiener"} <= set(summary["methods"])
    assert all(m["images"] == 2 for m in summary["methods"].values())
    assert summary["tuned"]["wiener"]["images"] == names
    assert "seed 2026" in (out / "summary.md").read_text()
    # every filter call (tuning and evaluation) used the true kernel with its image's gamma
    saved = np.load(out / "kernels.npz")
    by_kernel = {saved[f"k{i:04d}"].tobytes(): (2.2 if syn["gammas"][n] == 2.2 else None)
                 for i, n in enumerate(saved["names"])}
    assert len(calls) > 2
    for method, kernel, gamma in calls:
        assert method == "wiener"
        assert by_kernel[kernel.astype(np.float32).tobytes()] == gamma
    assert {g for _, _, g in calls} == {2.2, None}


def test_tune_deconvolves_each_image_in_its_own_gamma(monkeypatch):
    """A per-image gamma list reaches every restore call of tune (no single-gamma shortcut)."""
    rng = np.random.default_rng(0)
    sharp = [rng.random((24, 24, 3)).astype(np.float32) for _ in range(2)]
    k = np.ones((3, 3)) / 9
    blurred = [classical.blur_fft(s, k) for s in sharp]
    gammas = [2.2, None]
    seen = []
    orig = classical.restore

    def spy(method, img, kernel, param=None, gamma=None):
        seen.append(gamma)
        return orig(method, img, kernel, param, gamma=gamma)

    monkeypatch.setattr(classical, "restore", spy)
    classical.tune("wiener", blurred, sharp, [k, k], grid=[0.01], gamma=gammas, refine=False)
    assert seen == gammas
    with pytest.raises(Exception, match="gammas"):
        classical.tune("wiener", blurred, sharp, [k, k], gamma=[2.2])

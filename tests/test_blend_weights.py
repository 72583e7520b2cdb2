"""scripts/blend_weights.py: soups and interpolations of zoo-style model folders load and behave as blends.

Backend-independent: scripts/test.sh runs it under TensorFlow and under JAX.
"""

import json
from pathlib import Path

import keras
import numpy as np
from click.testing import CliRunner
from script_module import load_script

from deblur_tf.models import build_generator
from deblur_tf.zoo import load_model, save_shipped

bw = load_script("scripts/blend_weights.py")

KW = {"width": 8, "encoder_blocks": [1], "middle_blocks": 1, "decoder_blocks": [1]}


def _model(tmp_path: Path, name: str, seed: int, **kw) -> Path:
    keras.utils.set_random_seed(seed)
    g = build_generator("nafnet", **(kw or KW))
    # NAFNet's residual scales start at zero, so two fresh models compute the same identity: perturb every
    # weight so that the two inputs of a blend really differ.
    rng = np.random.default_rng(seed)
    g.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype) for w in g.get_weights()])
    return save_shipped(g, tmp_path / name, name=name, kind="nafnet", kwargs=kw or KW)


def _weights(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "weights.npz") as z:
        return {k: z[k].astype(np.float32) for k in z.files}


def test_interpolation_is_the_weighted_mean_and_loads_as_a_model(tmp_path):
    a, b = _model(tmp_path, "a", 1), _model(tmp_path, "b", 2)
    out = tmp_path / "mix"
    res = CliRunner().invoke(bw.main, [str(a), str(b), "-o", str(out), "--weights", "0.25,0.75"])
    assert res.exit_code == 0, res.output
    wa, wb, wm = _weights(a), _weights(b), _weights(out)
    for k in wa:
        np.testing.assert_allclose(wm[k], 0.25 * wa[k] + 0.75 * wb[k], atol=2e-3, rtol=2e-3)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["name"] == "mix" and cfg["default"] is False and cfg["kwargs"] == KW
    record = json.loads((out / "blend.json").read_text())
    assert [i["weight"] for i in record["inputs"]] == [0.25, 0.75]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    ya = np.asarray(load_model(a).predict(x))
    ym = np.asarray(load_model(out).predict(x))
    assert np.abs(ym - ya).max() > 1e-3, "the blend computes model a's function"


def test_a_blend_weighted_one_reproduces_its_model(tmp_path):
    a, b = _model(tmp_path, "a", 1), _model(tmp_path, "b", 2)
    out = tmp_path / "same"
    res = CliRunner().invoke(bw.main, [str(a), str(b), "-o", str(out), "--weights", "1,0"])
    assert res.exit_code == 0, res.output
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(load_model(out).predict(x)), np.asarray(load_model(a).predict(x)))


def test_default_is_the_uniform_soup(tmp_path):
    a, b = _model(tmp_path, "a", 1), _model(tmp_path, "b", 2)
    out = tmp_path / "soup"
    assert CliRunner().invoke(bw.main, [str(a), str(b), "-o", str(out)]).exit_code == 0
    wa, wb, wm = _weights(a), _weights(b), _weights(out)
    k = sorted(wa)[0]
    np.testing.assert_allclose(wm[k], (wa[k] + wb[k]) / 2, atol=2e-3, rtol=2e-3)


def test_bad_input_is_refused_and_nothing_is_overwritten(tmp_path):
    a = _model(tmp_path, "a", 1)
    other = _model(tmp_path, "c", 3, width=8, encoder_blocks=[1, 1], middle_blocks=1, decoder_blocks=[1, 1])
    runner = CliRunner()
    res = runner.invoke(bw.main, [str(a), str(other), "-o", str(tmp_path / "x")])
    assert res.exit_code != 0 and "architecture" in res.output
    res = runner.invoke(bw.main, [str(a), str(a), "-o", str(tmp_path / "y"), "--weights", "0.5,0.6"])
    assert res.exit_code != 0 and "sum" in res.output
    res = runner.invoke(bw.main, [str(a), str(a), "-o", str(tmp_path / "y"), "--weights", "1"])
    assert res.exit_code != 0 and "2 models" in res.output
    (tmp_path / "b").mkdir()
    res = runner.invoke(bw.main, [str(a), str(tmp_path / "b"), "-o", str(tmp_path / "z")])
    assert res.exit_code != 0 and "weights.npz" in res.output
    before = (a / "weights.npz").read_bytes()
    res = runner.invoke(bw.main, [str(a), str(a), "-o", str(a)])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert (a / "weights.npz").read_bytes() == before

"""scripts/ship_model.py: a candidate becomes a shipped model with the network it was trained as and the fields
of the name it replaces (default, model card, the ensemble `deblur` runs); bad candidates change nothing.

Backend-independent: scripts/test.sh runs it under TensorFlow and under JAX. The heavy steps (critic, test
reference, README picture) are existing scripts and are switched off here.
"""

import json
from pathlib import Path

import keras
import numpy as np
from click.testing import CliRunner
from script_module import load_script

from deblur_tf.models import build_generator
from deblur_tf.zoo import load_model, save_shipped

sm = load_script("scripts/ship_model.py")

OFF = ["--no-critic", "--no-reference", "--no-picture"]


def _nafnet(folder: Path, name: str, seed: int, middle: int, **save) -> Path:
    kw = {"width": 8, "encoder_blocks": [1], "middle_blocks": middle, "decoder_blocks": [1]}
    keras.utils.set_random_seed(seed)
    g = build_generator("nafnet", **kw)
    rng = np.random.default_rng(seed)  # zero-initialised residual scales: make the two models really differ
    g.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype) for w in g.get_weights()])
    return save_shipped(g, folder / name, name=name, kind="nafnet", kwargs=kw, **save)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_candidate_ships_with_its_network_and_the_names_own_fields(tmp_path):
    zoo = tmp_path / "zoo"
    _nafnet(zoo, "naf", seed=1, middle=1, default=True, ensemble=2)
    (zoo / "naf" / "MODEL_CARD.md").write_text("# naf\n")
    cand = _nafnet(tmp_path / "cand", "run21", seed=2, middle=2)  # a grown network, as cycle 14's
    r = CliRunner().invoke(sm.main, [str(cand), "--as", "naf", "--root", str(zoo), *OFF])
    assert r.exit_code == 0, r.output
    cfg = json.loads((zoo / "naf" / "config.json").read_text())
    assert cfg["kwargs"]["middle_blocks"] == 2 and cfg["kind"] == "nafnet"  # the candidate's network
    assert (cfg["name"], cfg["default"], cfg["ensemble"], cfg["card"]) == ("naf", True, 2, "MODEL_CARD.md")
    assert (zoo / "naf" / "weights.npz").read_bytes() == (cand / "weights.npz").read_bytes()
    assert (zoo / "naf" / "MODEL_CARD.md").read_text() == "# naf\n"  # what is not the network stays
    shipped, ran = load_model("naf", root=zoo), load_model(str(cand))
    assert shipped.ensemble == 2
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(shipped.predict(x), ran.predict(x))
    assert "ensemble 2" in r.output


def test_bad_candidates_and_unknown_names_change_nothing(tmp_path):
    zoo = tmp_path / "zoo"
    _nafnet(zoo, "naf", seed=1, middle=1, default=True, ensemble=2)
    before = _files(zoo / "naf")
    cand = _nafnet(tmp_path / "cand", "run", seed=2, middle=2)
    wrong = json.loads((cand / "config.json").read_text())
    wrong["kwargs"]["middle_blocks"] = 3  # weights of one network, config of another
    (cand / "config.json").write_text(json.dumps(wrong))
    runner = CliRunner()
    r = runner.invoke(sm.main, [str(cand), "--as", "naf", "--root", str(zoo), *OFF])
    assert r.exit_code != 0 and "does not load" in r.output and str(cand) in r.output, r.output
    (cand / "weights.npz").unlink()
    r = runner.invoke(sm.main, [str(cand), "--as", "naf", "--root", str(zoo), *OFF])
    assert r.exit_code != 0 and "weights.npz is missing" in r.output, r.output
    good = _nafnet(tmp_path / "cand", "good", seed=3, middle=1)
    r = runner.invoke(sm.main, [str(good), "--as", "nafnet-tiny", "--root", str(zoo), *OFF])
    assert r.exit_code != 0 and "no shipped model 'nafnet-tiny'" in r.output and "naf" in r.output, r.output
    assert _files(zoo / "naf") == before and not (zoo / "nafnet-tiny").exists()
    r = runner.invoke(sm.main, [str(good), "--as", "nafnet-tiny", "--root", str(zoo), "--new", *OFF])
    assert r.exit_code == 0, r.output
    cfg = json.loads((zoo / "nafnet-tiny" / "config.json").read_text())
    assert cfg["name"] == "nafnet-tiny" and cfg["default"] is False and "ensemble" not in cfg
    assert _files(zoo / "naf") == before

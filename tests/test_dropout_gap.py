"""benchmarks/dropout_gap.py: dropout on against off, on a tiny ResNet saved in the shipped layout."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from script_module import load_script

from deblur_tf.models import build_generator
from deblur_tf.zoo import save_shipped

gap = load_script("benchmarks/dropout_gap.py")


def _model(tmp_path: Path, dropout: float) -> Path:
    kwargs = {"ngf": 4, "n_blocks": 1, "convs_per_block": 2, "dropout": dropout, "upsample": "resize"}
    g = build_generator("resnet", **kwargs)
    rng = np.random.default_rng(0)  # a generator that does something, so dropout can change its output
    g.set_weights([rng.normal(0.0, 0.2, w.shape).astype(np.float32) for w in g.get_weights()])
    return save_shipped(g, tmp_path / f"m{dropout}", name=f"tiny{dropout}", kind="resnet", kwargs=kwargs)


def _pairs(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    blurred, sharp = tmp_path / "b", tmp_path / "s"
    blurred.mkdir()
    sharp.mkdir()
    for i in range(2):
        s = rng.integers(0, 256, (34, 30, 3), dtype=np.uint8)  # not multiples of 4: cropped to the model's grid
        cv2.imwrite(str(sharp / f"p{i}.png"), s)
        cv2.imwrite(str(blurred / f"p{i}.png"), cv2.GaussianBlur(s, (5, 5), 1.0))
    return blurred, sharp


def test_dropout_on_differs_only_when_the_model_has_dropout(tmp_path):
    blurred, sharp = _pairs(tmp_path)
    with_dropout = gap.measure(str(_model(tmp_path, 0.5)), blurred, sharp, draws=2)
    assert [r["image"] for r in with_dropout["images"]] == ["p0.png", "p1.png"]
    assert all(r["dropout_on"] != r["dropout_off"] for r in with_dropout["images"])
    without = gap.measure(str(_model(tmp_path, 0.0)), blurred, sharp, draws=2)
    for r in without["images"]:
        assert r["dropout_on"] == pytest.approx(r["dropout_off"], abs=1e-6)
    assert without["mean"]["input"] == pytest.approx(with_dropout["mean"]["input"])
    assert 5.0 < without["mean"]["input"] < 60.0


def test_bad_folders_draws_and_pairs_are_errors_naming_them(tmp_path):
    from deblur_tf.errors import DeblurError

    blurred, sharp = _pairs(tmp_path)
    model = str(_model(tmp_path, 0.5))
    with pytest.raises(DeblurError, match=r"--sharp .*nowhere: no such folder"):
        gap.measure(model, blurred, tmp_path / "nowhere")
    with pytest.raises(DeblurError, match="--draws 0"):
        gap.measure(model, blurred, sharp, draws=0)
    (blurred / "notes.txt").write_text("not an image")  # skipped, not read as one
    assert [r["image"] for r in gap.measure(model, blurred, sharp, draws=1)["images"]] == ["p0.png", "p1.png"]
    (sharp / "p1.png").unlink()
    with pytest.raises(DeblurError, match=r"p1\.png: missing"):
        gap.measure(model, blurred, sharp)
    cv2.imwrite(str(sharp / "p1.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(DeblurError, match="differ in size"):
        gap.measure(model, blurred, sharp)

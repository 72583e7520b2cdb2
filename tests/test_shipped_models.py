"""Each shipped model loads and reproduces its stored reference output: catches a broken or swapped weights file."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from deblur_tf.zoo import default_model, list_models, load_model

_spec = importlib.util.spec_from_file_location("make_ref", Path(__file__).parent / "make_shipped_reference.py")
_make_ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_make_ref)
REFERENCE = Path(__file__).parent / "data" / "shipped_reference.npz"


def _psnr_minus1_1(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean(((a - b) / 2.0) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def test_shipped_models_are_listed_with_one_default():
    names = {m["name"] for m in list_models()}
    assert {"deblurgan", "deblurgan-mobile", "nafnet", "nafnet-small"} <= names
    assert default_model() == "nafnet"


@pytest.mark.parametrize("name", ["deblurgan", "deblurgan-mobile", "nafnet", "nafnet-small"])
def test_shipped_model_matches_reference(name):
    with np.load(REFERENCE) as ref:
        expected = ref[name].astype(np.float32)
    x = _make_ref.reference_input()
    got = np.asarray(load_model(name).predict(x), np.float32)
    assert got.shape == x.shape
    assert _psnr_minus1_1(got, expected) > 50.0
    # and the model does something: its output is not the input
    assert _psnr_minus1_1(got, x) < 50.0


def test_corrupted_weights_are_caught(tmp_path):
    import shutil

    src = Path(list_models()[0]["path"]).parent
    dst = tmp_path / "zoo"
    shutil.copytree(src / "deblurgan-mobile", dst / "deblurgan-mobile")
    with np.load(dst / "deblurgan-mobile" / "weights.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["w000"] = arrays["w000"][::-1].copy()  # a swapped/garbled tensor of the right shape
    np.savez(dst / "deblurgan-mobile" / "weights.npz", **arrays)
    from deblur_tf import zoo

    model = zoo.load_model(str(dst / "deblurgan-mobile"))
    with np.load(REFERENCE) as ref:
        expected = ref["deblurgan-mobile"].astype(np.float32)
    got = np.asarray(model.predict(_make_ref.reference_input()), np.float32)
    assert _psnr_minus1_1(got, expected) < 50.0

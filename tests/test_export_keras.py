"""The exported `.keras` file: loads in plain Keras (a fresh process where deblur_tf cannot even be imported)
under both backends with the same outputs, fine-tunes, embeds (any backend)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from deblur_tf.errors import DeblurError, OutputExistsError
from deblur_tf.export import export_keras

ROOT = Path(__file__).resolve().parents[1]

RELOAD = """
import sys
sys.modules["deblur_tf"] = None  # any import of deblur_tf (by Keras or anything else) raises ImportError
import numpy as np
import keras
model = keras.saving.load_model(sys.argv[1])
np.save(sys.argv[3], np.asarray(model.predict_on_batch(np.load(sys.argv[2]))))
print(keras.backend.backend())
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    from deblur_tf.models import build_generator

    keras.utils.set_random_seed(3)
    model = build_generator("resnet", ngf=8, n_blocks=1)
    path = export_keras(model, tmp_path_factory.mktemp("keras") / "tiny.keras")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 24, 20, 3)).astype(np.float32)
    return model, path, x


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_keras_file_reloads_in_fresh_process(saved, tmp_path, backend):
    model, path, x = saved
    np.save(tmp_path / "x.npy", x)
    # a user's process: plain Keras, no deblur_tf on the path, none importable (see RELOAD)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    env.update(KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="")
    (tmp_path / "reload.py").write_text(RELOAD)
    res = subprocess.run([sys.executable, str(tmp_path / "reload.py"), str(path), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == backend
    got = np.load(tmp_path / "y.npy")
    expected = np.asarray(model.predict_on_batch(x))
    if backend == keras.backend.backend():
        np.testing.assert_array_equal(got, expected)  # same backend: bit-identical
    else:
        np.testing.assert_allclose(got, expected, atol=1e-4)  # other backend: same maths, other kernels


def test_exported_file_holds_standard_layers_only(saved):
    import json
    import zipfile

    _, path, _ = saved
    with zipfile.ZipFile(path) as z:
        config = json.loads(z.read("config.json"))
    modules = set()

    def walk(node):
        if isinstance(node, dict):
            if "class_name" in node and "module" in node:
                modules.add(str(node["module"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(config)
    assert modules and all(m.startswith("keras") for m in modules), modules
    assert config["config"]["name"].endswith("_x4")  # the input multiple travels with the file


def _predict_in_plain_keras(path: Path, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The .keras file's output on `x` in a fresh process where deblur_tf cannot be imported (RELOAD)."""
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "reload.py").write_text(RELOAD)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, str(tmp_path / "reload.py"), str(path), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return np.load(tmp_path / "y.npy")


def test_shipped_mobile_export_is_bit_identical_in_plain_keras(tmp_path):
    """The shipped default (mobile U-Net: nearest upsampling, clip-add) through the portable export."""
    from deblur_tf.zoo import load_model

    loaded = load_model("deblurgan-mobile")
    path = export_keras(loaded.keras_model, tmp_path / "mobile.keras")
    x = np.random.default_rng(2).uniform(-1, 1, (1, 40, 56, 3)).astype(np.float32)
    np.testing.assert_array_equal(_predict_in_plain_keras(path, x, tmp_path), loaded.predict(x))
    assert load_model(str(path)).input_multiple == 8  # deblur-tf reads the multiple back from the name


def test_keras_file_fine_tunes_and_embeds(saved, tmp_path):
    _, path, x = saved

    model = keras.saving.load_model(path)
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    hist = model.fit(x, np.clip(x * 0.9, -1, 1), batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))

    # embedded in a bigger model that takes [0, 1] images, saved and reloaded as one .keras file
    inp = keras.Input((None, None, 3))
    y = model(keras.layers.Rescaling(2.0, offset=-1.0)(inp))
    wrapper = keras.Model(inp, keras.layers.Rescaling(0.5, offset=0.5)(y))
    x01 = (x + 1) / 2
    out = np.asarray(wrapper.predict_on_batch(x01))
    assert out.shape == x.shape and 0.0 <= out.min() and out.max() <= 1.0
    np.testing.assert_allclose(out, (np.asarray(model.predict_on_batch(x)) + 1) / 2, atol=1e-5)
    wrapper_path = export_keras(wrapper, tmp_path / "wrapper.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(wrapper_path).predict_on_batch(x01)), out,
                               atol=1e-5)


def test_export_keras_refuses_overwrite_and_bad_suffix(saved, tmp_path):
    model, path, _ = saved
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_keras(model, path)
    with pytest.raises(DeblurError, match="must end in .keras"):
        export_keras(model, tmp_path / "model.h5")
    export_keras(model, path, overwrite=True)
    assert path.is_file() and not list(path.parent.glob(".tmp-*"))


def test_export_all_writes_and_verifies_keras_under_any_backend(saved, tmp_path):
    from deblur_tf.export import export_all

    model, _, _ = saved
    report = export_all(model, tmp_path / "out", formats=["keras"], input_sizes=[(32, 32)], name="tiny",
                        eval_dir=None, eval_count=1, latency_runs=1, log=None)
    (row,) = report["artifacts"]
    assert row["format"] == "keras" and row["passed"] and row["psnr_vs_keras_db"] == float("inf")
    assert (tmp_path / "out" / "tiny.keras").is_file() and (tmp_path / "out" / "report.json").is_file()
    assert report["backend"] == keras.backend.backend()
    if keras.backend.backend() != "tensorflow":  # the other formats are TensorFlow graphs: say how to get them
        with pytest.raises(DeblurError, match="KERAS_BACKEND=tensorflow"):
            export_all(model, tmp_path / "sm", formats=["savedmodel"], log=None)


@pytest.mark.parametrize("padding", [(1, 1), (3, 3), (2, 1)])
def test_standard_layer_reflection_padding_is_bit_identical(padding):
    """The portable rebuild of ReflectionPadding2D on odd sizes (the mask arithmetic must not round)."""
    from deblur_tf.models.layers import ReflectionPadding2D
    from deblur_tf.portable import custom_layers, standard_layers_model

    inp = keras.Input((None, None, 3))
    original = keras.Model(inp, ReflectionPadding2D(padding)(inp))
    portable = standard_layers_model(original)
    assert custom_layers(portable) == [] and custom_layers(original)
    x = np.random.default_rng(1).normal(size=(2, 7, 5, 3)).astype(np.float32) * 1e3
    got = keras.ops.convert_to_numpy(portable(x))
    ph, pw = padding
    np.testing.assert_array_equal(got, np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)), mode="reflect"))


def test_nafnet_export_is_bit_identical_without_extra_weights(tmp_path):
    """NAFNet's SimpleGate halves (SliceChannels) and beta/gamma (Scale) through the portable export: the same
    outputs in a plain-Keras process, any input size, and no weights beyond the model's own (the old selection
    convolutions more than doubled the file of the shipped nafnet)."""
    from deblur_tf.models import build_generator
    from deblur_tf.portable import custom_layers, standard_layers_model

    model = build_generator("nafnet", width=8, encoder_blocks=[1, 1, 1, 1], middle_blocks=1,
                            decoder_blocks=[1, 1, 1, 1])
    rng = np.random.default_rng(5)
    for w in model.weights:  # the zero-initialised scales would hide a wrong gate
        w.assign(rng.normal(0, 0.2, w.shape).astype(np.float32))
    portable = standard_layers_model(model, 16)
    assert custom_layers(portable) == [] and custom_layers(model)
    assert portable.count_params() == model.count_params()
    x = rng.uniform(-1, 1, (2, 48, 80, 3)).astype(np.float32)
    want = np.asarray(model.predict_on_batch(x))
    np.testing.assert_array_equal(np.asarray(portable.predict_on_batch(x)), want)
    path = export_keras(model, tmp_path / "naf.keras")
    np.testing.assert_array_equal(_predict_in_plain_keras(path, x, tmp_path), want)

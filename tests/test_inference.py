"""Any-size deblurring: padding, tiling, 16-bit, the model loader and the `deblur` / `models` commands.

A tiny functional Keras model (two 3x3 convs with a residual) stands in for a trained generator: the engine
must work with any model mapping [-1, 1] NHWC images to the same shape.
"""

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.cli import main
from deblur_tf.errors import DeblurError
from deblur_tf.inference import Deblurrer, flip_ensemble, keras_predict_fn, pad_to_multiple
from deblur_tf.io import read_image, write_image
from deblur_tf.metrics import psnr


def tiny_model(seed=0, stride=True):
    """conv -> (stride-2 conv -> upsample) -> conv + skip: needs H, W divisible by 2, like a real generator."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    if stride:
        x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.UpSampling2D(2)(x)
    x = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(x)
    out = keras.layers.Add()([inp, keras.layers.Rescaling(2.0)(x)])
    return keras.Model(inp, out)


def identity_model():
    inp = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 1, use_bias=False)
    out = conv(inp)
    conv.set_weights([np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    return keras.Model(inp, out)


def smooth(h, w, seed=0):
    import cv2

    n = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(n, (0, 0), 2) * 2 - 0.5, 0, 1)


def test_keras_predict_fn_is_the_inference_call_for_any_shape():
    """The compiled predict path must give what `model(x, training=False)` gives: dropout off (a model whose
    output would be random in training mode), and right for a second and third input shape (retraced or
    recompiled, not reused from the first)."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(3, 3, padding="same")(inp)
    out = keras.layers.Dropout(0.5)(x)
    model = keras.Model(inp, out)
    predict = keras_predict_fn(model)
    rng = np.random.default_rng(0)
    for shape in [(4, 32, 48, 3), (2, 32, 48, 3), (1, 40, 24, 3)]:
        batch = rng.uniform(-1, 1, shape).astype(np.float32)
        got = predict(batch)
        assert got.dtype == np.float32 and got.shape == shape
        want = keras.ops.convert_to_numpy(model(batch, training=False))
        np.testing.assert_allclose(got, want, atol=1e-5)
        np.testing.assert_array_equal(predict(batch), got)  # no dropout: the same twice


def test_any_size_comes_back_same_size():
    calls = []

    def predict(batch):
        calls.append(batch.shape)
        assert batch.shape[1] % 4 == 0 and batch.shape[2] % 4 == 0
        return batch

    img = smooth(1000, 700)
    out = Deblurrer(predict, multiple=4, tile=None)(img)
    assert out.shape == (1000, 700, 3)
    np.testing.assert_allclose(out, img, atol=1e-6)  # identity model: the padding is cropped exactly
    img2 = smooth(301, 517, seed=2)
    out2 = Deblurrer(predict, multiple=8, tile=128, overlap=32)(img2)
    assert out2.shape == (301, 517, 3)
    np.testing.assert_allclose(out2, img2, atol=1e-6)  # tiles of an identity model blend back exactly
    tiles = calls[1:]
    assert len(tiles) > 2 and all(8 <= t <= 128 and t % 8 == 0 for c in tiles for t in c[1:3])


@pytest.mark.parametrize("size,tile,overlap", [(1024, 512, 32), (520, 128, 32), (1000, 256, 48), (300, 64, 16)])
def test_tile_layout_covers_with_overlap_and_little_waste(size, tile, overlap):
    from deblur_tf.inference import _axis_tiles

    length, starts = _axis_tiles(size, tile, overlap, 4)
    assert length <= tile and length % 4 == 0
    assert starts[0] == 0 and starts[-1] + length == size
    assert all(a + length - b >= overlap for a, b in zip(starts, starts[1:], strict=False))
    n = len(starts)
    assert (n - 1) * (tile - overlap) < size - overlap  # no more tiles than needed
    assert n * length <= size + (n - 1) * overlap + 4 * n  # tiles shrink to fit instead of piling up at the end


def test_tiled_equals_untiled_without_seams():
    model = tiny_model()
    img = smooth(200, 260)
    whole = Deblurrer(model, multiple=4, tile=None)(img)
    tiled = Deblurrer(model, multiple=4, tile=96, overlap=32, batch_size=3)(img)
    assert np.abs(whole - img).max() > 0.05  # the model does change the image
    assert np.abs(tiled - whole).max() <= 1 / 255


def test_fixed_tiles_are_all_one_size_and_blend_without_seams():
    """For fixed-size runtimes (TFLite): every tile of a long axis is exactly `tile`; overlaps grow instead."""
    model = tiny_model()
    img = smooth(200, 260)
    shapes = []

    def predict(batch):
        shapes.append(batch.shape[1:3])
        return np.asarray(model.predict_on_batch(batch))

    whole = Deblurrer(model, multiple=4, tile=None)(img)
    fixed = Deblurrer(predict, multiple=4, tile=96, overlap=32, batch_size=1, fixed_tile=True)(img)
    assert len(shapes) > 4 and set(shapes) == {(96, 96)}
    assert np.abs(fixed - whole).max() <= 1 / 255
    from deblur_tf.inference import _axis_tiles

    length, starts = _axis_tiles(1000, 256, 48, 4, fixed=True)
    assert length == 256 and starts[0] == 0 and starts[-1] + 256 == 1000
    assert all(b - a <= 256 - 48 for a, b in zip(starts, starts[1:], strict=False))


def test_tiles_without_feathering_would_show(monkeypatch):
    # guard that the seams test can fail: zero overlap exposes the tile borders' zero padding
    model = tiny_model()
    img = smooth(200, 260)
    whole = Deblurrer(model, tile=None)(img)
    hard = Deblurrer(model, tile=96, overlap=0)(img)
    assert np.abs(hard - whole).max() > 1 / 255


def test_padding_is_reflection():
    x = np.arange(6 * 5 * 1, dtype=np.float32).reshape(6, 5, 1)
    p, (h, w) = pad_to_multiple(x, 4)
    assert p.shape == (8, 8, 1) and (h, w) == (6, 5)
    np.testing.assert_array_equal(p[6, :5], x[4])  # reflect: row 6 mirrors row 4
    np.testing.assert_array_equal(p[:6, 5, 0], x[:, 3, 0])


def test_progress_counts_every_tile_of_one_large_image():
    calls = []
    runner = Deblurrer(lambda b: b, multiple=4, tile=64, overlap=16, batch_size=3)
    img = np.zeros((150, 210, 3), np.float32)
    total = runner.tile_count(img.shape)
    runner(img, progress=calls.append)
    assert total > 3 and sum(calls) == total and len(calls) == -(-total // 3)  # one report per model call of 3
    calls.clear()
    assert runner.tile_count((40, 40)) == 1
    runner(np.zeros((40, 40, 3), np.float32), progress=calls.append)
    assert calls == [1]


def test_bad_tile_and_model_output():
    with pytest.raises(DeblurError, match="--tile"):
        Deblurrer(lambda b: b, tile=48, overlap=32)
    with pytest.raises(DeblurError, match=r"--tile 17 \(16 after rounding down to a multiple of 4\)"):
        Deblurrer(lambda b: b, tile=17, overlap=8)
    with pytest.raises(DeblurError, match="same size"):
        Deblurrer(lambda b: b[:, ::2, ::2], tile=None)(np.zeros((16, 16, 3), np.float32))


# ------------------------------------------------------------------------------------------------ model loader


def _save_run_dir(tmp_path, model):
    """A training-run-like folder whose generator.json names a kind the test registers."""
    run = tmp_path / "run"
    run.mkdir()
    model.save_weights(run / "generator.weights.h5")
    (run / "generator.json").write_text(json.dumps({"kind": "tiny", "kwargs": {"seed": 3}}))
    return run


@pytest.fixture
def tiny_kind(monkeypatch):
    """Make `tiny` a generator kind (the models package's table is a dict; the loader goes through it)."""
    from deblur_tf import models

    monkeypatch.setitem(models.GENERATORS, "tiny", lambda seed=0: tiny_model(seed))


def test_load_model_from_every_layout(tmp_path, tiny_kind):
    from deblur_tf.zoo import list_models, load_model, save_shipped

    model = tiny_model(seed=1)
    img = smooth(32, 40)
    ref = keras.ops.convert_to_numpy(model(img[None] * 2 - 1))

    model.save(tmp_path / "m.keras")
    run = _save_run_dir(tmp_path, model)
    model.save_weights(tmp_path / "w.weights.h5")
    (tmp_path / "generator.json").write_text(json.dumps({"kind": "tiny"}))
    zoo = tmp_path / "zoo"
    save_shipped(model, zoo / "tiny-test", "tiny-test", "tiny", {"seed": 5}, default=True)

    for spec, tol in ((tmp_path / "m.keras", 1e-6), (run, 1e-6), (tmp_path / "w.weights.h5", 1e-6)):
        loaded = load_model(str(spec))
        np.testing.assert_allclose(loaded.predict(img[None] * 2 - 1), ref, atol=tol)
    shipped = load_model("tiny-test", root=zoo)  # float16 weights: small but nonzero difference
    np.testing.assert_allclose(shipped.predict(img[None] * 2 - 1), ref, atol=5e-3)
    assert shipped.params == model.count_params()
    assert list_models(zoo)[0]["params"] == model.count_params()
    assert load_model(None, root=zoo).name == "tiny-test"


def test_unknown_model_lists_available(tmp_path, tiny_kind):
    from deblur_tf.zoo import load_model, save_shipped

    save_shipped(tiny_model(), tmp_path / "alpha", "alpha", "tiny")
    with pytest.raises(DeblurError, match=r"unknown model 'nope'.*available: alpha"):
        load_model("nope", root=tmp_path)
    (tmp_path / "bare.weights.h5").write_bytes(b"")
    with pytest.raises(DeblurError, match="generator.json"):
        load_model(str(tmp_path / "bare.weights.h5"))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DeblurError, match="x.txt: not a model"):
        load_model(str(tmp_path / "x.txt"))


# --------------------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "tiny.keras"
    tiny_model().save(path)
    return path


def test_deblur_cli_folder_recursive_mirrors_and_keeps_size(tmp_path, model_file):
    src = tmp_path / "in"
    write_image(src / "a.jpg", smooth(37, 50))
    write_image(src / "sub" / "b.png", smooth(30, 21, seed=1))
    r = CliRunner().invoke(main, ["deblur", str(src), "-o", str(tmp_path / "out"), "--model", str(model_file),
                                  "--side-by-side"])
    assert r.exit_code == 0, r.output
    a, _ = read_image(tmp_path / "out" / "a.jpg")
    b, _ = read_image(tmp_path / "out" / "sub" / "b.png")
    assert a.shape == (37, 50, 3) and b.shape == (30, 21, 3)
    cmp, _ = read_image(tmp_path / "out" / "sub" / "b_side_by_side.png")
    assert cmp.shape[0] == 30 and cmp.shape[1] > 42
    r = CliRunner().invoke(main, ["deblur", str(src / "a.jpg"), "-o", str(tmp_path / "o2"), "--model",
                                  str(model_file), "--format", "png"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o2" / "a.png").exists()


def test_deblur_cli_default_tiles_and_batch(tmp_path, model_file, monkeypatch):
    """Without --tile/--batch-size the keras runtime runs up to 1024 px whole, one 1024 tile per call; an
    explicit --tile 512 gets 4 tiles per call; given values are kept. Without --overlap tiles share 64 px,
    at most a quarter of the tile (so --tile 96 still works); a given --overlap is kept."""
    import deblur_tf.cli.deblur as cli_deblur

    assert [cli_deblur.auto_batch_size(t) for t in (0, 256, 512, 1024, 2048)] == [1, 16, 4, 1, 1]
    seen = []
    real = cli_deblur.Deblurrer

    def spy(*args, **kw):
        runner = real(*args, **kw)
        seen.append((kw["tile"], kw["batch_size"], runner.overlap))
        return runner

    monkeypatch.setattr(cli_deblur, "Deblurrer", spy)
    write_image(tmp_path / "a.png", smooth(40, 52))
    for i, extra in enumerate(([], ["--tile", "512"], ["--tile", "96", "--batch-size", "3"],
                               ["--tile", "512", "--overlap", "16"])):
        r = CliRunner().invoke(main, ["deblur", str(tmp_path / "a.png"), "-o", str(tmp_path / f"o{i}"),
                                      "--model", str(model_file), *extra])
        assert r.exit_code == 0, r.output
    assert seen == [(1024, 1, 64), (512, 4, 64), (96, 3, 24), (512, 4, 16)]


def test_deblur_cli_16_bit_round_trip(tmp_path):
    path = tmp_path / "id.keras"
    identity_model().save(path)
    img = smooth(24, 30)
    write_image(tmp_path / "in16.png", img, bit_depth=16)
    r = CliRunner().invoke(main, ["deblur", str(tmp_path / "in16.png"), "-o", str(tmp_path / "out"),
                                  "--model", str(path)])
    assert r.exit_code == 0, r.output
    out, depth = read_image(tmp_path / "out" / "in16.png")
    src, _ = read_image(tmp_path / "in16.png")
    assert depth == 16
    assert np.abs(out - src).max() <= 1.5 / 65535  # not squeezed through 8 bits (that would be ~2e-3)


def test_deblur_cli_errors_name_the_file(tmp_path, model_file):
    runner = CliRunner()
    (tmp_path / "bad.png").write_text("not an image")
    r = runner.invoke(main, ["deblur", str(tmp_path / "bad.png"), "-o", str(tmp_path / "o"),
                             "--model", str(model_file)])
    assert r.exit_code == 2 and "bad.png" in r.output

    r = runner.invoke(main, ["deblur", str(tmp_path / "missing.jpg"), "-o", str(tmp_path / "o"),
                             "--model", str(model_file)])
    assert r.exit_code == 2 and "missing.jpg" in r.output

    r = runner.invoke(main, ["deblur", str(tmp_path / "bad.png"), "-o", str(tmp_path / "o"), "--model", "nope"])
    assert r.exit_code == 2 and "unknown model 'nope'" in r.output and "available" in r.output

    write_image(tmp_path / "in" / "x.png", smooth(16, 16))
    (tmp_path / "o").mkdir(exist_ok=True)
    (tmp_path / "o" / "x.png").write_bytes(b"precious")
    r = runner.invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model",
                             str(model_file)])
    assert r.exit_code == 2 and "x.png" in r.output and "--overwrite" in r.output
    assert (tmp_path / "o" / "x.png").read_bytes() == b"precious"
    r = runner.invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model",
                             str(model_file), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert read_image(tmp_path / "o" / "x.png")[0].shape == (16, 16, 3)

    r = runner.invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "in"), "--model",
                             str(model_file), "--overwrite"])
    assert r.exit_code == 2 and "replace the input" in r.output


def test_deblur_cli_keep_going_skips_bad_files(tmp_path, model_file):
    write_image(tmp_path / "in" / "good.png", smooth(16, 16))
    (tmp_path / "in" / "broken.png").write_text("x")
    r = CliRunner().invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model",
                                  str(model_file), "--keep-going"])
    assert r.exit_code == 2 and "broken.png" in r.output
    assert (tmp_path / "o" / "good.png").exists()


def test_deblur_cli_stops_at_a_bad_file_and_says_how_to_go_on(tmp_path, model_file):
    write_image(tmp_path / "in" / "a_good.png", smooth(16, 16))
    (tmp_path / "in" / "b_broken.png").write_text("x")
    write_image(tmp_path / "in" / "c_good.png", smooth(16, 16))
    r = CliRunner().invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model",
                                  str(model_file)])
    assert r.exit_code == 2 and "b_broken.png" in r.output and "--keep-going" in r.output
    assert "1 image(s) before it are written" in r.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["a_good.png"]


@pytest.mark.tf_only
def test_deblur_cli_tflite_runtime_matches_keras_and_converts_once(tmp_path, model_file, monkeypatch):
    monkeypatch.setenv("DEBLUR_TF_CACHE", str(tmp_path / "cache"))
    write_image(tmp_path / "in" / "a.png", smooth(70, 90))
    write_image(tmp_path / "in" / "b.png", smooth(20, 24, seed=3))  # smaller than one tile
    base = ["deblur", str(tmp_path / "in"), "--model", str(model_file), "--tile", "48", "--overlap", "8"]
    keras_run = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "k")])
    first = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "t1"), "--runtime", "tflite"])
    again = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "t2"), "--runtime", "tflite"])
    assert keras_run.exit_code == first.exit_code == again.exit_code == 0, first.output + again.output
    assert "converting the model to TFLite for 48x48 tiles" in first.output and "(TFLite)" in first.output
    assert "converting" not in again.output  # cached
    assert len(list((tmp_path / "cache" / "tflite").glob("*_48x48_fp32_*.tflite"))) == 1
    for name in ("a.png", "b.png"):
        k, _ = read_image(tmp_path / "k" / name)
        t, _ = read_image(tmp_path / "t1" / name)
        assert k.shape == t.shape and psnr(k, t) > 45.0, (name, psnr(k, t))
        assert psnr(k, read_image(tmp_path / "in" / name)[0]) < psnr(k, t)  # the model did something
    zero = CliRunner().invoke(main, [*base[:-4], "-o", str(tmp_path / "z"), "--runtime", "tflite", "--tile", "0"])
    assert zero.exit_code == 2 and "--tile" in zero.output

    # full tiles go to the TFLite file, any other shape to the Keras model
    from deblur_tf.cli.deblur import _as_tflite
    from deblur_tf.zoo import load_model

    loaded, keras_calls = load_model(str(model_file)), []
    keras_predict = loaded.predict
    loaded.predict = lambda b: (keras_calls.append(b.shape), keras_predict(b))[1]
    fast = _as_tflite(loaded, 48)
    tile = np.random.default_rng(0).uniform(-1, 1, (1, 48, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(fast.predict(tile), np.clip(keras_predict(tile), -1, 1), atol=1e-4)  # TFLite clips
    fast.predict(np.zeros((1, 20, 24, 3), np.float32))
    assert keras_calls == [(1, 20, 24, 3)]


@pytest.mark.jax_only
def test_deblur_cli_tflite_runtime_needs_the_tensorflow_backend(tmp_path, model_file):
    write_image(tmp_path / "in" / "a.png", smooth(16, 16))
    r = CliRunner().invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--model",
                                  str(model_file), "--runtime", "tflite"])
    assert r.exit_code == 2 and "KERAS_BACKEND=tensorflow" in r.output
    assert not (tmp_path / "o").exists()


def test_models_cli_lists_shipped(tmp_path, monkeypatch, tiny_kind):
    from deblur_tf import zoo

    zoo.save_shipped(tiny_model(), tmp_path / "tiny-a", "tiny-a", "tiny", default=True)
    zoo.save_shipped(tiny_model(), tmp_path / "tiny-b", "tiny-b", "tiny", ensemble=2)
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    r = CliRunner().invoke(main, ["models"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "ensemble" in lines[0]
    assert any(line.startswith("* tiny-a") and line.split()[4] == "1" for line in lines)
    assert any(line.startswith("  tiny-b") and line.split()[3] == "2" for line in lines)  # the mirrors deblur runs
    assert f"{tiny_model().count_params():,}" in r.output


def test_shipped_mobile_generator_runs_any_size(tmp_path):
    """The project's light generator through the shipped layout: its 1/8-resolution U-Net needs H, W % 8 == 0,
    which the loader reads from the model even where the config says 4."""
    from deblur_tf.models import build_generator
    from deblur_tf.zoo import load_model, save_shipped

    model = build_generator("mobile")
    save_shipped(model, tmp_path / "mob", "mob", "mobile", {}, input_multiple=4)
    loaded = load_model("mob", root=tmp_path)
    assert loaded.input_multiple == 8 and loaded.kind == "mobile"
    out = Deblurrer(loaded.predict, multiple=loaded.input_multiple, tile=None)(smooth(37, 50))
    assert out.shape == (37, 50, 3)


def test_save_shipped_records_the_multiple_the_network_needs(tmp_path):
    """Packed without an explicit multiple (scripts/gpu_train.sh does so), a 4-level NAFNet's config says 16."""
    import json

    from deblur_tf.models import build_generator
    from deblur_tf.zoo import save_shipped

    kw = {"width": 8, "encoder_blocks": [1, 1, 1, 1], "middle_blocks": 1, "decoder_blocks": [1, 1, 1, 1]}
    folder = save_shipped(build_generator("nafnet", **kw), tmp_path / "naf", "naf", "nafnet", kw)
    assert json.loads((folder / "config.json").read_text())["input_multiple"] == 16
    folder = save_shipped(build_generator("mobile"), tmp_path / "mob", "mob", "mobile", {})
    assert json.loads((folder / "config.json").read_text())["input_multiple"] == 8


def test_flip_ensemble_averages_the_mirrored_answers_one_copy_per_call():
    """A model that adds a fixed left-to-right and top-to-bottom ramp is not mirror-symmetric: the ensemble
    of 2 must cancel the left-right ramp's slope, that of 4 both; a mirror-symmetric model is unchanged."""
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, (2, 6, 8, 3)).astype(np.float32)
    ramp_w = np.linspace(-0.3, 0.3, 8, dtype=np.float32)[None, None, :, None]
    ramp_h = np.linspace(0.0, 0.2, 6, dtype=np.float32)[None, :, None, None]
    calls = []

    def model(x):
        calls.append(x.shape)
        return x + ramp_w + ramp_h

    np.testing.assert_allclose(flip_ensemble(model, 2)(batch), batch + ramp_h, atol=1e-6)  # mean of ramp_w: 0
    assert calls == [batch.shape] * 2  # one mirrored copy per call: a call's memory does not grow
    np.testing.assert_allclose(flip_ensemble(model, 4)(batch), batch + 0.1, atol=1e-6)  # mean of ramp_h: 0.1
    assert flip_ensemble(model, 1) is model

    def square(x):  # pointwise, so mirroring commutes with it
        return x * x

    np.testing.assert_allclose(flip_ensemble(square, 4)(batch), batch * batch, atol=1e-6)
    with pytest.raises(DeblurError, match="ensemble size 3"):
        flip_ensemble(model, 3)


def test_deblur_and_evaluate_cli_ensemble(tmp_path, model_file):
    """--ensemble 2 runs the model on the photo and its mirror image and writes their mean; an unknown size
    is refused before anything is written; evaluate names the ensemble in its table."""
    write_image(tmp_path / "in" / "a.png", smooth(40, 52))
    runner = CliRunner()
    outs = {}
    for n in ("1", "2"):
        r = runner.invoke(main, ["deblur", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / f"o{n}"),
                                 "--model", str(model_file), "--ensemble", n, "--format", "png"])
        assert r.exit_code == 0, r.output
        assert ("ensemble of 2" in r.output) == (n == "2"), r.output  # the summary line says what ran
        outs[n] = read_image(tmp_path / f"o{n}" / "a.png")[0]
    model = keras.models.load_model(model_file)
    img = read_image(tmp_path / "in" / "a.png")[0][None] * 2 - 1
    both = (model.predict_on_batch(img) + model.predict_on_batch(img[:, :, ::-1])[:, :, ::-1]) / 2
    expected = np.clip((np.asarray(both)[0] + 1) / 2, 0, 1)
    assert np.abs(outs["2"] - expected).max() <= 1.5 / 255
    assert np.abs(outs["2"] - outs["1"]).max() > 2 / 255  # the random tiny model is not mirror-symmetric
    r = runner.invoke(main, ["deblur", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "o3"),
                             "--model", str(model_file), "--ensemble", "3"])
    assert r.exit_code == 2 and "3" in r.output and not (tmp_path / "o3").exists()

    r = runner.invoke(main, ["evaluate", "--sharp", str(tmp_path / "in"), "--synthetic-seed", "1", "--kernel-size",
                             "9", "--baselines", "blurred", "--model", str(model_file), "--ensemble", "2",
                             "--no-lpips", "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    (name,) = summary["models"]
    assert name.endswith("-x2") and summary["models"][name]["ensemble"] == 2 and name in summary["methods"]


def test_deblur_runs_a_shipped_models_own_ensemble_unless_told(tmp_path, tiny_kind):
    """A model folder whose config.json says "ensemble": 2 is averaged with its mirror image by `deblur` by default
    (the shipped nafnet's setting), `--ensemble 1` runs it alone, `--runtime tflite` keeps the model's default, and
    a bad value is refused with the file named before any output is written."""
    from deblur_tf.zoo import load_model, save_shipped

    model = tiny_model(seed=3)
    two = save_shipped(model, tmp_path / "two", "two", "tiny", ensemble=2)
    one = save_shipped(model, tmp_path / "one", "one", "tiny")
    assert json.loads((two / "config.json").read_text())["ensemble"] == 2
    assert "ensemble" not in json.loads((one / "config.json").read_text())
    assert load_model(str(two)).ensemble == 2 and load_model(str(one)).ensemble == 1
    write_image(tmp_path / "in" / "a.png", smooth(40, 52))
    runner = CliRunner()
    outs = {}
    for tag, folder, extra in (("two", two, []), ("two1", two, ["--ensemble", "1"]), ("one", one, [])):
        r = runner.invoke(main, ["deblur", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / tag), "--model",
                                 str(folder), "--format", "png", *extra])
        assert r.exit_code == 0, r.output
        assert ("ensemble of 2" in r.output) == (tag == "two"), r.output
        outs[tag] = read_image(tmp_path / tag / "a.png")[0]
    np.testing.assert_array_equal(outs["two1"], outs["one"])
    img = read_image(tmp_path / "in" / "a.png")[0]
    x = img[None] * 2 - 1
    shipped = load_model(str(one)).predict
    both = (shipped(x) + shipped(x[:, :, ::-1])[:, :, ::-1]) / 2
    assert np.abs(outs["two"] - np.clip((both[0] + 1) / 2, 0, 1)).max() <= 1.5 / 255
    assert np.abs(outs["two"] - outs["one"]).max() > 2 / 255  # the tiny model is not mirror-symmetric
    if keras.backend.backend() == "tensorflow":  # LiteRT conversion needs TensorFlow
        r = runner.invoke(main, ["deblur", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "lite"), "--model",
                                 str(two), "--format", "png", "--runtime", "tflite", "--tile", "32"])
        assert r.exit_code == 0 and "ensemble of 2" in r.output, r.output
    cfg = json.loads((two / "config.json").read_text())
    for bad in (3, "2", True):
        (two / "config.json").write_text(json.dumps({**cfg, "ensemble": bad}))
        r = runner.invoke(main, ["deblur", str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "bad"), "--model",
                                 str(two)])
        assert r.exit_code != 0 and "config.json" in r.output and "ensemble" in r.output, r.output
        assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_auto_overlap_is_64_px_capped_at_a_quarter_tile():
    from deblur_tf.inference import DEFAULT_OVERLAP, auto_overlap

    assert DEFAULT_OVERLAP == 64
    assert [auto_overlap(t) for t in (None, 1024, 256, 96, 17, (512, 200))] == [64, 64, 64, 24, 4, 50]
    Deblurrer(lambda b: b, tile=96, overlap=auto_overlap(96))  # a small tile stays valid with its default

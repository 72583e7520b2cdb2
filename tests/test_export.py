"""Export: SavedModel signatures, TFLite variants in LiteRT, verification report, CLI (TensorFlow only).

TFLite conversion is slow, so one export of every format is shared by the module (`exported` fixture).
The tiny generator has its head scaled down: an untrained DeblurGAN rewrites the whole image (its tanh
residual is +-1 noise, ~11 dB from the input), while a trained one changes a blurred image by ~25-35 dB;
int8 error scales with the size of that change, so the thresholds mean here what they mean for real models.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblur_tf.errors import DeblurError, OutputExistsError

pytestmark = pytest.mark.tf_only

ROOT = Path(__file__).resolve().parents[1]
SIZE = (32, 48)


def _client():
    spec = importlib.util.spec_from_file_location("serving_client", ROOT / "export/serving/client.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def small_residual_generator(kind: str = "resnet", head_scale: float = 0.05, **kwargs):
    import keras

    from deblur_tf.models import build_generator

    keras.utils.set_random_seed(0)
    model = build_generator(kind, **kwargs)
    head = [layer for layer in model.layers if layer.name.startswith("head") and layer.get_weights()][-1]
    head.set_weights([w * head_scale for w in head.get_weights()])
    return model


def keras01(model, img01: np.ndarray) -> np.ndarray:
    """Keras output in [0, 1] for one image, mirror-padding H/W to a multiple of 4 like serving_default does."""
    h, w = img01.shape[:2]
    x = np.pad(img01, ((0, (-h) % 4), (0, (-w) % 4), (0, 0)), mode="reflect")
    y = np.asarray(model.predict_on_batch(x[None] * 2.0 - 1.0))[0]
    return np.clip((y + 1.0) * 0.5, 0.0, 1.0)[:h, :w]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, shared):
    from deblur_tf.export import FORMATS, export_all

    model = small_residual_generator(ngf=16, n_blocks=3)
    out = tmp_path_factory.mktemp("export")
    report = export_all(model, out, formats=FORMATS, input_sizes=[SIZE], name="tiny", version=3,
                        calibration_dir=shared / "data/sharp/train", calibration_count=6,
                        eval_dir=shared / "data/sharp/val", eval_count=2, latency_runs=1, log=None)
    return model, out, report


@pytest.fixture(scope="module")
def test_images(shared):
    from deblur_tf.export import make_image_set

    # real blurry photos (synthetic blur on top does not matter: these are only inputs)
    return make_image_set(shared / "data/real_blur/unpaired", (40, 56), 2, seed=7).blurred


def test_report_lists_every_artifact_with_measurements(exported):
    model, out, report = exported
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["model_params"] == model.count_params()
    rows = {r["format"]: r for r in on_disk["artifacts"]}
    assert set(rows) == {"keras", "savedmodel", "tflite-fp32", "tflite-fp16", "tflite-int8-dynamic", "tflite-int8"}
    for fmt, r in rows.items():
        assert (out / r["path"]).exists(), fmt
        assert r["passed"] is True and r["input_size"] == "32x48"
        assert r["size_bytes"] > 10_000 and r["latency_ms"] > 0
        assert 5.0 < r["psnr_vs_gt_db"] < 60.0
        expected = 30.0 if "int8" in fmt else 50.0
        assert r["threshold_db"] == expected
        if r["psnr_vs_keras_db"] != "inf":
            assert r["psnr_vs_keras_db"] >= expected
    assert rows["keras"]["psnr_vs_keras_db"] == "inf"  # the reloaded .keras file is bit-identical
    from deblur_tf.export import gain_kept

    # the share of the model's gain each artifact keeps is in the file (None for the references themselves,
    # and where the tiny untrained model gains nothing to share)
    shares = gain_kept(on_disk)
    assert rows["keras"]["gain_kept"] is None and rows["savedmodel"]["gain_kept"] is None
    for fmt, r in rows.items():
        share = shares.get((fmt, r["input_size"]))
        assert r["gain_kept"] == (None if share is None else round(share, 4)), fmt
    assert "XNNPACK" in rows["tflite-int8"]["runtime"] and "threads" in rows["tflite-int8"]["runtime"]
    assert (out / "tiny" / "3" / "saved_model.pb").is_file()
    weights = sum(f.stat().st_size for f in (out / "tiny" / "3" / "variables").iterdir())
    assert weights < 1.2 * 4 * model.count_params()  # each float32 weight stored once
    # readable like any normally written file (TF Serving containers read them as another user)
    mask = os.umask(0)
    os.umask(mask)
    for p in (out / "tiny.keras", out / "tiny_32x48_int8.tflite", out / "tiny" / "3" / "saved_model.pb"):
        assert p.stat().st_mode & 0o777 == 0o666 & ~mask, p
    assert (out / "tiny" / "3").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (out / "tiny_32x48_int8.tflite").is_file() and (out / "tiny_32x48_fp16.tflite").is_file()


def test_int8_file_is_under_30_percent_of_fp32(exported):
    _, out, _ = exported
    fp32 = (out / "tiny_32x48_fp32.tflite").stat().st_size
    for variant in ("int8", "int8_dynamic"):
        assert (out / f"tiny_32x48_{variant}.tflite").stat().st_size < 0.30 * fp32, variant
    assert (out / "tiny_32x48_fp16.tflite").stat().st_size < 0.6 * fp32


@pytest.mark.parametrize("variant,threshold", [("fp32", 50.0), ("fp16", 50.0), ("int8_dynamic", 30.0), ("int8", 30.0)])
def test_tflite_variant_runs_in_litert_and_meets_threshold(exported, test_images, variant, threshold):
    from ai_edge_litert.interpreter import Interpreter

    from deblur_tf.export import psnr_float

    model, out, _ = exported
    interp = Interpreter(model_path=str(out / f"tiny_32x48_{variant}.tflite"), num_threads=2)
    runner = interp.get_signature_runner("serving_default")
    spec = runner.get_input_details()["image"]
    assert tuple(spec["shape"]) == (1, *SIZE, 3)
    for img in test_images:
        crop = np.ascontiguousarray(img[: SIZE[0], : SIZE[1]])
        if variant == "int8":  # full integer: raw 8-bit pixels in, scale 1/255 and zero point 0
            assert spec["dtype"] == np.uint8
            scale, zero = spec["quantization"]
            assert zero == 0 and abs(scale - 1 / 255) < 1e-7
            y = runner(image=np.round(crop * 255).astype(np.uint8)[None])["restored"]
            oscale, ozero = runner.get_output_details()["restored"]["quantization"]
            y = (y.astype(np.float32) - ozero) * oscale
        else:
            assert spec["dtype"] == np.float32
            y = runner(image=crop[None].astype(np.float32))["restored"]
        assert psnr_float(y[0], keras01(model, crop)) >= threshold


def test_tflite_runner_handles_any_size_by_tiling(exported, test_images):
    from deblur_tf.export import psnr_float
    from deblur_tf.tflite import load_tflite

    model, out, _ = exported
    predict = load_tflite(out / "tiny_32x48_fp32.tflite", num_threads=1)
    assert predict.tile_size == SIZE
    img = test_images[0]  # 40x56: larger than the tile -> 4 overlapping tiles
    y = (predict(img[None] * 2 - 1)[0] + 1) / 2
    assert y.shape == img.shape
    small = img[:20, :28]  # smaller than the tile: mirror-padded
    assert ((predict(small[None] * 2 - 1)[0] + 1) / 2).shape == small.shape
    # instance norm sees per-tile statistics, so tiled output is close to, not equal to, the whole image's
    assert psnr_float(y, keras01(model, img)) > 30.0


def test_savedmodel_serving_default_equals_keras_at_two_sizes(exported, test_images):
    import tensorflow as tf

    model, out, _ = exported
    client = _client()
    sig = tf.saved_model.load(str(out / "tiny" / "3")).signatures["serving_default"]
    for h, w in [(40, 56), (30, 42)]:  # a multiple of 4 and not: the graph pads and crops
        img = test_images[0][:h, :w]
        payload = client.rest_images_request(img)
        batch = np.asarray(payload["instances"], np.float32)  # what TF Serving decodes from the REST rows
        got = sig(images=tf.constant(batch))["restored"].numpy()[0]
        assert got.shape == img.shape
        assert np.abs(got - keras01(model, img)).max() < 1e-4


def test_deblur_bytes_round_trips_png_and_jpeg(exported, test_images):
    import tensorflow as tf

    model, out, _ = exported
    client = _client()
    sig = tf.saved_model.load(str(out / "tiny" / "3")).signatures["deblur_bytes"]
    img = test_images[1][:30, :42]
    u8 = np.round(img * 255).astype(np.uint8)
    png = cv2.imencode(".png", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))[1].tobytes()
    jpg = cv2.imencode(".jpg", cv2.cvtColor(u8, cv2.COLOR_RGB2BGR))[1].tobytes()
    payload = client.rest_bytes_request([png, jpg])
    assert payload["instances"][0] == {"b64": base64.b64encode(png).decode()}
    files = [base64.b64decode(inst["b64"]) for inst in payload["instances"]]  # TF Serving's b64 decoding
    reply = sig(image_bytes=tf.constant(files))["png_bytes"].numpy()
    # shaped as TF Serving's REST reply (outputs named *_bytes are base64) and parsed by the client
    rest_reply = {"predictions": [{"b64": base64.b64encode(v).decode()} for v in reply]}
    pngs = client.rest_bytes_response(rest_reply)
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    restored = cv2.cvtColor(cv2.imdecode(np.frombuffer(pngs[0], np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert restored.shape == u8.shape and restored.dtype == np.uint8
    expected = np.round(keras01(model, u8.astype(np.float32) / 255) * 255)
    assert np.abs(restored.astype(np.int16) - expected).max() <= 1
    assert cv2.imdecode(np.frombuffer(pngs[1], np.uint8), cv2.IMREAD_COLOR).shape == u8.shape


def test_saved_model_cli_runs_both_signatures(exported, test_images, tmp_path):
    model, out, _ = exported
    cli = Path(sys.executable).parent / "saved_model_cli"
    img = np.round(test_images[0][:32, :44] * 255) / 255  # 8-bit, so the PNG and the floats hold the same image
    png = cv2.imencode(".png", cv2.cvtColor(np.round(img * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))[1].tobytes()
    client = _client()  # the client's REST payloads, decoded as TF Serving decodes them
    files = [base64.b64decode(inst["b64"]) for inst in client.rest_bytes_request([png])["instances"]]
    np.save(tmp_path / "bytes.npy", np.array(files, dtype=object))
    np.save(tmp_path / "images.npy", np.asarray(client.rest_images_request(img)["instances"], np.float32))
    for sig, arg in (("deblur_bytes", "image_bytes=" + str(tmp_path / "bytes.npy")),
                     ("serving_default", "images=" + str(tmp_path / "images.npy"))):
        res = subprocess.run([str(cli), "run", "--dir", str(out / "tiny" / "3"), "--tag_set", "serve",
                              "--signature_def", sig, "--inputs", arg, "--outdir", str(tmp_path / sig)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
    restored = np.load(tmp_path / "serving_default" / "restored.npy")[0]
    assert np.abs(restored - keras01(model, img)).max() < 1e-4
    png_out = np.load(tmp_path / "deblur_bytes" / "png_bytes.npy", allow_pickle=True)[0]
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(png_out, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(decoded.astype(np.int16) - np.round(restored * 255)).max() <= 1


def test_zoo_loaders_run_exported_artifacts(exported, test_images):
    from deblur_tf.export import load_savedmodel
    from deblur_tf.tflite import load_tflite

    model, out, _ = exported
    img = test_images[0][:32, :48]
    ref = keras01(model, img)
    sm = load_savedmodel(out / "tiny")  # the TF Serving base folder: highest version taken
    assert np.abs((sm(img[None] * 2 - 1)[0] + 1) / 2 - ref).max() < 1e-4
    tfl = load_tflite(out / "tiny_32x48_fp32.tflite")
    assert np.abs((tfl(img[None] * 2 - 1)[0] + 1) / 2 - ref).max() < 1e-4


def test_corrupt_or_non_model_paths_give_clear_errors(tmp_path, exported):
    from deblur_tf.export import load_savedmodel
    from deblur_tf.tflite import TFLiteRunner

    _, out, _ = exported
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(DeblurError, match="junk.tflite: not a TFLite model"):
        TFLiteRunner(junk)
    cut = tmp_path / "cut.tflite"
    cut.write_bytes((out / "tiny_32x48_fp32.tflite").read_bytes()[:4000])
    with pytest.raises(DeblurError, match="cut.tflite"):
        TFLiteRunner(cut)
    with pytest.raises(DeblurError, match="not a SavedModel"):
        load_savedmodel(tmp_path)
    bad_sm = tmp_path / "bad" / "1"
    bad_sm.mkdir(parents=True)
    (bad_sm / "saved_model.pb").write_bytes(b"garbage")
    with pytest.raises(DeblurError, match="cannot load this SavedModel"):
        load_savedmodel(tmp_path / "bad")
    with pytest.raises(DeblurError, match="no such"):
        TFLiteRunner(tmp_path / "missing.tflite")


def test_export_refuses_to_overwrite_and_checks_options(exported, tmp_path):
    from deblur_tf.export import export_all, parse_size

    model, out, _ = exported
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_all(model, out, formats=["tflite-fp32"], input_sizes=[SIZE], name="tiny", log=None)
    with pytest.raises(DeblurError, match="multiples of 4"):
        parse_size("250x256")
    with pytest.raises(DeblurError, match="HEIGHTxWIDTH"):
        parse_size("256")
    with pytest.raises(DeblurError, match="unknown"):
        export_all(model, tmp_path, formats=["onnx"], log=None)


def test_cli_export_fails_loudly_below_threshold(tmp_path):
    """A mobile generator exported through the CLI: float artifacts pass, an impossible threshold exits 2."""
    from click.testing import CliRunner

    from deblur_tf.cli import main
    from deblur_tf.export import export_keras

    model_path = export_keras(small_residual_generator("mobile"), tmp_path / "mobile.keras")
    runner = CliRunner()
    args = ["export", "--model", str(model_path), "--formats", "savedmodel,tflite-fp32", "--input-size", "32x32",
            "--eval-count", "1", "--latency-runs", "1", "--name", "mob"]
    ok = runner.invoke(main, [*args, "--out", str(tmp_path / "ok")])
    assert ok.exit_code == 0, ok.output
    assert "| tflite-fp32 | 32x32 |" in ok.output
    report = json.loads((tmp_path / "ok" / "report.json").read_text())
    assert report["size_multiple"] == 8 and all(r["passed"] for r in report["artifacts"])
    fp32_only = [a if a != "savedmodel,tflite-fp32" else "tflite-fp32" for a in args]
    bad = runner.invoke(main, [*fp32_only, "--out", str(tmp_path / "bad"), "--float-threshold", "1000"])
    assert bad.exit_code == 2
    assert "disagree with the Keras model" in bad.output and "tflite-fp32 32x32" in bad.output
    assert (tmp_path / "bad" / "report.json").is_file()  # the evidence is kept
    odd = runner.invoke(main, [*args, "--out", str(tmp_path / "odd"), "--input-size", "36x36"])
    assert odd.exit_code == 2 and "divisible by 8" in odd.output


def test_cli_export_defaults_to_the_shipped_default_model(tmp_path):
    from click.testing import CliRunner

    from deblur_tf.cli import main
    from deblur_tf.zoo import default_model

    res = CliRunner().invoke(main, ["export", "--out", str(tmp_path / "dist"), "--formats", "tflite-fp32",
                                    "--input-size", "32x32", "--eval-count", "1", "--latency-runs", "1"])
    assert res.exit_code == 0, res.output
    assert [p.name for p in (tmp_path / "dist").glob("*.tflite")] == [f"{default_model()}_32x32_fp32.tflite"]


def test_cli_deblur_runs_each_exported_artifact(exported, test_images, tmp_path):
    """`deblur-tf deblur --model` takes the .tflite, the SavedModel folder and the .keras file: users check what they ship."""
    from click.testing import CliRunner

    from deblur_tf.cli import main
    from deblur_tf.io import read_image, write_image
    from deblur_tf.metrics import psnr

    model, out, _ = exported
    src = write_image(tmp_path / "in.png", test_images[0])
    results = {}
    for key, path in {"keras": out / "tiny.keras", "savedmodel": out / "tiny", "savedmodel_version": out / "tiny" / "3",
                      "tflite": out / "tiny_32x48_fp16.tflite"}.items():
        res = CliRunner().invoke(main, ["deblur", str(src), "-o", str(tmp_path / key), "--model", str(path)])
        assert res.exit_code == 0, (key, res.output)
        results[key] = read_image(tmp_path / key / "in.png")[0]
    expected = keras01(model, read_image(src)[0])
    assert psnr(results["keras"], expected) > 50 and psnr(results["savedmodel"], expected) > 50
    assert psnr(results["savedmodel_version"], expected) > 50
    assert psnr(results["tflite"], expected) > 30  # tiled 32x48 tiles: instance-norm statistics per tile
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\x00" * 64)
    res = CliRunner().invoke(main, ["deblur", str(src), "-o", str(tmp_path / "bad"), "--model", str(bad)])
    assert res.exit_code == 2 and "broken.tflite: not a TFLite model" in res.output


def test_client_main_over_rest_against_a_stand_in_server(exported, test_images, tmp_path):
    """The client's whole REST path (URL, JSON, base64, response parsing) against a tiny HTTP server that
    answers like TF Serving's REST API by running the exported SavedModel's signatures."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import tensorflow as tf

    model, out, _ = exported
    loaded = tf.saved_model.load(str(out / "tiny" / "3"))
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            seen.append(self.path)
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            sig = loaded.signatures[req.get("signature_name", "serving_default")]
            if req.get("signature_name") == "deblur_bytes":
                files = [base64.b64decode(i["b64"]) for i in req["instances"]]
                outs = sig(image_bytes=tf.constant(files))["png_bytes"].numpy()
                preds = [{"b64": base64.b64encode(o).decode()} for o in outs]
            else:
                preds = sig(images=tf.constant(req["instances"], tf.float32))["restored"].numpy().tolist()
            body = json.dumps({"predictions": preds}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = _client()
        img = np.round(test_images[0][:28, :40] * 255) / 255
        src = tmp_path / "in.png"
        cv2.imwrite(str(src), cv2.cvtColor(np.round(img * 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        host = f"127.0.0.1:{server.server_port}"
        assert client.main([str(src), str(tmp_path / "a.png"), "--rest", host]) == 0
        assert client.main([str(src), str(tmp_path / "b.png"), "--rest", host, "--signature", "serving_default"]) == 0
        with pytest.raises(SystemExit, match="exists"):
            client.main([str(src), str(tmp_path / "a.png"), "--rest", host])
    finally:
        server.shutdown()
    assert seen == ["/v1/models/deblurgan:predict"] * 2
    expected = np.round(keras01(model, img) * 255)
    for name in ("a.png", "b.png"):
        got = cv2.cvtColor(cv2.imread(str(tmp_path / name)), cv2.COLOR_BGR2RGB).astype(np.int16)
        assert np.abs(got - expected).max() <= 1, name

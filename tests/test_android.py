"""The Android demo's checkable parts (export/android): the contract JSON, the tiling, the Kotlin's JSON keys.

No Android build runs here (no SDK, no Google Maven), so every piece that can be checked without one is:

- `deblur-tf export --android DIR` writes the verified .tflite and `deblur_contract.json`; the JSON's size
  multiple comes from the model (a NAFNet-kind model needs 16, not the 8 of the mobile model), its shapes and
  dtypes from the file;
- the exported file run through LiteRT exactly as the app runs it (the contract's names, tile, overlap,
  padding and blending) agrees with `deblur-tf deblur` on the Keras model (> 40 dB);
- the app's pure-Java `Tiler` is compiled with javac and run on the JVM: its invariants, and its output on a
  tile-local fake model equals `deblur_tf.inference.Deblurrer(fixed_tile=True)`'s to float precision;
- every key the Kotlin code reads from the JSON is one the exporter writes.

The model is a tiny NAFNet-kind network (4 levels, so multiple 16) with seeded random weights: the check is
the runtime path, and the 7 M-parameter default would take minutes to convert here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ANDROID = ROOT / "export" / "android"
JAVA_MAIN = ANDROID / "app/src/main/java/org/deblurtf/demo/Tiler.java"
JAVA_TEST = ANDROID / "app/src/test/java/org/deblurtf/demo/TilerCheck.java"
KOTLIN_DIR = ANDROID / "app/src/main/java/org/deblurtf/demo"
TILE, OVERLAP = 64, 16


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def _tiny_nafnet(path: Path) -> Path:
    """A 4-level NAFNet-kind model (H, W multiples of 16) with seeded random weights, saved as .keras.

    Random rather than the identity start of an untrained NAFNet: an identity model would pass any tiling.
    """
    from deblur_tf.models import build_generator

    model = build_generator("nafnet", width=8, encoder_blocks=(1, 1, 1, 1), middle_blocks=1,
                            decoder_blocks=(1, 1, 1, 1))
    rng = np.random.default_rng(16)
    weights = []
    for w in model.get_weights():
        if w.ndim >= 2:  # kernels: fan-in scaled, so activations stay O(1) through the U-Net
            w = rng.normal(0.0, 0.5 / np.sqrt(np.prod(w.shape[:-1])), w.shape)
        elif not w.any():  # biases and NAFNet's zero-initialised block scales
            w = rng.normal(0.0, 0.1, w.shape)
        weights.append(w.astype(np.float32))
    model.set_weights(weights)
    model.save(path)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """tiny .keras, and `deblur-tf export --android` of it into an assets folder (64x64 tiles, overlap 16)."""
    from click.testing import CliRunner

    from deblur_tf.cli import main

    tmp = tmp_path_factory.mktemp("android")
    keras_path = _tiny_nafnet(tmp / "tiny_nafnet.keras")
    assets = tmp / "app/src/main/assets"
    res = CliRunner().invoke(main, ["export", "--model", str(keras_path), "--android", str(assets),
                                    "--input-size", f"{TILE}x{TILE}", "--android-overlap", str(OVERLAP),
                                    "--eval-count", "1", "--latency-runs", "1", "--threads", "1"])
    assert res.exit_code == 0, res.output
    return keras_path, assets


def _app_tiles(size: int, tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    from deblur_tf.inference import _axis_tiles

    return _axis_tiles(size, tile, overlap, multiple, fixed=True)


def deblur_as_the_app(img01: np.ndarray, assets: Path) -> tuple[np.ndarray, int]:
    """What MainActivity + Tiler do, in Python: read the contract, run the file through LiteRT in its tiles.

    Only the JSON's values are used (names, shape, dtype, quantisation, tile, overlap, multiple, clip), so a
    contract that misdescribes the file fails here as it would fail in the app.
    """
    from ai_edge_litert.interpreter import Interpreter

    from deblur_tf.inference import _feather

    c = json.loads((assets / "deblur_contract.json").read_text())
    interp = Interpreter(model_path=str(assets / c["model_file"]), num_threads=1)
    run = interp.get_signature_runner(c["signature"])
    th, tw, ov, m = c["tile"]["height"], c["tile"]["width"], c["tile"]["overlap"], c["size_multiple"]
    assert c["layout"] == "NHWC" and c["channels"] == "RGB" and c["input_shape"] == [1, th, tw, 3]
    h, w = img01.shape[:2]
    ph, pw = max(-(-h // m) * m, th), max(-(-w // m) * m, tw)
    padded = np.pad(img01, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")
    (lh, ys), (lw, xs) = _app_tiles(ph, th, ov, m), _app_tiles(pw, tw, ov, m)
    assert (lh, lw) == (th, tw)
    acc = np.zeros((ph, pw, 3), np.float32)
    wsum = np.zeros((ph, pw, 1), np.float32)
    q_in, q_out = c["input_quantization"], c["output_quantization"]
    for y in ys:
        for x in xs:
            tile = padded[y : y + th, x : x + tw][None].astype(np.float32)
            if q_in:
                tile = np.clip(np.round(tile / q_in["scale"] + q_in["zero_point"]), 0, 255).astype(np.uint8)
            out = run(**{c["input_name"]: tile})[c["output_name"]][0]
            if q_out:
                out = (out.astype(np.float32) - q_out["zero_point"]) * q_out["scale"]
            wt = (_feather(th, ov, y > 0, y + th < ph)[:, None] * _feather(tw, ov, x > 0, x + tw < pw)[None, :])
            acc[y : y + th, x : x + tw] += out * wt[:, :, None]
            wsum[y : y + th, x : x + tw] += wt[:, :, None]
    lo, hi = c["output_clip"]
    return np.clip(acc / np.maximum(wsum, 1e-8), lo, hi)[:h, :w], len(ys) * len(xs)


@pytest.mark.tf_only
def test_export_android_writes_model_and_contract_from_the_model(exported):
    from deblur_tf.tflite import TFLiteRunner
    from deblur_tf.zoo import load_model

    keras_path, assets = exported
    c = json.loads((assets / "deblur_contract.json").read_text())
    model_file = assets / c["model_file"]
    assert model_file.name == f"tiny_nafnet_{TILE}x{TILE}_fp16.tflite" and c["format"] == "tflite-fp16"
    assert sorted(p.name for p in assets.iterdir()) == sorted(["deblur_contract.json", "report.json", model_file.name])
    # the multiple is the model's (4 levels: 16), not a constant of the app or of the mobile model
    assert c["size_multiple"] == load_model(str(keras_path)).input_multiple == 16
    runner = TFLiteRunner(model_file)
    assert c["input_shape"] == [1, *runner.input_size, 3] == [1, TILE, TILE, 3]
    assert (c["input_dtype"], c["output_dtype"], c["input_quantization"]) == ("float32", "float32", None)
    assert c["tile"] == {"height": TILE, "width": TILE, "overlap": OVERLAP, "dead_margin": OVERLAP // 4,
                         "pad": "reflect", "origins_on_multiple": True}
    import hashlib

    assert c["model_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert c["verification"]["passed"] and c["verification"]["psnr_vs_keras_db"] > 50


@pytest.mark.tf_only
@pytest.mark.parametrize("size", [(150, 200), (40, 52)])
def test_app_path_through_litert_matches_deblur_cli(exported, tmp_path, size):
    """The exported file, tiled as the contract says, against `deblur-tf deblur` on the .keras (whole image)."""
    from click.testing import CliRunner

    from deblur_tf.cli import main
    from deblur_tf.export import make_image_set
    from deblur_tf.io import read_image, write_image

    keras_path, assets = exported
    blurred = make_image_set(None, size, 1, seed=3).blurred[0]
    write_image(tmp_path / "in.png", blurred)
    img = read_image(tmp_path / "in.png")[0]  # the 8-bit pixels both sides see
    res = CliRunner().invoke(main, ["deblur", str(tmp_path / "in.png"), "-o", str(tmp_path / "cli"),
                                    "--model", str(keras_path)])
    assert res.exit_code == 0, res.output
    ref = read_image(tmp_path / "cli/in.png")[0]
    app, tiles = deblur_as_the_app(img, assets)
    assert app.shape == img.shape
    assert tiles == (12 if size == (150, 200) else 1)  # 160x208 padded: 3 x 4 tiles of 64; a small photo: one
    app8 = np.round(app * 255.0) / 255.0
    agreement, change = _psnr(app8, ref), _psnr(ref, img)
    print(f"app path vs deblur-tf deblur {size}: {agreement:.1f} dB; model output vs input {change:.1f} dB")
    assert agreement > 40.0
    assert change < 35.0  # the model really changes the picture, so agreement means something


@pytest.fixture(scope="module")
def java_classes(tmp_path_factory) -> Path:
    javac, java = shutil.which("javac"), shutil.which("java")
    if not (javac and java):
        pytest.skip("no JDK (javac/java) on this machine: the JVM test of export/android's Tiler cannot run")
    out = tmp_path_factory.mktemp("jvm")
    res = subprocess.run([javac, "-Xlint:all", "-Werror", "-d", str(out), str(JAVA_MAIN), str(JAVA_TEST)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return out


def _java(classes: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["java", "-cp", str(classes), "org.deblurtf.demo.TilerCheck", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.tf_only  # no TensorFlow needed; marked so that the backend-pair CI runs it once
def test_jvm_tiler_selftest(java_classes):
    res = _java(java_classes, "selftest")
    assert res.returncode == 0, res.stdout + res.stderr
    m = re.search(r"selftest OK: (\d+) checks", res.stdout)
    assert m and int(m.group(1)) > 500, res.stdout


def _fake_model(tile: np.ndarray) -> np.ndarray:
    """TilerCheck.fakeModel in numpy: 0.6 x[c] + 0.4 * 3x3 zero-padded mean of channel (c + 1) % 3."""
    p = np.pad(tile, ((1, 1), (1, 1), (0, 0)))
    box = sum(p[dy : dy + tile.shape[0], dx : dx + tile.shape[1]] for dy in range(3) for dx in range(3)) / 9.0
    return (0.6 * tile + 0.4 * np.roll(box, -1, axis=2)).astype(np.float32)


@pytest.mark.tf_only
@pytest.mark.parametrize("h,w,tile,overlap,multiple", [
    (150, 200, 64, 16, 16), (300, 257, 64, 16, 16), (100, 40, 64, 8, 8), (480, 640, 256, 32, 16),
])
def test_jvm_tiler_equals_python_deblurrer(java_classes, tmp_path, h, w, tile, overlap, multiple):
    """Java's blend of a tile-local (seam-sensitive) model equals deblur_tf.inference.Deblurrer(fixed_tile)."""
    from deblur_tf.inference import Deblurrer

    rng = np.random.default_rng(h * 1000 + w)
    img = rng.random((h, w, 3), dtype=np.float32)
    (tmp_path / "in.f32").write_bytes(img.astype("<f4").tobytes())
    res = _java(java_classes, "run", str(h), str(w), str(tile), str(tile), str(overlap), str(multiple),
                str(tmp_path / "in.f32"), str(tmp_path / "out.f32"))
    assert res.returncode == 0, res.stdout + res.stderr
    java_out = np.frombuffer((tmp_path / "out.f32").read_bytes(), "<f4").reshape(h, w, 3)

    # Python: pad up to a full tile first (what a fixed-size model needs), then the project's Deblurrer
    ph, pw = max(-(-h // multiple) * multiple, tile), max(-(-w // multiple) * multiple, tile)
    padded = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="reflect")
    calls = []

    def predict(batch):  # Deblurrer speaks [-1, 1]; the fake model, like the .tflite, [0, 1]
        calls.append(len(batch))
        return np.stack([_fake_model((b + 1.0) * 0.5) * 2.0 - 1.0 for b in batch])

    deb = Deblurrer(predict, multiple=multiple, tile=tile, overlap=overlap, batch_size=1, fixed_tile=True)
    py_out = deb(padded)[:h, :w]
    assert f"{sum(calls)} tiles" in res.stdout  # same number of model calls
    assert np.max(np.abs(java_out - py_out)) < 1e-5
    # the seams matter and the dead margin hides them: the fake model zero-pads every tile border, yet the
    # blend equals the model run on the whole image; a plain average of the same tiles does not
    whole = _fake_model(padded)[:h, :w]
    assert sum(calls) > 1 and np.max(np.abs(java_out - whole)) < 1e-5
    (_, ys), (_, xs) = _app_tiles(ph, tile, overlap, multiple), _app_tiles(pw, tile, overlap, multiple)
    acc, n = np.zeros_like(padded), np.zeros(padded.shape[:2] + (1,), np.float32)
    for y in ys:
        for x in xs:
            acc[y : y + tile, x : x + tile] += _fake_model(padded[y : y + tile, x : x + tile])
            n[y : y + tile, x : x + tile] += 1
    assert np.max(np.abs((acc / n)[:h, :w] - whole)) > 1e-2


def test_kotlin_reads_only_keys_the_exporter_writes():
    """Every `c.getX("key")` in the app's Kotlin is a key of the contract JSON (so the two cannot drift)."""
    import inspect

    from deblur_tf import export

    source = "\n".join(p.read_text() for p in sorted(KOTLIN_DIR.glob("*.kt")))
    keys = set(re.findall(r'\.(?:getString|getInt|getJSONObject|getJSONArray|getDouble|getBoolean|optJSONObject|isNull)\("([a-z_0-9]+)"\)', source))
    assert {"model_file", "size_multiple", "tile", "overlap", "input_dtype"} <= keys, keys
    written = set(re.findall(r'"([a-z_0-9]+)":', inspect.getsource(export.android_contract)))
    assert keys <= written, f"the app reads keys the exporter does not write: {sorted(keys - written)}"
    assert "deblur_contract.json" in source and export.ANDROID_CONTRACT_NAME == "deblur_contract.json"


def test_export_android_rejects_an_overlap_too_large_for_the_tile(tmp_path):
    from click.testing import CliRunner

    from deblur_tf.cli import main

    res = CliRunner().invoke(main, ["export", "--model", "deblurgan-mobile", "--android", str(tmp_path / "a"),
                                    "--input-size", "64x64", "--android-overlap", "32"])
    assert res.exit_code != 0 and "--android-overlap 32" in res.output
    assert not (tmp_path / "a").exists()  # refused before anything was converted or written


def test_no_model_files_committed_in_the_app():
    """The assets folder holds build outputs only (.gitignore); committing a .tflite there would ship it twice."""
    res = subprocess.run(["git", "ls-files", "export/android"], cwd=ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip("not a git checkout")
    tracked = res.stdout.split()
    assert not [f for f in tracked if f.endswith((".tflite", "deblur_contract.json"))], tracked


@pytest.mark.tf_only
def test_export_android_int8_with_out_copies_the_verified_file_and_its_quantisation(exported, tmp_path):
    """--out and --android apart: the app folder gets the verified file and contract only; uint8 I/O described."""
    from click.testing import CliRunner

    from deblur_tf.cli import main
    from deblur_tf.export import make_image_set
    from deblur_tf.tflite import TFLiteRunner

    keras_path, _ = exported
    dist, assets = tmp_path / "dist", tmp_path / "assets"
    res = CliRunner().invoke(main, ["export", "--model", str(keras_path), "--out", str(dist), "--android", str(assets),
                                    "--android-format", "tflite-int8", "--formats", "tflite-fp32",
                                    "--input-size", f"{TILE}x{TILE}", "--android-overlap", str(OVERLAP),
                                    "--eval-count", "1", "--latency-runs", "1", "--calibration-count", "2",
                                    "--threads", "1", "--int8-threshold", "0"])  # random weights: any agreement
    assert res.exit_code == 0, res.output
    name = f"tiny_nafnet_{TILE}x{TILE}_int8.tflite"
    assert sorted(p.name for p in assets.iterdir()) == sorted(["deblur_contract.json", name])
    assert (dist / name).read_bytes() == (assets / name).read_bytes()
    assert (dist / f"tiny_nafnet_{TILE}x{TILE}_fp32.tflite").is_file()  # --formats kept, int8 added
    c = json.loads((assets / "deblur_contract.json").read_text())
    assert (c["input_dtype"], c["output_dtype"], c["format"]) == ("uint8", "uint8", "tflite-int8")
    assert c["input_quantization"]["zero_point"] == 0 and abs(c["input_quantization"]["scale"] - 1 / 255) < 1e-9
    # one tile: the app path with the JSON's quantisation equals the project's runner reading the file's own
    img = make_image_set(None, (TILE, TILE), 1, seed=5).blurred[0]
    img = np.round(img * 255) / 255
    app, tiles = deblur_as_the_app(img, assets)
    assert tiles == 1
    assert np.max(np.abs(app - TFLiteRunner(assets / name, num_threads=1).run_exact(img))) < 1e-6


@pytest.mark.tf_only
def test_export_android_again_needs_overwrite_and_a_failed_export_leaves_no_contract(exported, tmp_path):
    from click.testing import CliRunner

    from deblur_tf.cli import main

    keras_path, shared_assets = exported
    assets = shutil.copytree(shared_assets, tmp_path / "assets")  # the module's folder stays intact for others
    args = ["export", "--model", str(keras_path), "--android", str(assets), "--input-size", f"{TILE}x{TILE}",
            "--android-overlap", str(OVERLAP), "--eval-count", "1", "--latency-runs", "1", "--threads", "1"]
    again = CliRunner().invoke(main, args)
    assert again.exit_code != 0 and "--overwrite" in again.output
    assert (assets / "deblur_contract.json").is_file()  # refused: nothing touched
    failed = CliRunner().invoke(main, [*args, "--overwrite", "--float-threshold", "1000"])
    assert failed.exit_code == 2, failed.output
    assert not (assets / "deblur_contract.json").exists()  # the app gets no contract for an unverified file

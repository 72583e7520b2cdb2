import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.classical import blur_fft
from deblur_tf.cli import main
from deblur_tf.evaluation import CSV_COLUMNS
from deblur_tf.io import read_image, write_image


def _smooth(h, w, seed):
    import cv2

    n = np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)
    return np.clip(cv2.GaussianBlur(n, (0, 0), 1.5) * 2 - 0.5, 0, 1)


@pytest.fixture
def sharp_dir(tmp_path):
    d = tmp_path / "sharp"
    for i, (h, w) in enumerate([(40, 48), (36, 52), (44, 44)]):
        write_image(d / f"img{i}.png", _smooth(h, w, i))
    return d


def _run(args):
    r = CliRunner().invoke(main, ["evaluate", *args])
    return r


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_synthetic_mode_writes_all_outputs(tmp_path, sharp_dir, shared):
    out = tmp_path / "ev"
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "7", "--kernel-size", "9", "--noise-std", "0.005",
              "--lpips-weights", str(shared / "weights" / "vgg16_imagenet_lpips.npz"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = _csv(out / "results.csv")
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert len(rows) == 3 * 4
    assert {x["method"] for x in rows} == {"blurred", "wiener", "tikhonov", "rl"}
    for x in rows:
        assert float(x["psnr"]) > 10 and 0 < float(x["ssim"]) <= 1 and float(x["lpips"]) >= 0
        assert float(x["megapixels"]) == pytest.approx(
            {"img0.png": 40 * 48, "img1.png": 36 * 52, "img2.png": 44 * 44}[x["image"]] / 1e6)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["synthetic"]["seed"] == 7 and summary["synthetic"]["kernel_size"] == 9
    assert summary["synthetic"]["noise_std"] == 0.005 and summary["gamma"] == 2.2
    assert (summary["tile"], summary["overlap"]) == (1024, 64)  # the models tile as `deblur` does
    means = {m: np.mean([float(x["psnr"]) for x in rows if x["method"] == m]) for m in summary["methods"]}
    for m, v in summary["methods"].items():
        assert v["images"] == 3 and v["psnr"] == pytest.approx(means[m], abs=1e-3)  # CSV keeps 6 digits
    # with the true kernel and little noise the classical filters must beat the blurred input
    assert summary["methods"]["wiener"]["psnr"] > summary["methods"]["blurred"]["psnr"]
    md = (out / "summary.md").read_text()
    assert "| method | images | PSNR (dB) | SSIM | LPIPS | s / megapixel |" in md and "| wiener | 3 |" in md
    assert "| method |" in r.output  # the table is printed too
    sheet, _ = read_image(out / "contact_sheet.png")
    assert sheet.shape[0] >= 2 * 160 and sheet.shape[1] > 5 * 100  # worst + best rows, 6 columns
    kernels = np.load(out / "kernels.npz")
    assert list(kernels["names"]) == ["img0.png", "img1.png", "img2.png"]
    assert kernels["k0000"].shape == (9, 9) and kernels["k0000"].sum() == pytest.approx(1, abs=1e-4)

    # deterministic per (seed, index): a --limit run draws the same first kernels and gets the same numbers
    out2 = tmp_path / "ev2"
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "7", "--kernel-size", "9", "--noise-std", "0.005",
              "--no-lpips", "--limit", "2", "--baselines", "blurred,wiener", "--out", str(out2)])
    assert r.exit_code == 0, r.output
    k2 = np.load(out2 / "kernels.npz")
    np.testing.assert_array_equal(k2["k0001"], kernels["k0001"])
    rows2 = _csv(out2 / "results.csv")
    assert len(rows2) == 4 and all(x["lpips"] == "" for x in rows2)
    first = {(x["image"], x["method"]): x["psnr"] for x in rows}
    assert all(first[(x["image"], x["method"])] == x["psnr"] for x in rows2)
    # a different seed gives different kernels
    out3 = tmp_path / "ev3"
    assert _run(["--sharp", str(sharp_dir), "--synthetic-seed", "8", "--kernel-size", "9", "--no-lpips",
                 "--limit", "1", "--baselines", "blurred", "--out", str(out3)]).exit_code == 0
    assert not np.array_equal(np.load(out3 / "kernels.npz")["k0000"], kernels["k0000"])


def test_pairs_mode_uses_kernels_and_reports_na_without(tmp_path):
    k = np.zeros((7, 7))
    k[3, 1:6] = 1
    k /= k.sum()
    with_k, real = tmp_path / "synth", tmp_path / "real"
    for i in range(2):
        s = _smooth(40, 40, i)
        b = np.clip(blur_fft(s, k), 0, 1).astype(np.float32)
        for root in (with_k, real):
            write_image(root / "sharp" / f"p{i}.png", s)
            write_image(root / "blur" / f"p{i}.png", b)
        (with_k / "kernels").mkdir(exist_ok=True)
        np.save(with_k / "kernels" / f"p{i}.npy", k)

    r = _run(["--pairs", str(with_k), "--no-lpips", "--tune", "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["images_with_kernel"] == 2 and summary["gamma"] is None
    assert summary["tuned"]["wiener"]["best"] == summary["baseline_params"]["wiener"]
    assert summary["methods"]["wiener"]["psnr"] > summary["methods"]["blurred"]["psnr"] + 3

    r = _run(["--pairs", str(real), "--no-lpips", "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["methods"]["wiener"]["images"] == 0 and summary["methods"]["wiener"]["psnr"] is None
    assert "| wiener | 0 | n/a | n/a |" in (tmp_path / "b" / "summary.md").read_text()
    assert {x["method"] for x in _csv(tmp_path / "b" / "results.csv")} == {"blurred"}


def test_mean_matched_psnr_column_for_pairs_shot_at_another_exposure(tmp_path):
    """--mean-matched adds a column in which a reference that is only brighter costs nothing."""
    root = tmp_path / "pairs"
    for i in range(2):
        s = _smooth(40, 40, i)
        write_image(root / "blur" / f"p{i}.png", s)
        write_image(root / "sharp" / f"p{i}.png", np.clip(s + 8 / 255, 0, 1))  # same frame, brighter
    r = _run(["--pairs", str(root), "--no-lpips", "--baselines", "blurred", "--mean-matched",
              "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    rows = _csv(tmp_path / "o" / "results.csv")
    assert tuple(rows[0].keys()) == (*CSV_COLUMNS, "psnr_mean_matched")
    blurred = json.loads((tmp_path / "o" / "summary.json").read_text())["methods"]["blurred"]
    assert blurred["psnr"] < 35 and blurred["psnr_mean_matched"] > blurred["psnr"] + 10
    assert "PSNR, mean-matched" in (tmp_path / "o" / "summary.md").read_text()
    r = _run(["--pairs", str(root), "--no-lpips", "--baselines", "blurred", "--out", str(tmp_path / "p")])
    assert tuple(_csv(tmp_path / "p" / "results.csv")[0].keys()) == CSV_COLUMNS  # off by default


def test_evaluate_with_a_model(tmp_path, sharp_dir):
    from test_inference import tiny_model

    tiny_model().save(tmp_path / "tiny.keras")
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "1", "--kernel-size", "7", "--no-lpips",
              "--model", str(tmp_path / "tiny.keras"), "--baselines", "blurred", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    rows = _csv(tmp_path / "o" / "results.csv")
    assert {x["method"] for x in rows} == {"blurred", "tiny"}
    assert all(float(x["seconds"]) > 0 for x in rows if x["method"] == "tiny")
    assert "ranked by tiny" in r.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["models"]["tiny"]["overlap"] == 64  # the model tiles as `deblur` would


def test_evaluate_errors(tmp_path, sharp_dir):
    write_image(tmp_path / "p" / "blur" / "a.png", _smooth(20, 20, 0))
    write_image(tmp_path / "p" / "sharp" / "b.png", _smooth(20, 20, 0))
    r = _run(["--pairs", str(tmp_path / "p"), "--no-lpips", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "a.png" in r.output and "counterpart" in r.output

    write_image(tmp_path / "q" / "blur" / "a.png", _smooth(20, 20, 0))
    write_image(tmp_path / "q" / "sharp" / "a.png", _smooth(22, 20, 0))
    r = _run(["--pairs", str(tmp_path / "q"), "--no-lpips", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "a.png" in r.output and "--crop-mismatch" in r.output
    r = _run(["--pairs", str(tmp_path / "q"), "--no-lpips", "--crop-mismatch", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output

    before = (tmp_path / "o" / "results.csv").read_bytes()
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "1", "--no-lpips", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--overwrite" in r.output
    assert (tmp_path / "o" / "results.csv").read_bytes() == before

    r = _run(["--sharp", str(sharp_dir), "--no-lpips", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--synthetic-seed" in r.output
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "1", "--baselines", "wiener,magic", "--out",
              str(tmp_path / "x")])
    assert r.exit_code == 2 and "magic" in r.output


def test_pairs_from_synth_output_match_synthetic_mode(tmp_path, sharp_dir):
    """`synth` then `evaluate --pairs` finds each kernel and the gamma, and equals `--sharp` mode's blur."""
    r = CliRunner().invoke(main, ["synth", str(sharp_dir), str(tmp_path / "set"), "--seed", "5",
                                  "--kernel-size", "9", "--noise-std", "0"])
    assert r.exit_code == 0, r.output
    r = _run(["--pairs", str(tmp_path / "set"), "--no-lpips", "--baselines", "blurred,wiener",
              "--out", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert a["images_with_kernel"] == 3 and a["gamma"] == 2.2
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "5", "--kernel-size", "9", "--noise-std", "0",
              "--no-lpips", "--baselines", "blurred,wiener", "--out", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    # same kernels and blur (the PNG round trip of the blurred files costs at most 0.5/255 per pixel, which
    # Wiener then amplifies: only require it to work on both)
    assert a["methods"]["blurred"]["psnr"] == pytest.approx(b["methods"]["blurred"]["psnr"], abs=0.1)
    for s in (a, b):
        assert s["methods"]["wiener"]["psnr"] > s["methods"]["blurred"]["psnr"] + 3
    ka = np.load(tmp_path / "set" / "kernels" / "img1.npy")
    np.testing.assert_array_equal(ka, np.load(tmp_path / "b" / "kernels.npz")["k0001"])


def test_unknown_model_fails_before_any_work(tmp_path, sharp_dir):
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "1", "--tune", "--no-lpips", "--model", "nope",
              "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown model 'nope'" in r.output
    assert "tuning" not in r.output and not (tmp_path / "o").exists()


def test_models_with_one_name_are_told_apart_by_their_folders(tmp_path, sharp_dir):
    """Chunks of one run carry the run's name in config.json: the table names them by folder, `#n` only when the
    folder name is taken too, and the summary keeps which folder each name came from."""
    import keras

    from deblur_tf.models import build_generator
    from deblur_tf.zoo import save_shipped

    kw = {"width": 8, "encoder_blocks": [1], "middle_blocks": 1, "decoder_blocks": [1]}
    keras.utils.set_random_seed(0)
    g = build_generator("nafnet", **kw)
    for folder in ("run", "run_b", "again/run_b"):
        save_shipped(g, tmp_path / folder, name="run", kind="nafnet", kwargs=kw)
    specs = [str(tmp_path / f) for f in ("run", "run_b", "again/run_b")]
    r = _run(["--sharp", str(sharp_dir), "--synthetic-seed", "1", "--kernel-size", "7", "--no-lpips",
              "--baselines", "blurred", "--out", str(tmp_path / "o")] + [a for s in specs for a in ("--model", s)])
    assert r.exit_code == 0, r.output
    methods = {x["method"] for x in _csv(tmp_path / "o" / "results.csv")}
    assert methods == {"blurred", "run", "run_b", "run#3"}
    models = json.loads((tmp_path / "o" / "summary.json").read_text())["models"]
    assert {n: m["spec"] for n, m in models.items()} == dict(zip(["run", "run_b", "run#3"], specs, strict=True))

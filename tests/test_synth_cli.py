"""`deblur-tf synth` and `deblur-tf kernels` end to end through the click group."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.blur import blur_numpy, per_item_generators, random_kernels
from deblur_tf.cli import main
from deblur_tf.io import read_image, write_image


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def three_sharp(shared, tmp_path) -> Path:
    src = tmp_path / "sharp_in"
    src.mkdir()
    for p in sorted((shared / "data" / "sharp" / "val").glob("*.png"))[:3]:
        shutil.copy(p, src / p.name)
    return src


def test_synth_writes_pairs_kernels_and_manifest_then_refuses_a_second_run(three_sharp, tmp_path):
    out = tmp_path / "out"
    res = _run("synth", three_sharp, out, "--seed", "5", "--kernel-size", "21")
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in three_sharp.iterdir())
    assert sorted(p.name for p in (out / "blur").iterdir()) == names
    assert sorted(p.name for p in (out / "sharp").iterdir()) == names
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["complete"] and manifest["skipped"] == []
    assert manifest["params"]["kernel_size"] == 21 and manifest["params"]["gamma"] == 2.2
    assert [e["name"] for e in manifest["images"]] == names

    for entry in manifest["images"]:
        kernel = np.load(out / entry["kernel_npy"])
        assert kernel.shape == (21, 21) and kernel.dtype == np.float32
        assert abs(float(kernel.sum(dtype=np.float64)) - 1) < 1e-6
        png, _ = read_image(out / entry["kernel_png"])
        assert png.max() == 1.0  # scaled to its peak for viewing
        # the kernel is the one (seed, index) gives, and the blurred file is that kernel applied to the sharp
        expected = random_kernels(1, 21, rng=per_item_generators(5, [entry["index"]]),
                                  exposure=entry["exposure"])[0]
        np.testing.assert_array_equal(kernel, expected)
        sharp, _ = read_image(out / entry["sharp"])
        assert (out / entry["sharp"]).read_bytes() == (three_sharp / entry["name"]).read_bytes()
        blurred, _ = read_image(out / entry["blur"])
        np.testing.assert_allclose(blurred, blur_numpy(sharp, kernel, gamma=2.2), atol=0.5 / 255 + 1e-6)
        assert np.abs(blurred - sharp).mean() > 1e-3  # it really is blurred

    before = _snapshot(out)
    res = _run("synth", three_sharp, out, "--seed", "6")
    assert res.exit_code == 2 and "--overwrite" in res.output and str(out) in res.output
    assert _snapshot(out) == before  # nothing lost or touched

    res = _run("synth", three_sharp, out, "--seed", "6", "--overwrite", "--kernel-size", "21")
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["seed"] == 6


def test_same_seed_reproduces_the_set_and_limit_keeps_each_image_blur(three_sharp, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run("synth", three_sharp, a, "--seed", "3", "--kernel-size", "15").exit_code == 0
    assert _run("synth", three_sharp, b, "--seed", "3", "--kernel-size", "15", "--limit", "2").exit_code == 0
    names = sorted(p.name for p in (b / "blur").iterdir())
    assert len(names) == 2
    for n in names:
        assert (a / "blur" / n).read_bytes() == (b / "blur" / n).read_bytes()


def test_truncated_jpeg_is_named_and_fails_or_is_skipped(three_sharp, tmp_path):
    img, _ = read_image(next(three_sharp.iterdir()))
    bad = three_sharp / "broken.jpg"
    write_image(bad, img)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])

    res = _run("synth", three_sharp, tmp_path / "o1", "--kernel-size", "9")
    assert res.exit_code == 2
    assert "broken.jpg" in res.output and "truncated" in res.output and "--on-error skip" in res.output

    out = tmp_path / "o2"
    res = _run("synth", three_sharp, out, "--kernel-size", "9", "--on-error", "skip")
    assert res.exit_code == 0 and "broken.jpg" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [s["name"] for s in manifest["skipped"]] == ["broken.jpg"]
    assert "truncated" in manifest["skipped"][0]["reason"]
    assert len(manifest["images"]) == 3 and not (out / "blur" / "broken.jpg").exists()


def test_synth_rejects_bad_options_and_inputs(three_sharp, tmp_path):
    res = _run("synth", three_sharp, tmp_path / "o", "--exposure", "2")
    assert res.exit_code == 2 and "exposure" in res.output
    res = _run("synth", three_sharp, three_sharp)
    assert res.exit_code == 2 and "differ" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run("synth", empty, tmp_path / "o3")
    assert res.exit_code == 2 and "no image" in res.output


def test_kernels_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    res = _run("kernels", out, "--n", "6", "--seed", "2", "--size", "15", "--zoom", "2", "--cols", "3")
    assert res.exit_code == 0, res.output
    sheet, _ = read_image(out)
    gap, cell = 2, 30
    assert sheet.shape == (2 * (cell + gap) + gap, 3 * (cell + gap) + gap, 3)
    # the second cell holds kernel 1 of (seed 2), scaled to its peak and zoomed x2
    k = random_kernels(6, 15, rng=per_item_generators(2, range(6)))[1]
    cell1 = sheet[gap : gap + cell, 2 * gap + cell : 2 * gap + 2 * cell, 0]
    np.testing.assert_allclose(cell1[::2, ::2], k / k.max(), atol=0.5 / 255 + 1e-6)
    before = out.read_bytes()
    res = _run("kernels", out)
    assert res.exit_code == 2 and "--overwrite" in res.output and out.read_bytes() == before


def test_nested_folders_16_bit_and_non_image_files(tmp_path):
    src = tmp_path / "in"
    rng = np.random.default_rng(0)
    write_image(src / "scene_a" / "x.png", rng.uniform(0, 1, (20, 24, 3)), bit_depth=16)
    write_image(src / "y.jpg", rng.uniform(0, 1, (20, 24, 3)))
    (src / "notes.txt").write_text("not an image")
    (src / "fake.png").write_bytes(b"definitely not a PNG")
    out = tmp_path / "out"
    res = _run("synth", src, out, "--kernel-size", "7", "--on-error", "skip")
    assert res.exit_code == 0, res.output
    assert "fake.png" in res.output and "ignored 1 non-image" in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["name"] for e in manifest["images"]] == ["scene_a/x.png", "y.jpg"]
    assert manifest["ignored_non_images"] == ["notes.txt"]
    assert [s["name"] for s in manifest["skipped"]] == ["fake.png"]
    assert (out / "kernels" / "scene_a" / "x.npy").exists()
    _, depth = read_image(out / "blur" / "scene_a" / "x.png")
    assert depth == 16 and manifest["images"][0]["bit_depth"] == 16

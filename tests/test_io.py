import subprocess
import sys

import numpy as np
import pytest

from deblur_tf.errors import ImageReadError, OutputExistsError
from deblur_tf.io import iter_images, read_image, write_image


def test_png_roundtrip_8_and_16_bit(tmp_path, rng):
    img = rng.random((17, 23, 3)).astype(np.float32)
    write_image(tmp_path / "a.png", img, bit_depth=8)
    write_image(tmp_path / "b.png", img, bit_depth=16)
    a, da = read_image(tmp_path / "a.png")
    b, db = read_image(tmp_path / "b.png")
    assert (da, db) == (8, 16)
    assert np.abs(a - img).max() <= 0.5 / 255 + 1e-6
    assert np.abs(b - img).max() <= 0.5 / 65535 + 1e-7


def test_truncated_jpeg_is_named(tmp_path, rng):
    write_image(tmp_path / "ok.jpg", rng.random((64, 64, 3)))
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    read_image(tmp_path / "ok.jpg")
    with pytest.raises(ImageReadError, match="cut.jpg"):
        read_image(tmp_path / "cut.jpg")


def test_non_image_and_missing(tmp_path):
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="x.png"):
        read_image(tmp_path / "x.png")
    with pytest.raises(ImageReadError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_no_overwrite_without_flag(tmp_path, rng):
    img = rng.random((8, 8, 3))
    write_image(tmp_path / "o.png", img)
    before = (tmp_path / "o.png").read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_image(tmp_path / "o.png", 1 - img)
    assert (tmp_path / "o.png").read_bytes() == before
    write_image(tmp_path / "o.png", 1 - img, overwrite=True)
    assert (tmp_path / "o.png").read_bytes() != before


def test_grayscale_expanded_and_folder_listing(tmp_path):
    import cv2

    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "g.png"), np.full((5, 6), 128, np.uint8))
    (tmp_path / "notes.txt").write_text("x")
    paths = list(iter_images([tmp_path]))
    assert [p.name for p in paths] == ["g.png"]
    img, _ = read_image(paths[0])
    assert img.shape == (5, 6, 3)


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "deblur_tf.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in ("synth", "kernels", "train", "deblur", "evaluate", "export"):
        assert name in out.stdout

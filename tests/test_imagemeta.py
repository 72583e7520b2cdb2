"""Photos kept as they are: EXIF orientation honoured, grayscale stays grayscale, ICC profiles kept or reported."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.cli import main
from deblur_tf.imagemeta import embed_icc, read_metadata
from deblur_tf.io import read_image, read_image_meta, write_image

FAKE_ICC = b"\x00\x00\x02\x0cfake colour profile for tests " * 40  # content is opaque to us: bytes in, bytes out


def _exif_app1(orientation: int) -> bytes:
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_with_orientation(path, rgb_u8: np.ndarray, orientation: int):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb_u8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    data = buf.tobytes()
    path.write_bytes(data[:2] + _exif_app1(orientation) + data[2:])
    return path


def _asymmetric(h=16, w=24) -> np.ndarray:
    """No symmetry, so every one of the 8 orientations gives a different array."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 10, y * 15, (x * y) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_opencvs_own_rotation(tmp_path, orientation):
    """OpenCV applies EXIF orientation only in IMREAD_COLOR (8-bit); our reader must agree with it exactly."""
    path = _jpeg_with_orientation(tmp_path / "o.jpg", _asymmetric(), orientation)
    assert read_metadata(path.read_bytes())[0] == orientation
    reference = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    img, meta = read_image_meta(path)
    assert meta.orientation == orientation
    np.testing.assert_array_equal(np.round(img * 255).astype(np.uint8), reference)
    if orientation in (5, 6, 7, 8):
        assert img.shape[:2] == (24, 16)


@pytest.fixture(scope="module")
def identity_model(tmp_path_factory):
    """A tiny ResNet generator whose residual is exactly 0 (head conv zeroed): output == input, so what the CLI
    writes shows orientation, channels and profile handling and nothing else."""
    from deblur_tf.models import build_generator
    from deblur_tf.zoo import save_shipped

    model = build_generator("resnet", ngf=4, n_blocks=1)
    head = model.get_layer("head_conv")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return save_shipped(model, tmp_path_factory.mktemp("identity") / "zoo", "identity", "resnet",
                        {"ngf": 4, "n_blocks": 1})


def _deblur(args):
    return CliRunner().invoke(main, ["deblur", *map(str, args)])


def test_sideways_jpeg_comes_out_upright(tmp_path, identity_model):
    stored = _asymmetric(16, 24)  # as the sensor stored it; orientation 6: view it turned 90 degrees clockwise
    src = _jpeg_with_orientation(tmp_path / "phone.jpg", stored, 6)
    r = _deblur([src, "-o", tmp_path / "out", "--model", identity_model, "--format", "png"])
    assert r.exit_code == 0, r.output
    out_path = tmp_path / "out" / "phone.png"
    assert read_metadata(out_path.read_bytes())[0] == 1  # no orientation left to apply: the pixels are upright
    out = cv2.cvtColor(cv2.imread(str(out_path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    upright = cv2.cvtColor(cv2.imread(str(src), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert out.shape == (24, 16, 3) == upright.shape
    assert np.abs(out.astype(int) - upright.astype(int)).max() <= 1


@pytest.mark.parametrize("bits", [8, 16])
def test_grayscale_in_grayscale_out(tmp_path, identity_model, bits):
    gray = (np.linspace(0, 1, 20 * 28).reshape(20, 28) * (255 if bits == 8 else 65535))
    gray = gray.astype(np.uint8 if bits == 8 else np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    r = _deblur([tmp_path / "g.png", "-o", tmp_path / "out", "--model", identity_model])
    assert r.exit_code == 0, r.output
    out = cv2.imread(str(tmp_path / "out" / "g.png"), cv2.IMREAD_UNCHANGED)
    assert out.ndim == 2 and out.dtype == gray.dtype  # one channel, same depth: no tinted RGB
    step = 1 if bits == 8 else 257
    assert np.abs(out.astype(int) - gray.astype(int)).max() <= step


def test_colour_input_stays_colour(tmp_path, identity_model):
    write_image(tmp_path / "c.png", _asymmetric() / 255.0)
    assert _deblur([tmp_path / "c.png", "-o", tmp_path / "out", "--model", identity_model]).exit_code == 0
    assert cv2.imread(str(tmp_path / "out" / "c.png"), cv2.IMREAD_UNCHANGED).shape == (16, 24, 3)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_icc_profile_round_trip(tmp_path, ext):
    img = _asymmetric() / 255.0
    write_image(tmp_path / f"p{ext}", img, icc_profile=FAKE_ICC)
    _, meta = read_image_meta(tmp_path / f"p{ext}")
    assert meta.icc_profile == FAKE_ICC
    # the embedded file is still a valid image for other decoders (OpenCV checks PNG CRCs)
    assert cv2.imread(str(tmp_path / f"p{ext}"), cv2.IMREAD_UNCHANGED).shape == (16, 24, 3)
    plain, _ = read_image(tmp_path / f"p{ext}")
    write_image(tmp_path / f"q{ext}", img)
    np.testing.assert_array_equal(plain, read_image(tmp_path / f"q{ext}")[0])  # same pixels either way


def test_large_icc_profile_spans_several_jpeg_segments(tmp_path):
    big = bytes(range(256)) * 600  # 150 kB: three APP2 segments
    ok, buf = cv2.imencode(".jpg", _asymmetric())
    data = embed_icc(buf.tobytes(), big)
    assert data.count(b"ICC_PROFILE\x00") == 3
    assert read_metadata(data)[1] == big


def test_deblur_keeps_the_profile_or_says_it_dropped_it(tmp_path, identity_model):
    write_image(tmp_path / "in" / "p.jpg", _asymmetric() / 255.0, icc_profile=FAKE_ICC)
    r = _deblur([tmp_path / "in" / "p.jpg", "-o", tmp_path / "out", "--model", identity_model])
    assert r.exit_code == 0, r.output
    assert read_metadata((tmp_path / "out" / "p.jpg").read_bytes())[1] == FAKE_ICC
    assert "ICC" not in r.stderr
    r = _deblur([tmp_path / "in" / "p.jpg", "-o", tmp_path / "webp", "--model", identity_model, "--format", "webp"])
    assert r.exit_code == 0, r.output
    assert "ICC colour profile of p.jpg is dropped" in r.stderr

"""PairedFolder on the numpy path (runs under both backends): alignment, augmentation, validation, bit depth."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblur_tf.data import DatasetError, PairedFolder


def _write(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB uint8/uint16 array (OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


def _noise(rng, h, w, dtype=np.uint8):
    hi = 256 if dtype == np.uint8 else 65536
    return rng.integers(0, hi, size=(h, w, 3)).astype(dtype)


def _shifted_set(root: Path, rng, n=3, h=40, w=52, d=3) -> int:
    """Pairs where sharp(y, x) = blur(y, x + d): the horizontal shift must survive any crop."""
    for i in range(n):
        base = _noise(rng, h, w + d)
        _write(root / "blur" / f"{i}.png", base[:, :w])
        _write(root / "sharp" / f"{i}.png", base[:, d:])
    return d


def _shift_of(blur: np.ndarray, sharp: np.ndarray, d: int) -> tuple[int, int] | None:
    """The (dy, dx) among the 4 axis shifts of length d with sharp[p] == blur[p + (dy, dx)] on the overlap."""
    c = blur.shape[0]
    found = []
    for dy, dx in ((0, d), (0, -d), (d, 0), (-d, 0)):
        ys, yb = (slice(0, c - dy), slice(dy, c)) if dy >= 0 else (slice(-dy, c), slice(0, c + dy))
        xs, xb = (slice(0, c - dx), slice(dx, c)) if dx >= 0 else (slice(-dx, c), slice(0, c + dx))
        if np.array_equal(sharp[ys, xs], blur[yb, xb]):
            found.append((dy, dx))
    return found[0] if len(found) == 1 else None


def test_crop_keeps_pair_aligned_without_augmentation(tmp_path, rng):
    d = _shifted_set(tmp_path, rng)
    ds = PairedFolder(tmp_path, crop=24, batch_size=3, augment=False, seed=5)
    for epoch in range(3):
        blur, sharp = ds.batch(epoch, 0)
        assert blur.shape == sharp.shape == (3, 24, 24, 3)
        for b, s in zip(blur, sharp, strict=True):
            assert np.array_equal(s[:, :-d], b[:, d:])
            assert not np.array_equal(s, b)


def test_flips_and_rotations_move_the_shift_consistently(tmp_path, rng):
    """With augmentation the shift direction turns with the crop, proving both images got the same flip and
    rotation; all four directions must occur, proving augmentation happens at all."""
    d = _shifted_set(tmp_path, rng)
    ds = PairedFolder(tmp_path, crop=24, batch_size=3, augment=True, seed=1)
    shifts = []
    for epoch in range(12):
        for blur, sharp in zip(*ds.batch(epoch, 0), strict=True):
            shift = _shift_of(blur, sharp, d)
            assert shift is not None, "blur and sharp crops lost their alignment"
            shifts.append(shift)
    assert set(shifts) == {(0, d), (0, -d), (d, 0), (-d, 0)}


def test_all_eight_symmetries_applied_to_both(tmp_path, rng):
    img = _noise(rng, 16, 16)
    _write(tmp_path / "blur" / "a.png", img)
    _write(tmp_path / "sharp" / "a.png", 255 - img)  # sharp = -blur in [-1, 1]
    ref = img.astype(np.float32) * np.float32(2 / 255) - 1
    sym = [np.rot90(f, r) for f in (ref, ref[:, ::-1]) for r in range(4)]
    seen = set()
    ds = PairedFolder(tmp_path, crop=16, batch_size=8, augment=True, seed=0)
    for epoch in range(16):  # 128 draws: P(missing one of 8 | uniform) ~ 3e-7
        blur, sharp = ds.batch(epoch, 0)
        np.testing.assert_allclose(sharp, -blur, atol=1e-6)
        for b in blur:
            matches = [k for k, s in enumerate(sym) if np.array_equal(b, s)]
            assert len(matches) == 1
            seen.add(matches[0])
    assert seen == set(range(8))
    plain = PairedFolder(tmp_path, crop=16, batch_size=8, augment=False, seed=0)
    for b in plain.batch(0, 0)[0]:
        np.testing.assert_array_equal(b, ref)


def test_seeded_shuffle_reproducible_and_epochs_differ(tmp_path, rng):
    _shifted_set(tmp_path, rng, n=6)
    a = PairedFolder(tmp_path, crop=16, batch_size=2, seed=7)
    b = PairedFolder(tmp_path, crop=16, batch_size=2, seed=7)
    c = PairedFolder(tmp_path, crop=16, batch_size=2, seed=8)
    assert a.steps_per_epoch == 3
    for step in range(3):
        np.testing.assert_array_equal(a.batch(2, step)[0], b.batch(2, step)[0])
    e0 = np.concatenate([a.batch(0, s)[1] for s in range(3)])
    e1 = np.concatenate([a.batch(1, s)[1] for s in range(3)])
    other = np.concatenate([c.batch(0, s)[1] for s in range(3)])
    assert not np.array_equal(e0, e1)
    assert not np.array_equal(e0, other)


def test_values_in_signed_range_and_match_file(tmp_path, rng):
    img = _noise(rng, 20, 20)
    _write(tmp_path / "blur" / "a.png", img)
    _write(tmp_path / "sharp" / "a.png", img)
    blur, sharp = PairedFolder(tmp_path, crop=None, batch_size=1, augment=False, shuffle=False).batch(0, 0)
    assert blur.dtype == np.float32 and blur.shape == (1, 20, 20, 3)
    np.testing.assert_allclose(blur[0], img / 127.5 - 1, atol=1e-6)


def test_16bit_png_matches_8bit(tmp_path, rng):
    img8 = _noise(rng, 24, 24)
    exact16 = img8.astype(np.uint16) * 257  # the same levels in 16 bits
    fine16 = _noise(rng, 24, 24, np.uint16)
    fine8 = np.round(fine16 / 257).astype(np.uint8)
    _write(tmp_path / "blur" / "a.png", exact16)
    _write(tmp_path / "sharp" / "a.png", img8)
    _write(tmp_path / "blur" / "b.png", fine16)
    _write(tmp_path / "sharp" / "b.png", fine8)
    assert cv2.imread(str(tmp_path / "blur" / "a.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    ds = PairedFolder(tmp_path, crop=None, batch_size=1, augment=False, shuffle=False)
    blur, sharp = ds.batch(0, 0)
    assert np.abs(blur - sharp).max() < 1e-6
    blur, sharp = ds.batch(0, 1)
    assert np.abs(blur - sharp).max() <= 1 / 255 + 1e-6
    assert blur.min() >= -1 and blur.max() <= 1


def test_scene_layout_and_names(tmp_path, rng):
    for scene in ("GOPR0001", "GOPR0002"):
        for i in range(2):
            img = _noise(rng, 20, 20)
            _write(tmp_path / scene / "blur" / f"{i:06d}.png", img)
            _write(tmp_path / scene / "sharp" / f"{i:06d}.png", img)
    ds = PairedFolder(tmp_path, crop=16, batch_size=2)
    assert ds.keys == ["GOPR0001/000000", "GOPR0001/000001", "GOPR0002/000000", "GOPR0002/000001"]
    assert ds.steps_per_epoch == 2


def test_load_size_resizes_before_crop(tmp_path, rng):
    img = _noise(rng, 40, 80)
    _write(tmp_path / "blur" / "a.png", img)
    _write(tmp_path / "sharp" / "a.png", img)
    ds = PairedFolder(tmp_path, crop=None, batch_size=1, load_size=20, augment=False, shuffle=False)
    assert ds.batch(0, 0)[0].shape == (1, 20, 40, 3)
    ds = PairedFolder(tmp_path, crop=None, batch_size=1, load_size=(32, 16), augment=False, shuffle=False)
    assert ds.batch(0, 0)[0].shape == (1, 16, 32, 3)
    with pytest.raises(DatasetError, match="smaller than the 32x32 crop"):
        PairedFolder(tmp_path, crop=32, load_size=20)


# --------------------------------------------------------------------------------------------- bad input


def _good(root: Path, rng, names=("a", "b")) -> None:
    for n in names:
        img = _noise(rng, 24, 24)
        _write(root / "blur" / f"{n}.png", img)
        _write(root / "sharp" / f"{n}.png", img)


def test_missing_counterpart_named(tmp_path, rng):
    _good(tmp_path, rng)
    _write(tmp_path / "blur" / "lonely.png", _noise(rng, 24, 24))
    _write(tmp_path / "sharp" / "orphan.png", _noise(rng, 24, 24))
    with pytest.raises(DatasetError) as err:
        PairedFolder(tmp_path, crop=16)
    msg = str(err.value)
    assert "blur/lonely.png: no sharp counterpart" in msg
    assert "sharp/orphan.png: no blurred counterpart" in msg
    assert "2 problem(s)" in msg


def test_duplicate_names_named(tmp_path, rng):
    _good(tmp_path, rng)
    _write(tmp_path / "sharp" / "a.jpg", _noise(rng, 24, 24))
    with pytest.raises(DatasetError, match=r"sharp/a\.jpg: duplicate name 'a'"):
        PairedFolder(tmp_path, crop=16)


def test_unreadable_and_truncated_named(tmp_path, rng):
    _good(tmp_path, rng)
    (tmp_path / "blur" / "junk.png").write_bytes(b"this is not a png")
    _write(tmp_path / "sharp" / "junk.png", _noise(rng, 24, 24))
    jpg = cv2.imencode(".jpg", _noise(rng, 64, 64))[1].tobytes()
    (tmp_path / "sharp" / "cut.jpg").write_bytes(jpg[: len(jpg) // 2])
    _write(tmp_path / "blur" / "cut.png", _noise(rng, 64, 64))
    (tmp_path / "blur" / "empty.png").write_bytes(b"")
    _write(tmp_path / "sharp" / "empty.png", _noise(rng, 24, 24))
    for cache in (True, False):
        with pytest.raises(DatasetError) as err:
            PairedFolder(tmp_path, crop=16, cache=cache)
        msg = str(err.value)
        assert "blur/junk.png: not a readable image" in msg
        assert "sharp/cut.jpg: truncated JPEG" in msg
        assert "blur/empty.png: empty file" in msg


def test_size_mismatch_named(tmp_path, rng):
    _good(tmp_path, rng)
    _write(tmp_path / "blur" / "c.png", _noise(rng, 24, 24))
    _write(tmp_path / "sharp" / "c.png", _noise(rng, 26, 24))
    with pytest.raises(DatasetError, match=r"blur/c\.png: size 24x24 differs .*sharp/c\.png \(24x26\)"):
        PairedFolder(tmp_path, crop=16)


def test_smaller_than_crop_named(tmp_path, rng):
    _good(tmp_path, rng)
    _write(tmp_path / "blur" / "tiny.jpg", _noise(rng, 12, 30))
    _write(tmp_path / "sharp" / "tiny.jpg", _noise(rng, 12, 30))
    with pytest.raises(DatasetError, match=r"blur/tiny\.jpg: 30x12 is smaller than the 16x16 crop"):
        PairedFolder(tmp_path, crop=16)


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        PairedFolder(tmp_path / "nope")
    (tmp_path / "blur").mkdir()
    (tmp_path / "sharp").mkdir()
    with pytest.raises(DatasetError, match="hold no image"):
        PairedFolder(tmp_path)
    other = tmp_path / "flat"
    other.mkdir()
    with pytest.raises(DatasetError, match="no blur/ and sharp/ folders"):
        PairedFolder(other)


def test_error_lists_first_20_and_count(tmp_path, rng):
    _good(tmp_path, rng)
    for i in range(25):
        _write(tmp_path / "blur" / f"x{i:02d}.png", _noise(rng, 4, 4))
    with pytest.raises(DatasetError) as err:
        PairedFolder(tmp_path, crop=16)
    msg = str(err.value)
    assert "25 problem(s)" in msg and "... and 5 more" in msg
    assert msg.count("no sharp counterpart") == 20


def test_skip_bad_logs_each_file_and_keeps_the_rest(tmp_path, rng, caplog):
    _good(tmp_path, rng)
    _write(tmp_path / "blur" / "lonely.png", _noise(rng, 24, 24))
    (tmp_path / "blur" / "junk.png").write_bytes(b"junk")
    _write(tmp_path / "sharp" / "junk.png", _noise(rng, 24, 24))
    with caplog.at_level(logging.WARNING, logger="deblur_tf.data"):
        ds = PairedFolder(tmp_path, crop=16, batch_size=1, skip_bad=True)
    assert ds.keys == ["a", "b"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "lonely.png" in logged and "junk.png" in logged
    with pytest.raises(DatasetError, match="no usable blur/sharp pair"):
        (tmp_path / "blur" / "a.png").write_bytes(b"junk")
        (tmp_path / "blur" / "b.png").unlink()
        PairedFolder(tmp_path, crop=16, skip_bad=True)


def test_bad_options(tmp_path, rng):
    _good(tmp_path, rng)
    with pytest.raises(DatasetError, match="crop=0"):
        PairedFolder(tmp_path, crop=0)
    with pytest.raises(DatasetError, match="batch_size=0"):
        PairedFolder(tmp_path, crop=16, batch_size=0)
    for bad in (0, (640,), (640, -1), "360"):
        with pytest.raises(DatasetError, match="load_size="):
            PairedFolder(tmp_path, crop=16, load_size=bad)
    _write(tmp_path / "blur" / "wide.png", _noise(rng, 24, 30))
    _write(tmp_path / "sharp" / "wide.png", _noise(rng, 24, 30))
    with pytest.raises(DatasetError, match="crop=None with batch_size=2"):
        PairedFolder(tmp_path, crop=None, batch_size=2)


def test_py_dataset_advances_epochs(tmp_path, rng):
    _shifted_set(tmp_path, rng, n=4)
    src = PairedFolder(tmp_path, crop=16, batch_size=2, seed=3)
    ds = src.as_py_dataset()
    assert len(ds) == 2
    first = ds[0]
    np.testing.assert_array_equal(first[0], src.batch(0, 0)[0])
    ds.on_epoch_end()
    np.testing.assert_array_equal(ds[1][1], src.batch(1, 1)[1])
    with pytest.raises(IndexError):
        ds[2]

"""scripts/gpu_photo_subset.py: the subset that lets a `nafnet` GPU call carry its init model and photos together
(docs/TRAINING.md, cycle 18) must fit the budget as the device tool counts it (whole 4 KiB blocks), keep every
source's share, and never replace a folder without --overwrite.
"""

import importlib.util
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_photo_subset.py"
spec = importlib.util.spec_from_file_location("gpu_photo_subset", SCRIPT)
subset = importlib.util.module_from_spec(spec)
sys.modules["gpu_photo_subset"] = subset
spec.loader.exec_module(subset)


def _photos(folder: Path, counts: dict[str, int], size: int) -> None:
    folder.mkdir(parents=True)
    for source, n in counts.items():
        for i in range(n):
            (folder / f"{source}_img_{i:03d}.jpg").write_bytes(b"x" * size)


def test_sizes_are_counted_in_whole_blocks():
    assert subset.disk_bytes(1) == 4096
    assert subset.disk_bytes(4096) == 4096
    assert subset.disk_bytes(4097) == 8192
    assert subset.disk_bytes(0) == 0


def test_even_pick_spreads_and_never_repeats():
    assert subset.even_pick(10, 5) == [0, 2, 4, 6, 8]
    assert subset.even_pick(7, 7) == list(range(7))
    pick = subset.even_pick(280, 196)
    assert len(set(pick)) == 196 and max(pick) >= 270
    with pytest.raises(ValueError):
        subset.even_pick(3, 4)


def test_largest_subset_under_the_budget_in_blocks():
    # 5000-byte files take two blocks each: 8 of them (16 blocks) fit 16 blocks, 9 do not
    assert len(subset.choose([5000] * 20, 16 * 4096)) == 8
    assert subset.choose([5000] * 20, 4095) == []
    assert subset.choose([10] * 4, 10**9) == [0, 1, 2, 3]


def test_cli_keeps_each_source_in_proportion_and_fits(tmp_path):
    src = tmp_path / "train"
    _photos(src, {"bsd100": 10, "sunhays80": 8, "urban100": 10}, size=6000)  # 2 blocks each
    (src / "notes.txt").write_text("not a photo")
    dest = tmp_path / "sub"
    res = CliRunner().invoke(subset.main, [str(src), str(dest), "--max-mib", str(28 * 4096 / 2**20)])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in dest.iterdir())
    assert len(names) == 14 and "notes.txt" not in names
    by_source = {s: sum(n.startswith(s) for n in names) for s in ("bsd100", "sunhays80", "urban100")}
    assert by_source == {"bsd100": 5, "sunhays80": 4, "urban100": 5}
    assert "14 of 28 photos" in res.output


def test_cli_refuses_to_replace_without_overwrite_and_names_empty_sources(tmp_path):
    src = tmp_path / "train"
    _photos(src, {"bsd100": 3}, size=100)
    dest = tmp_path / "sub"
    dest.mkdir()
    (dest / "mine.jpg").write_bytes(b"keep")
    res = CliRunner().invoke(subset.main, [str(src), str(dest), "--max-mib", "1"])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert (dest / "mine.jpg").read_bytes() == b"keep"
    res = CliRunner().invoke(subset.main, [str(src), str(dest), "--max-mib", "1", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in dest.iterdir()) == [f"bsd100_img_{i:03d}.jpg" for i in range(3)]

    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(subset.main, [str(empty), str(tmp_path / "x"), "--max-mib", "1"])
    assert res.exit_code != 0 and "holds no photos" in res.output
    res = CliRunner().invoke(subset.main, [str(src), str(tmp_path / "y"), "--max-mib", "0.001"])
    assert res.exit_code != 0 and "holds no photo" in res.output and not (tmp_path / "y").exists()


def test_cli_names_a_file_dest_and_leaves_no_half_subset_when_a_copy_fails(tmp_path, monkeypatch):
    src = tmp_path / "train"
    _photos(src, {"bsd100": 4}, size=100)
    afile = tmp_path / "afile"
    afile.write_text("mine")
    res = CliRunner().invoke(subset.main, [str(src), str(afile), "--max-mib", "1", "--overwrite"])
    assert res.exit_code != 0 and "is a file" in res.output
    assert afile.read_text() == "mine"

    real_copy = subset.shutil.copy2
    calls = []

    def copy_then_fail(a, b):
        calls.append(a)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_copy(a, b)

    monkeypatch.setattr(subset.shutil, "copy2", copy_then_fail)
    dest = tmp_path / "sub"
    res = CliRunner().invoke(subset.main, [str(src), str(dest), "--max-mib", "1"])
    assert res.exit_code != 0 and "No space left" in res.output
    assert not dest.exists()
    assert len(list(src.iterdir())) == 4

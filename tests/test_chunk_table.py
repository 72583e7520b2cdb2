"""scripts/chunk_table.py: the per-chunk rows of docs/TRAINING.md from one run's log.csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner
from script_module import ROOT, load_script

chunk_table = load_script("scripts/chunk_table.py")
FIELDS = ["step", "wall_time_s", "psnr", "val_psnr", "val_ssim", "lr"]


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in FIELDS})
    return path


@pytest.fixture
def two_chunks(tmp_path: Path) -> Path:
    """Chunk 1: steps 0..600 at 20 steps/s after a 100-s compile; stopped at 650. Chunk 2 restarts after 60 s and
    runs at 40 steps/s to 1,400, its rate falling to 5e-5 at the end. Validation at 0, 400, 1,200 and 1,400."""
    rows = [{"step": 0, "wall_time_s": 0, "val_psnr": 25.0, "val_ssim": 0.70}]
    t = 100.0
    for s in (200, 400, 600):
        t += 10.0 if s > 200 else 0.0
        rows.append({"step": s, "wall_time_s": t, "psnr": 27.0 + s / 1000, "lr": 1e-4})
    rows[2].update(val_psnr=25.5, val_ssim=0.72)
    t += 60.0
    for s in range(800, 1401, 200):
        t += 5.0
        rows.append({"step": s, "wall_time_s": t, "psnr": 28.0 + s / 10000, "lr": 6e-5})
    rows[-2].update(val_psnr=26.0, val_ssim=0.75)  # step 1,200
    rows[-1].update(val_psnr=26.2, val_ssim=0.76, lr=5e-5)  # step 1,400, the chunk's last row
    return _write(tmp_path / "log.csv", rows)


def test_each_chunk_gets_its_own_speed_training_psnr_and_validation(two_chunks):
    first, second = chunk_table.chunk_rows(chunk_table.read_log(two_chunks), [650, 1400])
    assert (first["start"], first["end"], second["start"], second["end"]) == (0, 650, 650, 1400)
    # 200 -> 400 -> 600 in 10 s each: 20 steps/s; the 0 -> 200 interval (compilation) is in the median's list but
    # the mean starts after the step-0 row
    assert first["mean_steps_per_s"] == pytest.approx(20.0)
    # chunk 2: every interval inside it is 200 steps in 5 s; the 600 -> 800 interval spans the restart and is out
    assert second["median_steps_per_s"] == pytest.approx(40.0)
    assert second["mean_steps_per_s"] == pytest.approx(40.0)
    assert first["train_psnr"] == pytest.approx((27.2 + 27.4 + 27.6) / 3)  # all within the last 1,000 steps
    assert second["train_psnr"] == pytest.approx((28.08 + 28.10 + 28.12 + 28.14) / 4)  # steps 800..1400
    assert first["val_start"] == (25.0, 0.70) and first["val_end"] == (25.5, 0.72)
    assert second["val_start"] == (25.5, 0.72) and second["val_end"] == (26.2, 0.76)
    assert first["lr"] == 1e-4 and second["lr"] == 5e-5


def test_training_psnr_is_the_last_thousand_steps_only(tmp_path):
    rows = [{"step": s, "wall_time_s": s / 10, "psnr": 20.0 if s <= 1000 else 30.0} for s in range(200, 3001, 200)]
    (c,) = chunk_table.chunk_rows(chunk_table.read_log(_write(tmp_path / "log.csv", rows)), [3000])
    assert c["train_psnr"] == pytest.approx(30.0)  # steps 2,200..3,000; the 20-dB rows are older


def test_the_table_has_one_row_per_chunk_with_its_name(two_chunks):
    out = CliRunner().invoke(chunk_table.main, [str(two_chunks), "--ends", "650,1400", "--names", "a,b"])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 4
    assert lines[2].startswith("| a | 0 → 650 |") and "25.00 / 0.7000 → 25.50 / 0.7200" in lines[2]
    assert lines[3].startswith("| b | 650 → 1,400 | 40.0 / 40.0 |")


@pytest.mark.parametrize("args, message", [
    (["--ends", "1400,650"], "must increase"),
    (["--ends", "650,650"], "must increase"),
    (["--ends", "650,700"], "chunk 2 (steps 651..700) has fewer than two logged rows"),
    (["--ends", "650,1400", "--names", "a"], "1 names for 2 chunks"),
    (["--ends", "6.5k"], "give whole step numbers"),
])
def test_bad_arguments_are_named(two_chunks, args, message):
    out = CliRunner().invoke(chunk_table.main, [str(two_chunks), *args])
    assert out.exit_code != 0 and message in out.output


def test_a_missing_or_foreign_file_is_named(tmp_path):
    out = CliRunner().invoke(chunk_table.main, [str(tmp_path / "nope.csv")])
    assert out.exit_code != 0 and "nope.csv: no such log" in out.output
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    out = CliRunner().invoke(chunk_table.main, [str(tmp_path / "other.csv")])
    assert out.exit_code != 0 and "not a training log" in out.output
    (tmp_path / "broken.csv").write_text("step,wall_time_s,psnr\n200,10,27.1\n400,2x,27.2\n")
    out = CliRunner().invoke(chunk_table.main, [str(tmp_path / "broken.csv")])
    assert out.exit_code != 0 and "broken.csv, line 3:" in out.output and "Traceback" not in out.output


def test_cycle_21_log_gives_the_training_psnr_its_table_states():
    """docs/TRAINING.md, cycle 21: train PSNR (last 1k) 28.39 / 28.53 / 28.52 / 28.51, val 26.62 -> 26.85."""
    rows = chunk_table.read_log(ROOT / "docs/training_logs/nafnet-content-c21-naf21.csv")
    chunks = chunk_table.chunk_rows(rows, [12000, 24000, 36000, 45092])
    assert [round(c["train_psnr"], 2) for c in chunks] == [28.39, 28.53, 28.52, 28.51]
    assert round(chunks[0]["val_start"][0], 2) == 26.62 and round(chunks[-1]["val_end"][0], 2) == 26.85

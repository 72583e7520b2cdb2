"""benchmarks/reference_blocking.py: where a model's error against a blocky reference sits."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblur_tf.errors import DeblurError

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "reference_blocking.py"
_spec = importlib.util.spec_from_file_location("reference_blocking", SCRIPT)
rb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rb)


def test_split_psnr_puts_block_boundary_errors_on_the_boundary_side(rng):
    ref = rng.random((64, 64, 3))
    out = ref.copy()
    out[7::8] = np.clip(out[7::8] + 0.1, 0, 1)  # errors on one boundary row of every block
    got = rb.split_psnr(out, ref)
    assert got["psnr_block_edges"] < 30 < got["psnr_interior"]
    out = ref.copy()
    out[3::8] = np.clip(out[3::8] + 0.1, 0, 1)  # the same errors inside the blocks
    got = rb.split_psnr(out, ref)
    assert got["psnr_interior"] < 30 < got["psnr_block_edges"]
    with pytest.raises(DeblurError, match="differ in size"):
        rb.split_psnr(out[:32], ref)


def test_the_script_flags_a_jpeg_reference_and_scores_its_output(tmp_path, rng):
    sharp, outs = tmp_path / "sharp", tmp_path / "outs"
    sharp.mkdir()
    outs.mkdir()
    clean = cv2.GaussianBlur(rng.random((96, 96, 3)).astype(np.float32), (0, 0), 2.0)
    clean = np.round(255 * (clean - clean.min()) / (clean.max() - clean.min())).astype(np.uint8)
    cv2.imwrite(str(sharp / "clean.png"), clean)
    ok, buf = cv2.imencode(".jpg", clean, [cv2.IMWRITE_JPEG_QUALITY, 10])
    cv2.imwrite(str(sharp / "coded.png"), cv2.imdecode(buf, cv2.IMREAD_COLOR))
    cv2.imwrite(str(outs / "coded.png"), clean)  # a "model" that removed the blocks
    res = subprocess.run([sys.executable, str(SCRIPT), "--sharp", str(sharp), "--outputs", str(outs)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    rows = {r["photo"]: r for r in map(json.loads, [ln for ln in res.stdout.splitlines() if ln.startswith("{")])}
    assert rows["coded.png"]["reference"] > 1.3 > rows["clean.png"]["reference"]
    assert rows["coded.png"]["psnr_block_edges"] < rows["coded.png"]["psnr_interior"]
    assert "above 1.1: coded.png" in res.stdout
    bad = subprocess.run([sys.executable, str(SCRIPT), "--sharp", str(tmp_path / "none")], capture_output=True,
                         text=True)
    assert bad.returncode == 1 and "none: no images there" in bad.stderr

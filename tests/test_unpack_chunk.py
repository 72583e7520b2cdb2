"""scripts/unpack_chunk.py: a PACK=1 chunk's parts become a loadable candidate folder, or a clear error and no folder.

Backend-independent: scripts/test.sh runs it under TensorFlow and under JAX.
"""

import json
from pathlib import Path

import keras
import numpy as np
from click.testing import CliRunner
from script_module import load_script

from deblur_tf.models import build_generator
from deblur_tf.zoo import load_model, save_shipped

uc = load_script("scripts/unpack_chunk.py")

KW = {"width": 8, "encoder_blocks": [1], "middle_blocks": 1, "decoder_blocks": [1]}


def _chunk(tmp_path: Path, part_bytes: int = 4000) -> tuple[Path, bytes]:
    """A chunk folder as gpu_train.sh returns it: packed/config.json named after the run, the weights in parts."""
    keras.utils.set_random_seed(3)
    g = build_generator("nafnet", **KW)
    rng = np.random.default_rng(3)
    g.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(w.dtype) for w in g.get_weights()])
    src = tmp_path / "dev" / "run7"
    save_shipped(g, src / "packed", name="run7", kind="nafnet", kwargs=KW)
    whole = (src / "packed" / "weights.npz").read_bytes()
    (src / "packed" / "weights.npz").unlink()
    for i, start in enumerate(range(0, len(whole), part_bytes)):
        (src / "packed" / f"weights.npz.part.a{chr(97 + i)}").write_bytes(whole[start:start + part_bytes])
    (src / "log.csv").write_text("step,psnr\n0,\n200,27.1\n400,27.3\n")
    return src, whole


def test_parts_are_joined_in_order_named_after_the_folder_and_loaded(tmp_path):
    src, whole = _chunk(tmp_path)
    assert len(list((src / "packed").glob("weights.npz.part.*"))) >= 3
    dest = tmp_path / "cand" / "run7b"
    r = CliRunner().invoke(uc.main, [str(src), str(dest)])
    assert r.exit_code == 0, r.output
    assert (dest / "weights.npz").read_bytes() == whole
    assert json.loads((dest / "config.json").read_text())["name"] == "run7b"
    rec = json.loads((dest / "unpacked.json").read_text())
    assert rec["last_logged_step"] == 400 and rec["source"] == str(src)
    loaded = load_model(str(dest))
    assert loaded.name == "run7b" and loaded.params == rec["params"]
    # an existing folder is not overwritten without --overwrite
    r = CliRunner().invoke(uc.main, [str(src), str(dest)])
    assert r.exit_code != 0 and "--overwrite" in r.output
    assert (dest / "weights.npz").read_bytes() == whole
    assert CliRunner().invoke(uc.main, [str(src), str(dest), "--overwrite"]).exit_code == 0


def test_a_missing_part_or_no_packed_folder_is_named_and_leaves_nothing(tmp_path):
    src, whole = _chunk(tmp_path)
    kept = tmp_path / "cand" / "kept"
    assert CliRunner().invoke(uc.main, [str(src), str(kept)]).exit_code == 0
    (src / "packed" / "weights.npz.part.ab").unlink()  # one part not fetched
    # --overwrite with a broken chunk keeps the folder it would have replaced
    r = CliRunner().invoke(uc.main, [str(src), str(kept), "--overwrite"])
    assert r.exit_code != 0 and (kept / "weights.npz").read_bytes() == whole, r.output
    assert sorted(p.name for p in kept.parent.iterdir()) == ["kept"]
    dest = tmp_path / "cand" / "broken"
    r = CliRunner().invoke(uc.main, [str(src), str(dest)])
    assert r.exit_code != 0 and "do not make a loadable model" in r.output and "part.aa" in r.output, r.output
    assert not dest.exists()
    r = CliRunner().invoke(uc.main, [str(tmp_path), str(dest)])
    assert r.exit_code != 0 and "PACK=1" in r.output and not dest.exists(), r.output

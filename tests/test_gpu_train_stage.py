"""scripts/gpu_train.sh's staging: what each call carries lands on the GPU machine's data folder and replaces only
its own part, so a ResNet call can stage the training photos with a small val set and the next call the full val
set (docs/TRAINING.md, cycle 17). No Keras: `--stage` stops before training, and GPU_DATA_ROOT points the data
folder into tmp_path instead of /root/data.
"""

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_train.sh"


def _photos(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())


def _stage(call: Path, data_root: Path, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VAL_FROM", "TRAIN_FROM")}
    env.update(GPU_DATA_ROOT=str(data_root), **env_extra)
    return subprocess.run(["bash", str(SCRIPT), "--stage"], cwd=call, capture_output=True, text=True, env=env)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_train_with_a_small_val_then_the_full_val_in_a_later_call(tmp_path):
    root = tmp_path / "machine"
    first = tmp_path / "call1"
    _photos(first / ".gpu/data/train", ["a.jpg", "b.jpg"])
    _photos(first / ".gpu/val5", ["v1.png"])
    res = _stage(first, root, VAL_FROM=".gpu/val5")
    assert res.returncode == 0, res.stderr
    assert _names(root / "train") == ["a.jpg", "b.jpg"]
    assert _names(root / "val") == ["v1.png"]

    second = tmp_path / "call2"  # a later call carrying only the val set: the photos of call 1 stay
    _photos(second / ".gpu/data/val", ["v1.png", "v2.png", "v3.png"])
    res = _stage(second, root)
    assert res.returncode == 0, res.stderr
    assert _names(root / "train") == ["a.jpg", "b.jpg"]
    assert _names(root / "val") == ["v1.png", "v2.png", "v3.png"]


def test_a_carried_folder_replaces_the_old_one_instead_of_merging(tmp_path):
    root = tmp_path / "machine"
    _photos(root / "train", ["old.jpg"])
    call = tmp_path / "call"
    _photos(call / ".gpu/data/train", ["new.jpg"])
    res = _stage(call, root)
    assert res.returncode == 0, res.stderr
    assert _names(root / "train") == ["new.jpg"]


def test_missing_val_from_and_missing_photos_are_named(tmp_path):
    root = tmp_path / "machine"
    call = tmp_path / "call"
    _photos(call / ".gpu/data/train", ["a.jpg"])
    res = _stage(call, root, VAL_FROM=".gpu/nope")
    assert res.returncode == 2
    assert "VAL_FROM=.gpu/nope" in res.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    res = _stage(empty, tmp_path / "bare")
    assert res.returncode == 2
    assert "no training photos" in res.stderr


def test_train_from_puts_a_subset_in_place_of_the_training_photos(tmp_path):
    root = tmp_path / "machine"
    _photos(root / "train", ["all1.jpg", "all2.jpg", "all3.jpg"])
    call = tmp_path / "call"
    _photos(call / ".gpu/sub", ["all1.jpg", "all3.jpg"])
    _photos(call / ".gpu/val5", ["v1.png"])
    res = _stage(call, root, TRAIN_FROM=".gpu/sub", VAL_FROM=".gpu/val5")
    assert res.returncode == 0, res.stderr
    assert _names(root / "train") == ["all1.jpg", "all3.jpg"]
    assert _names(root / "val") == ["v1.png"]

    res = _stage(call, root, TRAIN_FROM=".gpu/missing")
    assert res.returncode == 2
    assert "TRAIN_FROM=.gpu/missing" in res.stderr
    assert _names(root / "train") == ["all1.jpg", "all3.jpg"]

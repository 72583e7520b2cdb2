"""scripts/park_weights.sh: what a device call carries and what it leaves behind, and that restore is lossless.

No Keras: the script only moves files (a repo layout is built in tmp_path so the real weights are never touched).
"""

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "park_weights.sh"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts" / SCRIPT.name)
    for model in ("big", "small"):
        d = tmp_path / "deblur_tf" / "weights" / model
        d.mkdir(parents=True)
        for name in ("config.json", "weights.npz", "critic.json", "critic.weights.h5"):
            (d / name).write_text(f"{model}/{name}")
    return tmp_path


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(repo / "scripts" / SCRIPT.name), *args], capture_output=True, text=True)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def test_keep_leaves_only_the_kept_generator_and_restore_puts_everything_back(repo):
    weights = repo / "deblur_tf" / "weights"
    before = _tree(weights)
    assert _run(repo, "keep", "small").returncode == 0
    assert sorted(_tree(weights)) == ["small/config.json", "small/weights.npz"]  # its critic is parked too
    assert (repo / ".park" / "big" / "weights.npz").read_text() == "big/weights.npz"
    assert _run(repo, "restore").returncode == 0
    assert _tree(weights) == before and not (repo / ".park").exists()


def test_keep_none_parks_everything_and_a_second_park_refuses_to_overwrite(repo):
    weights = repo / "deblur_tf" / "weights"
    assert _run(repo, "keep", "none").returncode == 0
    assert _tree(weights) == {}
    (weights / "big" / "weights.npz").write_text("new")  # a file that came back into the tree meanwhile
    second = _run(repo, "keep", "none")
    assert second.returncode == 2 and "restore" in second.stderr
    assert (weights / "big" / "weights.npz").read_text() == "new"  # neither copy lost
    assert (repo / ".park" / "big" / "weights.npz").read_text() == "big/weights.npz"


def test_unknown_model_and_missing_verb_are_errors(repo):
    bad = _run(repo, "keep", "nope")
    assert bad.returncode == 2 and "no shipped model nope" in bad.stderr
    assert _run(repo).returncode == 2
    assert len(_tree(repo / "deblur_tf" / "weights")) == 8  # nothing moved

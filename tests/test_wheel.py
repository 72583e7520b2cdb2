"""The package as a user gets it: a wheel installed into a clean virtualenv, run from outside the checkout.

The wheel is built from a copy of the sources (so the checkout gets no build/ or egg-info) without build
isolation, and the new virtualenv reuses the dependencies of the running environment through a `.pth` line
instead of downloading TensorFlow again: only deblur-tf itself comes from the wheel, which the test checks.
Measured on the 2-core CI machine: build 2 s, install 1 s, `train -p smoke --steps 1` 14 s (TensorFlow).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _copy_sources(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    shutil.copytree(ROOT / "deblur_tf", dst / "deblur_tf", ignore=ignore)
    shutil.copytree(ROOT / "pipelines", dst / "pipelines", ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, dst / name)
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(root / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(root / "dist"), str(src)], check=True, cwd=root, timeout=300)
    (whl,) = (root / "dist").glob("deblur_tf-*.whl")
    return whl


def test_wheel_ships_every_pipeline_of_the_checkout(wheel):
    with zipfile.ZipFile(wheel) as z:
        packaged = {Path(n).name for n in z.namelist() if n.startswith("deblur_tf/pipelines/")}
        shipped_models = {n for n in z.namelist() if n.startswith("deblur_tf/weights/") and n.endswith("weights.npz")}
    assert packaged == {p.name for p in (ROOT / "pipelines").glob("*.toml")}
    assert shipped_models  # the default model is inside too


@pytest.mark.slow
def test_installed_wheel_trains_outside_the_checkout(wheel, tmp_path, shared):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip())
    # the dependencies (TensorFlow, Keras, ...) of this environment, after the venv's own site-packages
    (purelib / "_deblur_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEBLUR_SHARED")}
    env["DEBLUR_SHARED"] = str(shared)
    where = subprocess.run([str(py), "-c", "import deblur_tf.config as c; print(c.__file__); print(c.PIPELINES_DIR)"],
                           check=True, capture_output=True, text=True, cwd=away, env=env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where  # the wheel's code and pipelines, not ours
    r = subprocess.run([str(venv / "bin" / "deblur-tf"), "train", "-p", "smoke", "-o", "run", "--steps", "1",
                        "--no-progress"], capture_output=True, text=True, cwd=away, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "done: step 1/6" in r.stdout
    assert (away / "run" / "checkpoints" / "step_00000001" / "optimizers.npz").is_file()

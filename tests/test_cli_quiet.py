"""`deblur-tf` keeps TensorFlow's C++ start-up chatter off the user's terminal, but never hides a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHATTER = ("absl::InitializeLog", "cuInit", "oneDNN", "cudart_stub")


@pytest.mark.tf_only
def test_deblur_prints_no_tensorflow_chatter(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("DEBLUR_TF_VERBOSE", None)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cmd = [sys.executable, "-m", "deblur_tf.cli", "deblur", str(ROOT / "samples" / "blurry.jpg"), "-o", str(tmp_path)]
    quiet = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "deblurred 1 image" in quiet.stdout
    assert not [c for c in CHATTER if c in quiet.stderr], quiet.stderr
    # the switch that shows it again (and proves the check above looks at the right stream)
    loud = subprocess.run([*cmd, "--overwrite"], cwd=ROOT, env={**env, "DEBLUR_TF_VERBOSE": "1"},
                          capture_output=True, text=True, timeout=300)
    assert loud.returncode == 0 and [c for c in CHATTER if c in loud.stderr], loud.stderr


def test_a_failing_tensorflow_import_is_shown_not_swallowed():
    code = textwrap.dedent(
        """
        import os, sys

        class Broken:
            def find_spec(self, name, path=None, target=None):
                if name == "keras":
                    os.write(2, b"native library libfoo.so missing\\n")
                    raise ImportError("keras failed to load")
                return None

        for m in [m for m in sys.modules if m == "keras" or m.startswith(("keras.", "tensorflow"))]:
            del sys.modules[m]
        sys.meta_path.insert(0, Broken())
        from deblur_tf.cli._quiet import quiet_tensorflow_import
        try:
            quiet_tensorflow_import()
        except ImportError as exc:
            print("raised:", exc)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.pop("DEBLUR_TF_VERBOSE", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert "raised: keras failed to load" in out.stdout, out.stdout + out.stderr
    assert "native library libfoo.so missing" in out.stderr


def test_numpy_only_commands_do_not_load_tensorflow(tmp_path):
    """`models`, `kernels` and `synth` start in a blink: no TensorFlow import (it costs seconds)."""
    code = textwrap.dedent(
        """
        import sys
        from deblur_tf.cli import main
        try:
            main(sys.argv[1:], prog_name="deblur-tf")
        except SystemExit as exc:
            assert not exc.code, exc.code
        print("tensorflow loaded:", "tensorflow" in sys.modules)
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    for args in (["models"], ["kernels", str(tmp_path / "k.png"), "-n", "2"]):
        out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
        assert "tensorflow loaded: False" in out.stdout, out.stdout + out.stderr

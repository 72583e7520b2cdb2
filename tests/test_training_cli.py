"""`deblur-tf train` end to end: the smoke pipeline trains, checkpoints and resumes from the command line.

Under KERAS_BACKEND=jax the CLI runs in a subprocess where `import tensorflow` raises ImportError, as on
the GPU machines (JAX, no TensorFlow): the whole JAX training path must work without it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.cli import main

ROOT = Path(__file__).resolve().parents[1]

BLOCK_TENSORFLOW = textwrap.dedent(
    """
    import sys

    class _BlockTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ImportError(f"{name} is blocked: the JAX training path must not need TensorFlow")
            return None

    sys.meta_path.insert(0, _BlockTensorFlow())
    """
)

RUN_CLI = textwrap.dedent(
    """
    import sys
    from deblur_tf.cli import main
    try:
        main(sys.argv[1:], prog_name="deblur-tf")
    finally:
        if "tensorflow" in sys.modules and {block}:
            print("TENSORFLOW WAS IMPORTED", file=sys.stderr)
            sys.exit(99)
    """
)


def cli_command(args: list[str], tmp_path: Path, shared: Path) -> tuple[list[str], dict[str, str]]:
    backend = keras.backend.backend()
    block = backend == "jax"
    code = (BLOCK_TENSORFLOW if block else "") + RUN_CLI.format(block=block)
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "DEBLUR_SHARED": str(shared),
        # a tiny model on a CPU: compile quickly rather than optimise the code (XLA, JAX only)
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        # the resumed process finds the compiled step of the first one
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
    }
    return [sys.executable, "-c", code, *args], env


def run_cli(args: list[str], tmp_path: Path, shared: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd, env = cli_command(args, tmp_path, shared)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def interrupt_cli(args: list[str], tmp_path: Path, shared: Path, timeout: int = 600) -> tuple[int, str]:
    """Run the CLI and press Ctrl-C (SIGINT) as soon as its training loop has started."""
    cmd, env = cli_command(args, tmp_path, shared)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = []
    try:
        for line in proc.stderr:
            err.append(line)
            if line.startswith("training steps"):
                proc.send_signal(signal.SIGINT)
                break
        rest_out, rest_err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(err) + rest_err


def log_steps(run: Path) -> list[int]:
    with open(run / "log.csv", newline="") as f:
        return [int(r["step"]) for r in csv.DictReader(f)]


@pytest.mark.slow
def test_smoke_trains_checkpoints_and_resumes_from_the_cli(tmp_path, shared):
    run = tmp_path / "run"
    t0 = time.perf_counter()
    first = run_cli(["train", "--pipeline", "smoke", "--out", str(run), "--steps", "3", "--no-progress"],
                    tmp_path, shared)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "step 3/6" in first.stdout
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_00000003"]
    assert max(log_steps(run)) == 3
    for name in ("config.toml", "generator.json", "generator.weights.h5"):
        assert (run / name).is_file(), name

    # Ctrl-C while resuming: the step in flight completes, a checkpoint is saved, exit status 130
    code, err = interrupt_cli(["train", "--out", str(run), "--resume", "--no-progress"], tmp_path, shared)
    assert code == 130, err[-3000:]
    assert "resuming" in err and "from step 3" in err and "interrupted: saved checkpoint at step 4" in err
    assert (run / "checkpoints" / "step_00000004" / "state.json").is_file()

    third = run_cli(["train", "--out", str(run), "--resume", "--no-progress"], tmp_path, shared)
    elapsed = time.perf_counter() - t0
    assert third.returncode == 0, third.stderr[-3000:]
    assert "from step 4" in third.stderr and "step 6/6" in third.stdout
    state = json.loads((run / "checkpoints" / "step_00000006" / "state.json").read_text())
    assert state["step"] == 6 and state["backend"] == keras.backend.backend()
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_00000004", "step_00000006"]  # keep 2
    steps = log_steps(run)
    assert steps == sorted(steps) and max(steps) == 6
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert any(r["val_psnr"] for r in rows) and all(np.isfinite(float(r["d_loss"])) for r in rows if r["d_loss"])
    # validation triptychs (blurred | restored | sharp) as PNG, whatever the backend
    from deblur_tf.io import read_image

    sample, _ = read_image(run / "samples" / "step_00000006.png")
    assert sample.shape == (2 * 32, 3 * 32, 3)  # val_batch_size 2 rows of three 32-px crops
    # the last lr is 0: the schedule (3 constant + 3 decay steps) ran to its end across the processes
    assert float([r for r in rows if r["lr"]][-1]["lr"]) == pytest.approx(0.0, abs=1e-12)

    # the run directory is all another tool needs to rebuild the generator
    from deblur_tf.models import build_generator

    spec = json.loads((run / "generator.json").read_text())
    gen = build_generator(spec["kind"], **spec["kwargs"])
    gen.load_weights(run / "generator.weights.h5")
    out = np.asarray(gen.predict(np.zeros((1, 32, 32, 3), "float32"), verbose=0))
    assert out.shape == (1, 32, 32, 3) and np.isfinite(out).all()

    # nothing left to do: a further --resume says so and trains nothing
    from deblur_tf.run import resolve_run_config, run_training

    said = []
    summary = run_training(resolve_run_config(run, None, (), resume=True), run, resume=True, echo=said.append)
    assert summary["end_step"] == 6 and any("nothing to do" in m for m in said)
    assert max(log_steps(run)) == 6
    print(f"smoke train + resume from the CLI: {elapsed:.1f} s ({keras.backend.backend()})")


def test_refuses_a_non_empty_run_dir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["train", "--pipeline", "smoke", "--out", str(run)])
    assert result.exit_code == 2
    assert "not empty" in result.output and "--resume" in result.output and "--overwrite" in result.output
    assert (run / "notes.txt").read_text() == "mine" and sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_overwrite_removes_only_run_files(tmp_path):
    from deblur_tf.run import prepare_run_dir

    run = tmp_path / "run"
    (run / "checkpoints" / "step_00000001").mkdir(parents=True)
    (run / "log.csv").write_text("old")
    (run / "notes.txt").write_text("mine")
    prepare_run_dir(run, resume=False, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_resume_without_a_run_needs_a_pipeline(tmp_path):
    result = CliRunner().invoke(main, ["train", "--out", str(tmp_path / "new"), "--resume"])
    assert result.exit_code == 2 and "--pipeline" in result.output


def test_bad_override_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["train", "-p", "smoke", "-o", str(tmp_path / "r"), "--set", "loss.wieght=3"])
    assert result.exit_code == 2 and "loss.wieght" in result.output


def _count(output: str, what: str) -> int:
    line = next(ln for ln in output.splitlines() if ln.startswith(what))
    return int(line.split(":")[1].split("trainable")[0].replace(",", "").strip())


def test_dry_run_prints_the_papers_parameter_counts(tmp_path, shared):
    out = tmp_path / "never-created"
    # 19 photos decode fast (the smallest is 228 px: crop 224)
    small_data = ["--set", f"data.train_dir={shared / 'data/sharp/val'}", "--set", "data.crop=224"]
    result = CliRunner().invoke(main, ["train", "-p", "deblurgan-synthetic", "-o", str(out), "--dry-run", *small_data])
    assert result.exit_code == 0, result.output
    assert _count(result.output, "generator") == pytest.approx(11.4e6, rel=0.005)
    assert _count(result.output, "critic") == pytest.approx(2.76e6, rel=0.005)
    assert "training data: SyntheticPairs" in result.output and "images=19" in result.output
    assert "[optim]" in result.output and "n_critic = 5" in result.output  # the resolved config
    assert not out.exists()
    one = CliRunner().invoke(main, ["train", "-p", "deblurgan-synthetic", "-o", str(out), "--dry-run", *small_data,
                                    "--set", "generator.convs_per_block=1"])
    assert _count(one.output, "generator") == pytest.approx(6.07e6, rel=0.005)


def test_dry_run_reports_missing_data(tmp_path):
    """The paper pipeline's GoPro path is a placeholder: the dry run says so (exit 2) and still counts."""
    result = CliRunner().invoke(main, ["train", "-p", "deblurgan-paper", "-o", str(tmp_path / "r"), "--dry-run",
                                       "--set", f"data.train_dir={tmp_path / 'no-gopro'}"])
    assert result.exit_code == 2
    assert "data: ERROR" in result.output and "no-gopro" in result.output
    assert _count(result.output, "generator") == pytest.approx(11.4e6, rel=0.005)


def test_dry_run_needs_no_run_dir_but_training_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dry = CliRunner().invoke(main, ["train", "-p", "deblurgan-paper", "--dry-run",
                                    "--set", f"data.train_dir={tmp_path / 'no-gopro'}"])
    assert _count(dry.output, "generator") == pytest.approx(11.4e6, rel=0.005)
    real = CliRunner().invoke(main, ["train", "-p", "smoke"])
    assert real.exit_code == 2 and "--out" in real.output and "--dry-run" in real.output
    assert list(tmp_path.iterdir()) == []  # neither wrote anything


def test_first_ctrl_c_asks_to_stop_second_aborts():
    """The flag the loop checks after every step (a checkpoint is then saved); a second Ctrl-C raises; the
    handler in place before is put back (the default one in a terminal, SIG_IGN under `nohup` or `cmd &`)."""
    from deblur_tf.run.loop import _StopFlag

    before = signal.getsignal(signal.SIGINT)
    with _StopFlag() as stop:
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_during_a_log_line_still_saves_the_step(tmp_path, shared, monkeypatch):
    """Under the device loop the host waits for the device in the sync of a log line, so a Ctrl-C (or
    `timeout -s INT`) most often lands there, after the step's checkpoint decision was taken. Cycle 15 on the
    GPU said "saved checkpoint at step 8800" and resumed from 8000: the step it reports must be on disk."""
    from deblur_tf.config import load_pipeline
    from deblur_tf.run import prepare_run_dir, run_training
    from deblur_tf.run.checkpoints import list_checkpoints
    from deblur_tf.run.loop import _Run

    val = shared / "data" / "sharp" / "val"
    cfg = load_pipeline("smoke", ["train.steps=9", "train.log_every=3", "train.val_every=100",
                                  "train.checkpoint_every=100", f"data.train_dir={val}", f"data.val_dir={val}",
                                  f"loss.vgg_weights={shared / 'weights' / 'vgg16_imagenet_block3.npz'}"])
    original = _Run._log_row

    def log_row_then_ctrl_c(self, step):
        row = original(self, step)
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler runs here, inside after_step
        return row

    monkeypatch.setattr(_Run, "_log_row", log_row_then_ctrl_c)
    run = tmp_path / "run"
    prepare_run_dir(run, resume=False, overwrite=False)
    said = []
    summary = run_training(cfg, run, progress=False, echo=said.append, tensorboard=False)
    assert summary["interrupted"] and summary["end_step"] == 3
    assert [p.name for p in list_checkpoints(run)] == ["step_00000003"]
    assert any("saved checkpoint at step 3" in m for m in said)

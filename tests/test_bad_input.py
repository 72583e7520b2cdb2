"""Every command against every class of bad input: one line naming the culprit, a non-zero status, nothing lost.

Each case builds its own little world in a fresh folder (inputs, an earlier output that must survive), runs the
command in-process and checks the promise of docs/ERRORS.md: exit status != 0, no traceback (neither printed nor
escaped as an exception), the message names the offending path or option, and the folder afterwards holds
exactly what it held before (no half-made file, no temporary file, no empty run folder, earlier outputs intact).

Unwritable locations are made with a regular file where a folder is expected, which fails for root too (the
CI user); a read-only mount goes through the same `io.check_writable` (statvfs) path.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from deblur_tf.cli import main
from deblur_tf.io import write_image

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ the worlds
@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    """A tiny generator in the two layouts --model takes from disk: shipped folder and training run folder."""
    from deblur_tf.models import build_generator
    from deblur_tf.zoo import save_shipped

    root = tmp_path_factory.mktemp("models")
    kwargs = {"ngf": 4, "n_blocks": 1}
    model = build_generator("resnet", **kwargs)
    save_shipped(model, root / "zoo", name="tiny", kind="resnet", kwargs=kwargs)
    (root / "run").mkdir()
    model.save_weights(root / "run" / "generator.weights.h5")
    (root / "run" / "generator.json").write_text(json.dumps({"kind": "resnet", "kwargs": kwargs}))
    return root


@pytest.fixture(scope="module")
def checkpointed_run(tmp_path_factory, shared) -> Path:
    """A smoke run stopped after one step, with its checkpoint (the thing --resume reads)."""
    run = tmp_path_factory.mktemp("runs") / "smoke"
    r = CliRunner().invoke(main, ["train", "-p", "smoke", "-o", str(run), "--steps", "1", "--no-progress",
                                  "--set", "train.checkpoint_every=1", "--set", 'data.val_dir=""'])
    assert r.exit_code == 0, r.output
    assert list((run / "checkpoints").glob("step_*/optimizers.npz"))
    return run


def _image(path: Path, h: int = 24, w: int = 32) -> Path:
    write_image(path, np.random.default_rng(0).random((h, w, 3)).astype(np.float32))
    return path


def _blocker(tmp: Path) -> Path:
    """A regular file where the command would need a folder: unwritable, even for root."""
    p = tmp / "blocker"
    p.write_text("a file, not a folder\n")
    return p


def _truncated_npz(path: Path) -> Path:
    """The first half of a real .npz: what a full disk or a killed copy leaves."""
    buf = path.with_name("whole.npz")
    np.savez(buf, a=np.arange(1000.0), b=np.ones((50, 50)))
    data = buf.read_bytes()
    buf.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_NPZ: dict[str, Callable[[Path], Path]] = {
    "empty": lambda p: (p.write_bytes(b""), p)[1],
    "truncated": _truncated_npz,
    "text": lambda p: (p.write_text("these are not weights\n"), p)[1],
}


def _zoo_with_bad_weights(tmp: Path, models: Path, kind: str) -> Path:
    zoo = tmp / "zoo"
    shutil.copytree(models / "zoo", zoo)
    BAD_NPZ[kind](zoo / "weights.npz")
    return zoo


def _run_copy(tmp: Path, run: Path) -> Path:
    dst = tmp / "run"
    shutil.copytree(run, dst)
    return dst


def _ckpt_file(run: Path, name: str) -> Path:
    return sorted((run / "checkpoints").glob("step_*"))[-1] / name


# Each case: (id, needs, build) where build(tmp, ctx) -> (argv, text the one-line error must contain).
# `needs`: which fixtures the case uses ("models", "run"), so cheap cases do not pay for the training run.
Case = tuple[str, tuple[str, ...], Callable[[Path, dict], tuple[list[str], str]]]


def _evaluate_args(tmp: Path, out: Path) -> list[str]:
    sharp = tmp / "sharp"
    _image(sharp / "a.png", 32, 32)
    return ["evaluate", "--sharp", str(sharp), "--synthetic-seed", "0", "--kernel-size", "5",
            "--baselines", "wiener", "--out", str(out)]


def _earlier(out: Path) -> Path:
    """An earlier result in the output folder: it must come out of a failed run untouched."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "earlier.txt").write_text("from an earlier run\n")
    return out


def _lpips_case(kind: str):
    def build(t: Path, c: dict):
        weights = BAD_NPZ[kind](t / "lpips.npz")
        return [*_evaluate_args(t, _earlier(t / "ev")), "--lpips-weights", str(weights), "--overwrite"], "lpips.npz"
    return build


def _model_npz_case(kind: str):
    def build(t: Path, c: dict):
        zoo = _zoo_with_bad_weights(t, c["models"], kind)
        return ["deblur", str(_image(t / "in.png")), "-o", str(_earlier(t / "out")), "--model", str(zoo)], \
            str(zoo / "weights.npz")
    return build


def _resume_npz_case(kind: str):
    def build(t: Path, c: dict):
        run = _run_copy(t, c["run"])
        bad = BAD_NPZ[kind](_ckpt_file(run, "optimizers.npz"))
        return ["train", "-o", str(run), "--resume", "--steps", "1", "--no-progress"], str(bad)
    return build


CASES: list[Case] = [
    # ---- 1. output that cannot be written, for every command that writes
    ("deblur-unwritable", ("models",), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(_blocker(t) / "out"), "--model", str(c["models"] / "zoo")],
        "blocker")),
    ("evaluate-unwritable", (), lambda t, c: ([*_evaluate_args(t, _blocker(t) / "ev"), "--no-lpips"], "blocker")),
    ("synth-unwritable", (), lambda t, c: (
        ["synth", str(_image(t / "sharp" / "a.png").parent), str(_blocker(t) / "pairs")], "blocker")),
    ("kernels-unwritable", (), lambda t, c: (["kernels", str(_blocker(t) / "k.png"), "--size", "9"], "blocker")),
    ("train-unwritable", (), lambda t, c: (
        ["train", "-p", "smoke", "-o", str(_blocker(t) / "run"), "--steps", "1"], "blocker")),
    ("explain-unwritable", (), lambda t, c: (
        ["explain", str(_image(t / "in.png")), "-o", str(_blocker(t) / "panel.png")], "blocker")),
    ("export-unwritable", ("models",), lambda t, c: (
        ["export", "--model", str(c["models"] / "zoo"), "--formats", "keras", "--out", str(_blocker(t) / "dist")],
        "blocker")),
    # ---- 2./3. empty, truncated, garbage files of each kind the CLI reads
    *[(f"lpips-weights-{kind}", (), _lpips_case(kind)) for kind in BAD_NPZ],
    *[(f"model-weights-npz-{kind}", ("models",), _model_npz_case(kind)) for kind in BAD_NPZ],
    *[(f"resume-optimizers-npz-{kind}", ("run",), _resume_npz_case(kind)) for kind in ("empty", "truncated")],
    # a bad file found only once training starts: the half-made run folder must be removed again
    ("train-vgg-weights-empty", (), lambda t, c: (
        ["train", "-p", "smoke", "-o", str(t / "run"), "--steps", "1", "--no-progress",
         "--set", f"loss.vgg_weights={json.dumps(str(BAD_NPZ['empty'](t / 'vgg.npz')))}"], "vgg.npz")),
    ("train-init-from-garbage", (), lambda t, c: (
        ["train", "-p", "smoke", "-o", str(t / "run"), "--steps", "1", "--no-progress",
         "--init-from", str((t / "g.keras", (t / "g.keras").write_text("junk"))[0])], "g.keras")),
    ("resume-config-toml-corrupt", ("run",), lambda t, c: (
        ["train", "-o", str(run := _run_copy(t, c["run"])), "--resume", "--steps", "1"],
        ((run / "config.toml").write_text("[train\nsteps = = 3\n"), str(run / "config.toml"))[1])),
    ("resume-generator-weights-truncated", ("run",), lambda t, c: (
        ["train", "-o", str(run := _run_copy(t, c["run"])), "--resume", "--steps", "1"],
        (_truncate(_ckpt_file(run, "generator.weights.h5")), "generator.weights.h5")[1])),
    ("pipeline-toml-garbage", (), lambda t, c: (
        ["train", "-p", str((t / "p.toml", (t / "p.toml").write_text("name = [unclosed\n"))[0]), "-o", str(t / "r")],
        "p.toml")),
    ("image-empty", ("models",), lambda t, c: (
        ["deblur", str((t / "e.png", (t / "e.png").write_bytes(b""))[0]), "-o", str(_earlier(t / "out")),
         "--model", str(c["models"] / "zoo")], "e.png")),
    ("image-truncated-jpeg", ("models",), lambda t, c: (
        ["deblur", str(_truncate(_jpeg(t / "t.jpg"))), "-o", str(_earlier(t / "out")),
         "--model", str(c["models"] / "zoo")], "t.jpg")),
    ("image-text", (), lambda t, c: (
        ["synth", str((t / "sharp" / "x.png", (t / "sharp").mkdir(), (t / "sharp" / "x.png").write_text("hi"))[0]
                      .parent), str(t / "pairs")], "x.png")),
    ("keras-file-garbage", (), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(t / "out"),
         "--model", str((t / "m.keras", (t / "m.keras").write_text("not a zip"))[0])], "m.keras")),
    ("generator-json-garbage", ("models",), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(t / "out"), "--model",
         str((r := _run_copy(t, c["models"] / "run"), (r / "generator.json").write_text("{kind: resnet"))[0])],
        "generator.json")),
    ("run-weights-truncated", ("models",), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(t / "out"), "--model",
         str((r := _run_copy(t, c["models"] / "run"), _truncate(r / "generator.weights.h5"))[0])],
        "generator.weights.h5")),
    ("kernel-npy-empty", (), lambda t, c: (
        ["evaluate", "--pairs", str(_pairs_with_empty_kernel(t)), "--baselines", "wiener", "--no-lpips",
         "--out", str(t / "ev")], "a.npy")),
    ("critic-garbage", ("models",), lambda t, c: (
        ["explain", str(_image(t / "in.png")), "-o", str(t / "panel.png"), "--model", str(c["models"] / "zoo"),
         "--critic", str((t / "c.keras", (t / "c.keras").write_text("junk"))[0])], "c.keras")),
    # ---- 5./6./7. impossible settings, weights that do not fit
    ("train-crop-3", (), lambda t, c: (["train", "-p", "smoke", "-o", str(t / "run"), "--set", "data.crop=3"],
                                       "data.crop")),
    ("train-val-crop-6", (), lambda t, c: (["train", "-p", "smoke", "-o", str(t / "run"),
                                            "--set", "data.val_crop=6"], "data.val_crop")),
    ("train-unknown-key", (), lambda t, c: (["train", "-p", "smoke", "-o", str(t / "run"),
                                             "--set", "data.crpo=32"], "data.crpo")),
    ("deblur-tile-17", ("models",), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(t / "out"), "--model", str(c["models"] / "zoo"),
         "--tile", "17", "--overlap", "32"], "--tile 17")),
    ("weights-do-not-fit", ("models",), lambda t, c: (
        ["deblur", str(_image(t / "in.png")), "-o", str(t / "out"), "--model",
         str((r := _run_copy(t, c["models"] / "run"),
              (r / "generator.json").write_text(json.dumps({"kind": "resnet", "kwargs": {"ngf": 8, "n_blocks": 1}})))
             [0])], "(7, 7, 3, 4)")),
]


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _jpeg(path: Path) -> Path:
    return _image(path)


def _pairs_with_empty_kernel(tmp: Path) -> Path:
    root = tmp / "pairs"
    _image(root / "blur" / "a.png", 32, 32)
    _image(root / "sharp" / "a.png", 32, 32)
    (root / "kernels").mkdir()
    (root / "kernels" / "a.npy").write_bytes(b"")
    return root


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under `root` with a digest of its content: any change, addition or leftover shows."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_named_line_and_changes_nothing(case, tmp_path, request):
    name, needs, build = case
    ctx = {}
    if "models" in needs:
        ctx["models"] = request.getfixturevalue("tiny_models")
    if "run" in needs:
        ctx["run"] = request.getfixturevalue("checkpointed_run")
    world = tmp_path / "world"
    world.mkdir()
    argv, culprit = build(world, ctx)
    before = _snapshot(world)
    r = CliRunner().invoke(main, argv)
    assert r.exit_code not in (0, None), f"{name}: exit 0\n{r.output}"
    assert r.exception is None or isinstance(r.exception, SystemExit), f"{name}: escaped {r.exception!r}"
    assert "Traceback" not in r.output and "Aborted!" not in r.output, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(errors) == 1, f"{name}: expected one error line, got:\n{r.stderr}"
    assert culprit in errors[0], f"{name}: the error does not name {culprit!r}: {errors[0]}"
    assert len(errors[0]) < 600, f"{name}: not a one-line message ({len(errors[0])} characters)"
    assert _snapshot(world) == before, f"{name}: files changed, appeared or were left behind"


def test_full_disk_on_the_second_image_keeps_the_first_and_leaves_no_temporary(tmp_path, tiny_models, monkeypatch):
    """ENOSPC while writing image 2 of 2: image 1 is complete, image 2 does not exist, no `.tmp-*` remains."""
    import errno
    import os

    import deblur_tf.io as dio

    _image(tmp_path / "in" / "a.png")
    _image(tmp_path / "in" / "b.png")
    real_fdopen, calls = os.fdopen, []

    def fdopen(fd, mode="r", *a, **kw):
        fh = real_fdopen(fd, mode, *a, **kw)
        calls.append(fd)
        if len(calls) == 2:
            def write(_data):
                raise OSError(errno.ENOSPC, "No space left on device")
            fh.write = write
        return fh

    monkeypatch.setattr(dio.os, "fdopen", fdopen)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["deblur", str(tmp_path / "in"), "-o", str(out), "--model",
                                  str(tiny_models / "zoo")])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and f"{out / 'b.png'}: cannot write (No space left on device)" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png"]  # no b.png, no .tmp-*.png
    from deblur_tf.io import read_image

    assert read_image(out / "a.png")[0].shape == (24, 32, 3)


def test_ctrl_c_during_deblur_exits_130_with_a_message(tmp_path, tiny_models, monkeypatch):
    from deblur_tf.inference import Deblurrer

    def interrupted(self, img, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(Deblurrer, "__call__", interrupted)
    r = CliRunner().invoke(main, ["deblur", str(_image(tmp_path / "in.png")), "-o", str(tmp_path / "out"),
                                  "--model", str(tiny_models / "zoo")])
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.stderr and "Aborted!" not in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_resume_with_another_pipeline_says_it_is_ignored(tmp_path, checkpointed_run):
    run = _run_copy(tmp_path, checkpointed_run)
    r = CliRunner().invoke(main, ["train", "-p", "deblurgan-paper", "-o", str(run), "--resume", "--steps", "1",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "--pipeline deblurgan-paper is ignored" in r.stderr
    assert "smoke" in (run / "config.toml").read_text()


def test_data_error_advice_names_a_setting_that_exists(tmp_path, shared):
    """The bad-file report advises `--set data.skip_bad=true`, and that setting really skips the file."""
    sharp = tmp_path / "sharp"
    for i in range(3):
        _image(sharp / f"ok{i}.png", 40, 40)
    (sharp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    args = ["train", "-p", "smoke", "--set", f"data.train_dir={json.dumps(str(sharp))}", "--set", 'data.val_dir=""',
            "--dry-run"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "broken.png" in r.output and "--set data.skip_bad=true" in r.output
    r = CliRunner().invoke(main, [*args, "--set", "data.skip_bad=true"])
    assert r.exit_code == 0, r.output


def test_real_process_empty_weights_is_not_a_bare_aborted(tmp_path, tiny_models):
    """Outside CliRunner: click turns an EOFError into "Aborted!"; the real stderr must name the file instead."""
    zoo = _zoo_with_bad_weights(tmp_path, tiny_models, "empty")
    p = subprocess.run([sys.executable, "-m", "deblur_tf.cli", "deblur", str(_image(tmp_path / "in.png")),
                        "-o", str(tmp_path / "out"), "--model", str(zoo)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 2, p.stderr
    assert "Aborted!" not in p.stderr and "Traceback" not in p.stderr
    assert f"{zoo / 'weights.npz'}: empty model weight file" in p.stderr


def test_permission_denied_is_named_before_any_work(tmp_path, monkeypatch):
    """What a non-root user gets for a folder without write permission (root bypasses modes, so simulated)."""
    import deblur_tf.io as dio

    monkeypatch.setattr(dio.os, "access", lambda path, mode: False)
    r = CliRunner().invoke(main, ["kernels", str(tmp_path / "sub" / "k.png"), "--size", "9"])
    assert r.exit_code == 2
    assert f"{tmp_path / 'sub'}: cannot write the output folder (permission denied at {tmp_path})" in r.stderr
    assert not (tmp_path / "sub").exists()

"""`deblur-tf train`: run a pipeline TOML into a run directory, resumable in chunks.

Nothing here imports TensorFlow: under KERAS_BACKEND=jax (the GPU machines have no TensorFlow) the whole
command runs on JAX; TensorBoard logging switches itself off when TensorFlow is absent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from deblur_tf.errors import DeblurError


def _count(model) -> int:
    import numpy as np

    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def dry_run_report(cfg) -> tuple[str, bool]:
    """Parameter counts, the data it would read and the resolved config; nothing is trained or written."""
    import numpy as np

    from deblur_tf.run import build_networks  # Keras (and TensorFlow under it): only when a command runs

    generator, critic, features = build_networks(cfg, pretrained_vgg=False)
    lines = [
        f"pipeline: {cfg.name} ({cfg.source})",
        f"generator ({cfg.generator.kind}): {_count(generator):,} trainable parameters",
        f"critic: {_count(critic):,} trainable parameters",
    ]
    if features is not None:
        frozen = sum(int(np.prod(v.shape)) for v in features.weights)
        lines.append(f"perceptual features ({cfg.loss.perceptual_source}, {', '.join(cfg.loss.perceptual_layers)}): "
                     f"{frozen:,} frozen parameters")
    import keras

    from deblur_tf.run import build_data

    ok = True
    try:  # finds missing folders, unreadable or too small images now, not an hour into a GPU lease
        train, val = build_data(cfg)
        lines.append(f"training data: {train!r}, {train.steps_per_epoch} steps per epoch")
        lines.append(f"validation data: {val!r}" if val is not None else "validation data: none (data.val_dir empty)")
    except DeblurError as exc:
        ok = False
        lines.append(f"data: ERROR {exc}")
    lines += [f"backend: {keras.backend.backend()}", "", "# resolved config", cfg.to_toml()]
    return "\n".join(lines), ok


def _remove_unfinished_run(run_dir: Path, created: bool) -> None:
    """A new run that failed before its first checkpoint leaves nothing behind.

    Otherwise its config.toml and log.csv would make the corrected command fail with "not empty: pass
    --resume" (and --resume would pick up the broken config). A run with a checkpoint is kept: it can resume.
    """
    import shutil

    from deblur_tf.run import RUN_FILES, list_checkpoints

    if list_checkpoints(run_dir):
        return
    for name in RUN_FILES:
        p = run_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink(missing_ok=True)
    if created:
        try:
            run_dir.rmdir()  # only if nothing else landed there
        except OSError:
            pass


@click.command("train")
@click.option("--pipeline", "-p", "pipeline", metavar="NAME|PATH",
              help="Pipeline TOML, or a name from pipelines/ (deblurgan-synthetic, mobile-synthetic, "
                   "deblurgan-paper, smoke). Optional with --resume of an existing run.")
@click.option("--out", "-o", "out", default=None, type=click.Path(file_okay=False, path_type=Path),
              metavar="RUN_DIR", help="Run directory: config, checkpoints, log.csv, TensorBoard events "
                                      "(required unless --dry-run).")
@click.option("--resume", is_flag=True,
              help="Continue RUN_DIR from its latest checkpoint with its saved config (starts fresh if it has none).")
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Train at most N more steps in this invocation, then checkpoint and stop (train in chunks; "
                   "the schedule still follows train.steps).")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a pipeline value, e.g. --set train.steps=5000 --set data.train_dir=/data/sharp. "
                   "Repeatable.")
@click.option("--init-from", "init_from", default=None, metavar="NAME|PATH",
              help="Fine-tune: start from a trained generator (shipped name such as deblurgan-mobile, .keras, "
                   ".weights.h5 with generator.json, or a run folder) and the critic stored with it, if any. Same "
                   "as --set train.init_from=...; the pipeline's [generator] must match it.")
@click.option("--dry-run", is_flag=True,
              help="Print parameter counts, check and summarise the data, print the resolved config; train nothing.")
@click.option("--overwrite", is_flag=True, help="Replace the run files in a non-empty RUN_DIR.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to RUN_DIR/log.csv).")
@click.option("--devices", type=click.IntRange(min=0), default=None, metavar="N",
              help="Data-parallel replicas (same as --set train.devices=N): 1, N GPUs, or 0 = all. data.batch_size "
                   "stays the global batch. TensorFlow: MirroredStrategy (MultiWorkerMirroredStrategy with "
                   "TF_CONFIG); JAX: keras.distribution.DataParallel.")
def train(pipeline, out, resume, steps, overrides, init_from, dry_run, overwrite, no_progress, devices) -> None:
    """Train DeblurGAN from a pipeline into RUN_DIR.

    \b
    Examples:
      deblur-tf train --pipeline smoke --out runs/smoke
      deblur-tf train -p deblurgan-synthetic -o runs/dg --steps 2000          # first chunk
      deblur-tf train -o runs/dg --resume --steps 2000                        # next chunks
      KERAS_BACKEND=jax deblur-tf train -p mobile-synthetic -o runs/m --set train.precision=mixed_bfloat16
      deblur-tf train -p mobile-synthetic -o runs/ft --init-from deblurgan-mobile \
          --set data.train_dir=my_sharp_photos --set optim.lr=2e-5 --set train.steps=2000   # fine-tune

    Ctrl-C finishes the current step, saves a checkpoint and exits (status 130); --resume continues exactly
    (same weights, optimizer state, step and data stream).
    """
    from deblur_tf.run import (
        enable_jax_compile_cache,
        prepare_run_dir,
        resolve_run_config,
        run_training,
    )

    if devices is not None:
        overrides = (*overrides, f"train.devices={devices}")
    if init_from is not None:
        overrides = (*overrides, f"train.init_from={json.dumps(init_from)}")  # a TOML string, whatever it looks like
    if out is None and not dry_run:
        raise click.UsageError("Missing option '--out' / '-o': the run directory (only --dry-run works without it).")
    if out is None and pipeline is None:
        raise click.UsageError("--dry-run needs --pipeline (or --out of a run to resume).")
    if resume and pipeline is not None and out is not None and (out / "config.toml").is_file():
        click.echo(f"note: --pipeline {pipeline} is ignored: --resume continues {out} with its saved config "
                   f"({out / 'config.toml'}); --set overrides still apply", err=True)
    cfg = resolve_run_config(out or Path("."), pipeline, tuple(overrides), resume and out is not None)
    if dry_run:
        report, ok = dry_run_report(cfg)
        click.echo(report)
        if not ok:
            sys.exit(2)
        return
    created = not out.exists()
    fresh = created or (out.is_dir() and not any(out.iterdir()))
    prepare_run_dir(out, resume, overwrite)
    enable_jax_compile_cache()
    click.echo(f"training {cfg.name} -> {out}", err=True)
    try:
        summary = run_training(cfg, out, resume=resume, max_steps=steps, progress=not no_progress,
                               echo=lambda m: click.echo(m, err=True))
    except BaseException:
        if fresh:
            _remove_unfinished_run(out, created)
        raise
    parts = [f"step {summary['end_step']}/{cfg.train.steps}"]
    if "val_psnr" in summary:
        parts.append(f"val PSNR {summary['val_psnr']:.2f} dB, SSIM {summary['val_ssim']:.4f}")
    click.echo("done: " + ", ".join(parts) + f" ({out})")
    if summary["interrupted"]:
        sys.exit(130)

"""Checkpoints: the full training state of a step on disk, written atomically, read back exactly.

RUN/checkpoints/step_XXXXXXXX/ holds generator.weights.h5, critic.weights.h5, optimizers.npz (both Adams' variables
and every random-stream state, which `save_weights` skips but an exact resume needs) and state.json (step, seed,
wall time); with `optim.ema`, also generator_ema.weights.h5 (the weight average, which RUN/generator.weights.h5
then holds; the average itself lives in the Adam's variables, so a resume continues it). Either backend reads
what the other wrote.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from keras import ops

from deblur_tf.errors import DeblurError
from deblur_tf.gan import averaged_generator
from deblur_tf.io import load_npz


def _atomic_copy(src: Path, dst: Path) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _np(v) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(v))


def rng_variables(gan) -> list:
    """Every random-stream state of the GAN: its own seed generator and the dropout layers' (model
    `variables` that are not `weights`). `save_weights` skips them, but an exact resume needs them."""
    out = [gan.seed_generator.state]
    for model in (gan.generator, gan.critic):
        weight_ids = {id(w) for w in model.weights}
        out += [v for v in model.variables if id(v) not in weight_ids]
    return out


def save_checkpoint(gan, run_dir: Path, step: int, extra: dict[str, Any] | None = None, keep: int = 3) -> Path:
    """Write the full training state for `step`; refresh RUN/generator.weights.h5; keep the last `keep`."""
    ckdir = Path(run_dir) / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"step_{step:08d}"
    tmp = ckdir / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        gan.generator.save_weights(tmp / "generator.weights.h5")  # the weights training continues from
        with averaged_generator(gan) as averaged:  # optim.ema: what the run delivers is the weight average
            if averaged:
                gan.generator.save_weights(tmp / "generator_ema.weights.h5")
        gan.critic.save_weights(tmp / "critic.weights.h5")
        arrays = {}
        for prefix, opt in (("g", gan.optimizer), ("d", gan.d_optimizer)):
            for i, v in enumerate(opt.variables):
                arrays[f"{prefix}/{i:04d}"] = _np(v.value)
        for i, v in enumerate(rng_variables(gan)):
            arrays[f"rng/{i:04d}"] = _np(v.value)
        np.savez(tmp / "optimizers.npz", **arrays)
        state = {"step": int(step), "seed": gan.seed, **(extra or {})}
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as exc:  # full disk, quota, permissions: the earlier checkpoints are untouched
        shutil.rmtree(tmp, ignore_errors=True)
        earlier = [p.name for p in list_checkpoints(run_dir) if p != final]
        keep_note = (f"the latest complete checkpoint is {earlier[-1]}; free space, then --resume continues from it"
                     if earlier else "no earlier checkpoint exists; free space and start the run again")
        raise DeblurError(f"{final}: cannot write the step-{step} checkpoint ({exc.strerror or exc}); "
                          f"{keep_note}") from exc
    try:
        delivered = final / "generator_ema.weights.h5"
        if not delivered.is_file():
            delivered = final / "generator.weights.h5"
        _atomic_copy(delivered, Path(run_dir) / "generator.weights.h5")
    except OSError as exc:
        Path(run_dir, "generator.weights.h5.tmp").unlink(missing_ok=True)
        raise DeblurError(f"{final} is saved, but {Path(run_dir) / 'generator.weights.h5'} could not be refreshed "
                          f"({exc.strerror or exc}); free space, then --resume continues from {final.name}") from exc
    for old in list_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: Path) -> list[Path]:
    ckdir = Path(run_dir) / "checkpoints"
    if not ckdir.is_dir():
        return []
    return sorted(p for p in ckdir.glob("step_*") if (p / "state.json").is_file())


def restore_checkpoint(gan, ckpt: Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_checkpoint` (either backend) into a compiled DeblurGAN."""
    ckpt = Path(ckpt)
    current = ckpt / "state.json"
    try:
        state = json.loads(current.read_text())
        current = ckpt / "generator.weights.h5"
        gan.generator.load_weights(current)
        current = ckpt / "critic.weights.h5"
        gan.critic.load_weights(current)
        arrays = load_npz(ckpt / "optimizers.npz", "optimizer state",
                          "delete that checkpoint folder to resume from an older one, or start again with --overwrite")
    except (OSError, ValueError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DeblurError(f"{current}: checkpoint file cannot be loaded ({reason}); delete {ckpt} to resume from "
                          "an older one, or start again with --overwrite") from exc
    for prefix, opt in (("g", gan.optimizer), ("d", gan.d_optimizer)):
        keys = sorted(k for k in arrays if k.startswith(prefix + "/"))
        if len(keys) != len(opt.variables):
            raise DeblurError(f"checkpoint {ckpt}: {len(keys)} {prefix}-optimizer arrays but the optimizer has "
                              f"{len(opt.variables)} variables: was it written for another model, or with another optim.ema (the "
                              "weight average is optimizer state)? Resume with the run's own settings")
        for key, var in zip(keys, opt.variables, strict=True):
            value = arrays[key]
            if tuple(value.shape) != tuple(var.shape):
                raise DeblurError(f"checkpoint {ckpt}: {key} has shape {value.shape}, expected {tuple(var.shape)}")
            var.assign(value)
    rng_vars = rng_variables(gan)
    keys = sorted(k for k in arrays if k.startswith("rng/"))
    if len(keys) != len(rng_vars):
        raise DeblurError(f"checkpoint {ckpt}: {len(keys)} random-state arrays, the model has {len(rng_vars)}")
    for key, var in zip(keys, rng_vars, strict=True):
        var.assign(arrays[key])
    return state


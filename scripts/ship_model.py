"""Make a candidate the shipped model of a name: weights and config in, then what depends on them.

Shipping by hand took seven steps (docs/TRAINING.md, cycles 11-19), and one of them is easy to get wrong: the
candidate's own config.json (a packed run or a blend) does not carry what belongs to the shipped name, i.e. its
name, whether it is the default, its model card and the self-ensemble `deblur` runs it with (`"ensemble": 2` for
`nafnet` since 2026-12-07). This copies the candidate's weights and network (kind, kwargs, input multiple) and
keeps those fields of the model it replaces, checks that the result loads, and then, unless told not to:

1. retrains the critic that `deblur-tf explain` reads (`scripts/train_critic.py NAME --steps 120 --crop 64
   --batch 4`, about two minutes on the 2-core CPU);
2. regenerates `tests/data/shipped_reference.npz` (`tests/make_shipped_reference.py`);
3. for the default model, remakes the README picture with the README's own command.

    KERAS_BACKEND=tensorflow python scripts/ship_model.py out/cand/soup21 --as nafnet

It refuses, before writing anything, a candidate whose weights do not fit its config and a name that is not
shipped yet (`--new` ships a new one). What is left by hand is printed at the end: the figures in
docs/MODELS.md, RESULTS.md, DEPLOY.md and TRAINING.md, the export check and the timing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
KEPT = ("name", "card", "default", "ensemble")  # fields of the shipped name, not of the network
NETWORK = ("kind", "kwargs", "input_multiple")


def shipped_config(candidate: dict, current: dict | None, name: str) -> dict:
    """The config.json the shipped model gets: the candidate's network, the replaced model's own fields."""
    if "kind" not in candidate:
        raise click.ClickException("the candidate's config.json has no \"kind\"; it is not a model folder")
    cfg = {"name": name, **{k: candidate[k] for k in NETWORK if k in candidate}, "card": "MODEL_CARD.md",
           "default": False}  # the key order of zoo.save_shipped
    for k in KEPT[1:]:
        if current is not None and k in current:
            cfg[k] = current[k]
    return cfg


def _run(cmd: list[str], what: str) -> None:
    click.echo(f"== {what}: {' '.join(cmd)}")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    if subprocess.run(cmd, cwd=ROOT, env=env).returncode != 0:
        raise click.ClickException(f"{what} failed (the weights are already in place; fix it and run that step "
                                   f"again: {' '.join(cmd)})")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("candidate", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as", "name", required=True, help="the shipped name it becomes, e.g. nafnet")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the shipped models' folder (default: deblur_tf/weights)")
@click.option("--new", is_flag=True, help="ship a name that is not shipped yet (not the default, no ensemble)")
@click.option("--critic/--no-critic", default=True, help="retrain the critic for `deblur-tf explain`")
@click.option("--reference/--no-reference", default=True, help="regenerate tests/data/shipped_reference.npz")
@click.option("--picture/--no-picture", default=True, help="remake the README picture (default model only)")
def main(candidate: Path, name: str, root: Path | None, new: bool, critic: bool, reference: bool,
         picture: bool) -> None:
    """Ship CANDIDATE (a folder with weights.npz and config.json) as the model NAME."""
    from deblur_tf.errors import DeblurError
    from deblur_tf.zoo import CONFIG_NAME, WEIGHTS_DIR, WEIGHTS_NAME, load_zoo_dir

    root = root or WEIGHTS_DIR
    target = root / name
    for f in (WEIGHTS_NAME, CONFIG_NAME):
        if not (candidate / f).is_file():
            raise click.ClickException(f"{candidate / f} is missing: a model folder holds weights.npz and config.json")
    if target.resolve() == candidate.resolve():
        raise click.ClickException(f"{candidate} is already the shipped {name!r}")
    current = None
    if (target / CONFIG_NAME).is_file():
        current = json.loads((target / CONFIG_NAME).read_text())
    elif not new:
        shipped = sorted(p.name for p in root.iterdir() if (p / CONFIG_NAME).is_file()) if root.is_dir() else []
        raise click.ClickException(f"no shipped model {name!r} in {root} (shipped: {', '.join(shipped) or 'none'}); "
                                   "pass --new to ship a new name")
    cfg = shipped_config(json.loads((candidate / CONFIG_NAME).read_text()), current, name)
    with tempfile.TemporaryDirectory(prefix="ship-") as tmp:
        staged = Path(tmp) / name
        staged.mkdir()
        shutil.copyfile(candidate / WEIGHTS_NAME, staged / WEIGHTS_NAME)
        (staged / CONFIG_NAME).write_text(json.dumps(cfg, indent=2) + "\n")
        try:
            load_zoo_dir(staged)  # the weights fit the network, and the config's fields are valid
        except DeblurError as exc:
            raise click.ClickException(f"{candidate} does not load as a model: {exc}") from exc
        target.mkdir(parents=True, exist_ok=True)
        for f in (WEIGHTS_NAME, CONFIG_NAME):
            shutil.copyfile(staged / f, target / f)
    kept = ", ".join(f"{k} {json.dumps(cfg[k])}" for k in KEPT[2:] if k in cfg)
    click.echo(f"shipped {candidate} as {target} ({cfg['kind']}; kept: {kept or 'nothing: a new name'})")
    if critic:
        _run([sys.executable, "scripts/train_critic.py", name, "--steps", "120", "--crop", "64", "--batch", "4"],
             "critic for explain")
    if reference:
        _run([sys.executable, "tests/make_shipped_reference.py"], "test reference")
    if picture and cfg.get("default"):
        with tempfile.TemporaryDirectory(prefix="readme-") as tmp:
            _run([sys.executable, "-m", "deblur_tf.cli", "deblur", "samples/blurry.jpg", "-o", tmp, "--side-by-side"],
                 "README picture (its command, run by this Python)")
            shutil.copyfile(Path(tmp) / "blurry_side_by_side.jpg", ROOT / "docs/images/sample_before_after.jpg")
    click.echo("left by hand: the figures in docs/MODELS.md, RESULTS.md, DEPLOY.md and TRAINING.md; "
               f"`deblur-tf export --model {name} --out /tmp/dist --name {name} --input-size 256x256 "
               f"--latency-runs 3 --eval-count 3 --threads 2`; `KERAS_BACKEND=tensorflow python "
               f"benchmarks/inference.py --models {name} --sizes 1280x720 --runs 3`")


if __name__ == "__main__":
    main()

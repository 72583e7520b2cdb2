"""Pack a GPU run's chunk for the trip back: the generator as a shipped-format folder, and the trained critic.

`PACK=1 bash scripts/gpu_train.sh ...` calls this on the GPU machine (JAX, no TensorFlow) before it splits the
weights into parts under the device's 16-MiB file limit. Until cycle 26 only the generator came back, so the critic
of an adversarial run was lost with the machine and every later run of the stage restarted the game against a
random critic (docs/TRAINING.md, cycle 26). Now, for a run whose loss has an adversarial term, the last
checkpoint's critic comes back too (`critic.weights.h5`, 11 MB for the paper's PatchGAN) with its shape in
`config.json` under "critic"; scripts/unpack_chunk.py puts it beside the candidate as `critic.json`, where
`train.init_from` finds it. A content-stage run's critic is untrained and stays behind. One extra file keeps a
chunk within the device's 8 returned files (log.csv, config.toml, generator.json, config.json, two weight parts).

    python scripts/pack_chunk.py /root/runs/dgg27 $OUT/dgg27/packed
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import click

CRITIC_LIMIT = 15 * 2**20  # one returned file; a larger critic stays behind with a note


def trained_critic(run: Path) -> tuple[Path, dict] | None:
    """The last checkpoint's critic and its [critic] kwargs, when the run's loss trained one; else None."""
    from deblur_tf.run.checkpoints import list_checkpoints  # complete checkpoints only, oldest first

    cfg = tomllib.loads((run / "config.toml").read_text())
    if cfg.get("loss", {}).get("adversarial", "wgan-gp") == "none":
        return None
    ckpts = list_checkpoints(run)
    if not ckpts or not (ckpts[-1] / "critic.weights.h5").is_file():
        return None
    return ckpts[-1] / "critic.weights.h5", dict(cfg.get("critic", {}))


def pack(run: Path, out: Path) -> dict:
    """Write out/config.json + out/weights.npz (the run's delivered generator) and, when trained, the critic."""
    from deblur_tf.models import build_generator  # keras: after the arguments are checked
    from deblur_tf.zoo import save_shipped

    spec = json.loads((run / "generator.json").read_text())
    g = build_generator(spec["kind"], **spec["kwargs"])
    g.load_weights(run / "generator.weights.h5")
    save_shipped(g, out, name=run.name, kind=spec["kind"], kwargs=spec["kwargs"])
    found = trained_critic(run)
    if found is None:
        return {"critic": None}
    critic_file, kwargs = found
    if critic_file.stat().st_size > CRITIC_LIMIT:
        click.echo(f"note: {critic_file} is {critic_file.stat().st_size:,} bytes, over one returned file: not packed")
        return {"critic": None}
    shutil.copyfile(critic_file, out / "critic.weights.h5")
    cfg = json.loads((out / "config.json").read_text())
    cfg["critic"] = {"kwargs": kwargs, "from_checkpoint": critic_file.parent.name}
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    return {"critic": str(critic_file)}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
def main(run: Path, out: Path) -> None:
    """Pack the training run RUN (generator, and the critic of an adversarial run) into the folder OUT."""
    for need in ("config.toml", "generator.json", "generator.weights.h5"):
        if not (run / need).is_file():
            raise click.ClickException(f"{run} has no {need}: give the folder of a training run")
    if out.exists() and any(out.iterdir()):
        raise click.ClickException(f"{out} is not empty: pack into a new folder (nothing there was changed)")
    record = pack(run, out)
    click.echo(f"packed {run.name} into {out}" + (f" with the critic of {record['critic']}" if record["critic"] else ""))


if __name__ == "__main__":
    main()

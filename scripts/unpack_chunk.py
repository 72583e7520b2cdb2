"""Turn what a GPU chunk sent back into a candidate model folder: the parts joined, the config kept, checked to load.

`PACK=1 bash scripts/gpu_train.sh ...` returns the run's averaged generator as `packed/config.json` and
`packed/weights.npz.part.aa`, `.ab`, ... (split to fit the device's 16-MiB file limit). Every session joined them
by hand with `cat`, and a missing or truncated part only showed up later as a model that would not load, or as a
candidate evaluated under the wrong name (every chunk of a run carries the run's name). This joins the parts in
order, names the model after its folder, records where it came from (`unpacked.json`: the source, the parts
and their sizes, the last step of the chunk's log.csv, the sha256 of the joined file) and loads it before it
reports success; a failure leaves no folder behind. An adversarial chunk's critic (scripts/pack_chunk.py) goes
beside the candidate as critic.weights.h5 + critic.json, so that a later run's `train.init_from` continues the game
against it instead of a random critic.

    python scripts/unpack_chunk.py /work/.device/3/naf21 out/cand/naf21b
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import click


def _last_step(log: Path) -> int | None:
    """The last logged step of the chunk's log.csv (the packed average is the weights at the chunk's end)."""
    if not log.is_file():
        return None
    with log.open(newline="") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r.get("step", "").isdigit()]
    return steps[-1] if steps else None


def _unpack_critic(packed: Path, critic: dict | None, work: Path) -> str | None:
    """Put an adversarial chunk's critic (scripts/pack_chunk.py) beside the candidate, where `train.init_from`
    finds it (critic.weights.h5 + critic.json), and check that it loads; None for a chunk that carries none."""
    from deblur_tf.errors import DeblurError
    from deblur_tf.zoo import load_critic

    weights = packed / "critic.weights.h5"
    if critic is None and not weights.is_file():
        return None
    if critic is None or not weights.is_file():
        missing = weights.name if critic is not None else "its shape under \"critic\" in config.json"
        raise click.ClickException(f"{packed} has half a critic: {missing} is missing; was every file fetched?")
    shutil.copyfile(weights, work / "critic.weights.h5")
    (work / "critic.json").write_text(json.dumps(critic, indent=2) + "\n")
    try:
        load_critic(work / "critic.weights.h5")
    except DeblurError as exc:
        raise click.ClickException(f"the critic in {packed} does not load ({exc})") from None
    return str(critic.get("from_checkpoint", "?"))


def unpack(src: Path, dest: Path, overwrite: bool = False) -> dict:
    """Join src/packed into dest (weights.npz, config.json, unpacked.json) and load it; returns the record.

    Built in a sibling folder and moved into place only once it loads, so a bad chunk leaves nothing behind and
    --overwrite never costs the folder it would replace."""
    from deblur_tf.errors import DeblurError  # imports the package: after the arguments are checked
    from deblur_tf.zoo import load_model

    packed = src / "packed"
    config = packed / "config.json"
    parts = sorted(packed.glob("weights.npz.part.*"))
    if not config.is_file() or not parts:
        raise click.ClickException(f"{packed} has no config.json and weights.npz.part.* files: give the folder of a "
                                   "chunk run with PACK=1 (it holds packed/, log.csv and config.toml)")
    if dest.exists() and not overwrite:
        raise click.ClickException(f"{dest} exists: pick another name or pass --overwrite")
    cfg = json.loads(config.read_text())
    cfg["name"] = dest.name
    work = dest.with_name(dest.name + ".unpacking")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        digest = hashlib.sha256()
        with (work / "weights.npz").open("wb") as out:
            for part in parts:
                data = part.read_bytes()
                digest.update(data)
                out.write(data)
        critic = cfg.pop("critic", None)
        (work / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        try:
            loaded = load_model(str(work))
        except (DeblurError, OSError, ValueError) as exc:  # a missing or cut part: not a readable npz
            raise click.ClickException(f"the parts in {packed} do not make a loadable model ({exc}); were all "
                                       f"of them fetched? ({', '.join(p.name for p in parts)})") from None
        record = {"source": str(src), "parts": {p.name: p.stat().st_size for p in parts},
                  "last_logged_step": _last_step(src / "log.csv"), "sha256": digest.hexdigest(),
                  "params": loaded.params, "critic": _unpack_critic(packed, critic, work)}
        (work / "unpacked.json").write_text(json.dumps(record, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if dest.exists():
        shutil.rmtree(dest)
    work.rename(dest)
    return record


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True, help="replace DEST if it exists")
def main(src: Path, dest: Path, overwrite: bool) -> None:
    """Join SRC/packed (a PACK=1 chunk's return) into the model folder DEST, named after DEST."""
    rec = unpack(src, dest, overwrite)
    step = rec["last_logged_step"]
    click.echo(f"{dest}: {len(rec['parts'])} parts, {rec['params']:,} parameters, "
               f"{'last logged step ' + format(step, ',') if step is not None else 'no log.csv'}, "
               f"sha256 {rec['sha256'][:16]}"
               + (f", critic of {rec['critic']}" if rec["critic"] else ""))


if __name__ == "__main__":
    main()

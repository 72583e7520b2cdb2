"""Copy an evenly spread subset of the training photos that fits a size budget, for a GPU call that must carry
an init model and the photos together.

Why: the device tool sends at most 64 MiB per call and a fresh machine has no photos. `nafnet`'s init weights
(33.5 MB) and all 280 training photos (36.7 MB) do not fit together, so a `nafnet` chunk needed an earlier call
to stage the photos, and in cycle 18 the machine was taken back between the two calls. With a subset the chunk
is useful alone (docs/TRAINING.md, cycle 18). The tool counts disk blocks, not file lengths (210 photos of
27.4 MB were refused as 64.7 MiB in all), so sizes here are rounded up to 4 KiB blocks.

    python scripts/gpu_photo_subset.py .gpu/data/train .gpu/train_sub --max-mib 24.3
    VAL_FROM=.gpu/val5 TRAIN_FROM=.gpu/train_sub PACK=1 bash scripts/gpu_train.sh nafnet-content RUN SECS ...

Photos are taken in sorted order, which groups them by source (`bsd100_`, `sunhays80_`, `urban100_`), and
the pick is evenly spaced over that order, so each source keeps its share. The largest subset that fits is
chosen; the choice depends only on the file names and sizes, so the same folder gives the same subset.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

BLOCK = 4096
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def disk_bytes(size: int) -> int:
    """A file's size as the device tool counts it: whole 4 KiB blocks."""
    return -(-size // BLOCK) * BLOCK


def even_pick(count: int, keep: int) -> list[int]:
    """`keep` indices of `range(count)` spread evenly (the first is always 0)."""
    if not 0 < keep <= count:
        raise ValueError(f"keep must be in 1..{count}, got {keep}")
    return [j * count // keep for j in range(keep)]


def choose(sizes: list[int], budget: int) -> list[int]:
    """Indices of the largest evenly spread subset whose disk size is at most `budget`."""
    blocks = [disk_bytes(s) for s in sizes]
    for keep in range(len(sizes), 0, -1):
        idx = even_pick(len(sizes), keep)
        if sum(blocks[i] for i in idx) <= budget:
            return idx
    return []


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(path_type=Path))
@click.option("--max-mib", type=click.FloatRange(min=0, min_open=True), required=True,
              help="Size budget for the subset, MiB of 4 KiB blocks.")
@click.option("--overwrite", is_flag=True, help="Replace DEST if it exists.")
def main(src: Path, dest: Path, max_mib: float, overwrite: bool) -> None:
    """Copy the largest evenly spread subset of the photos in SRC that fits --max-mib into DEST."""
    photos = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise click.ClickException(f"{src} holds no photos ({', '.join(sorted(PHOTO_SUFFIXES))})")
    if dest.exists():
        if not dest.is_dir():
            raise click.ClickException(f"{dest} is a file, not a folder: name a folder for the subset")
        if not overwrite:
            raise click.ClickException(f"{dest} exists: pass --overwrite to replace it, or name another folder")
        if dest.resolve() == src.resolve() or src.resolve() in dest.resolve().parents:
            raise click.ClickException(f"{dest} is {src} or inside it: name a folder outside it")
        shutil.rmtree(dest)
    budget = int(max_mib * 2**20)
    idx = choose([p.stat().st_size for p in photos], budget)
    if not idx:
        smallest = min(disk_bytes(p.stat().st_size) for p in photos) / 2**20
        raise click.ClickException(f"--max-mib {max_mib} holds no photo of {src} (the smallest takes {smallest:.2f} MiB)")
    dest.mkdir(parents=True)
    try:
        for i in idx:
            shutil.copy2(photos[i], dest / photos[i].name)
    except OSError as err:  # a full disk: leave no half subset that a later call would carry as if whole
        shutil.rmtree(dest, ignore_errors=True)
        raise click.ClickException(f"copying into {dest} failed ({err}); nothing was left there") from err
    used = sum(disk_bytes(photos[i].stat().st_size) for i in idx) / 2**20
    click.echo(f"{dest}: {len(idx)} of {len(photos)} photos, {used:.2f} MiB of {max_mib} MiB")


if __name__ == "__main__":
    sys.exit(main())

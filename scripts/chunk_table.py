"""The per-chunk rows of docs/TRAINING.md from a run's log.csv: steps, speed, training PSNR, validation, rate.

A run trained across device calls is one log.csv (the trainer appends on --resume), and every cycle's table in
docs/TRAINING.md splits it by chunk. Sessions did that with ad-hoc snippets, which differed in what they
averaged. Give the step at which each chunk stopped (the "saved checkpoint at step N" line of each call):

    python scripts/chunk_table.py docs/training_logs/nafnet-content-c22-naf22.csv --ends 6478,16495,23374 \
        --names naf22,naf22b,naf22c

Per chunk: logged steps; steps/s as the median over its 200-step log intervals (an interval that spans two calls
is left out, so restarts and compilation do not count) and as the mean from its first to its last logged row;
training PSNR, the mean of the logged values over its last 1,000 steps; validation, the last logged value at or
before its start and at or before its end (the trainer's final value at an interrupt is printed, not logged);
the learning rate of its last logged row.
"""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import click


def read_log(path: Path) -> list[dict[str, float | None]]:
    """log.csv rows as numbers (None for an empty cell), in step order."""
    if not path.is_file():
        raise click.ClickException(f"{path}: no such log; a run's log.csv is in its run folder (or docs/training_logs/)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "step" not in reader.fieldnames or "wall_time_s" not in reader.fieldnames:
            raise click.ClickException(f"{path}: not a training log (needs the step and wall_time_s columns)")
        rows = []
        for line, r in enumerate(reader, start=2):
            try:
                rows.append({k: (float(v) if v not in ("", None) else None) for k, v in r.items()})
            except ValueError as e:
                raise click.ClickException(f"{path}, line {line}: {e} (a truncated or hand-edited log?)") from None
    return sorted(rows, key=lambda r: r["step"])


def chunk_rows(rows: list[dict], ends: list[int]) -> list[dict]:
    """One summary per chunk (start, end]; the first chunk starts at the log's first step."""
    if not rows:
        raise click.ClickException("the log has no rows")
    if any(b <= a for a, b in zip(ends, ends[1:], strict=False)):
        raise click.ClickException(f"--ends {','.join(map(str, ends))}: must increase (the step each chunk stopped at)")
    out = []
    vals = [r for r in rows if r.get("val_psnr") is not None]
    start = int(rows[0]["step"]) - 1  # so that the first chunk holds the step-0 row
    for i, end in enumerate(ends):
        inside = [r for r in rows if start < r["step"] <= end]
        if len(inside) < 2:
            raise click.ClickException(f"chunk {i + 1} (steps {start + 1}..{end}) has fewer than two logged rows: "
                                       "check --ends against the log")
        pairs = zip(inside, inside[1:], strict=False)
        rates = [(b["step"] - a["step"]) / (b["wall_time_s"] - a["wall_time_s"]) for a, b in pairs
                 if b["wall_time_s"] > a["wall_time_s"]]
        first, last = inside[0], inside[-1]
        if first["step"] == 0 and len(inside) > 2:  # the step-0 row is before compilation: time from the next one
            first = inside[1]
        span = last["wall_time_s"] - first["wall_time_s"]
        train = [r["psnr"] for r in inside if r.get("psnr") is not None and r["step"] > end - 1000]
        v0 = [r for r in vals if r["step"] <= max(start, 0)]
        v1 = [r for r in vals if r["step"] <= end]
        out.append({
            "start": max(start, 0), "end": end,
            "median_steps_per_s": statistics.median(rates) if rates else None,
            "mean_steps_per_s": (last["step"] - first["step"]) / span if span > 0 else None,
            "train_psnr": statistics.fmean(train) if train else None,
            "val_start": (v0[-1]["val_psnr"], v0[-1].get("val_ssim")) if v0 else None,
            "val_end": (v1[-1]["val_psnr"], v1[-1].get("val_ssim")) if v1 else None,
            "lr": last.get("lr"),
        })
        start = end
    return out


def _f(v, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _val(v) -> str:
    return "-" if v is None else f"{v[0]:.2f} / {_f(v[1], '.4f')}"


def markdown(chunks: list[dict], names: list[str]) -> str:
    lines = ["| chunk | steps | steps/s (median / mean) | train PSNR (last 1k) | val PSNR / SSIM, start → end | lr |",
             "| --- | ---: | ---: | ---: | --- | ---: |"]
    for name, c in zip(names, chunks, strict=True):
        lines.append(f"| {name} | {c['start']:,} → {c['end']:,} | {_f(c['median_steps_per_s'], '.1f')} / "
                     f"{_f(c['mean_steps_per_s'], '.1f')} | {_f(c['train_psnr'], '.2f')} | "
                     f"{_val(c['val_start'])} → {_val(c['val_end'])} | {_f(c['lr'], '.2g')} |")
    return "\n".join(lines)


@click.command()
@click.argument("log", type=click.Path(path_type=Path))
@click.option("--ends", default="", help="Comma list of the step each chunk stopped at; default: one chunk, the whole log.")
@click.option("--names", default="", help="Comma list of chunk names (default: 1, 2, ...).")
def main(log: Path, ends: str, names: str) -> None:
    """Print the per-chunk table of LOG (a run's log.csv) for docs/TRAINING.md."""
    rows = read_log(log)
    try:
        stops = [int(s) for s in ends.split(",") if s.strip()] or [int(rows[-1]["step"]) if rows else 0]
    except ValueError as e:
        raise click.BadParameter(f"{ends!r}: give whole step numbers, e.g. 6478,16495", param_hint="--ends") from e
    labels = [s.strip() for s in names.split(",") if s.strip()] or [str(i + 1) for i in range(len(stops))]
    if len(labels) != len(stops):
        raise click.BadParameter(f"{len(labels)} names for {len(stops)} chunks", param_hint="--names")
    click.echo(markdown(chunk_rows(rows, stops), labels))


if __name__ == "__main__":
    main()

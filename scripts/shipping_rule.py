"""Items 1-3 of the campaign's shipping rule, read from one `scripts/evaluate_candidates.sh TAG ...` run.

The rule (docs/TRAINING.md, cycles 16-17, with the order of cycle 19), every candidate against the shipped model of
the same name, all measured in one evaluate call per set:
1. val-shake: mean PSNR holds (at most 0.02 dB lower) and mean LPIPS improves;
2. real pairs: mean LPIPS improves and the mean mean-matched PSNR holds (at most 0.02 dB lower);
3. every real pair's plain PSNR is above its blurred input;
4. the checks of docs/MODELS.md (`benchmarks/model_properties.py`, which this does not run: it prints the
   command for the candidates that pass 1-3): on each photo every channel's colour shift under 2 levels or no
   larger than the shipped model's on that photo, 256-px tiles within 0.3 dB of the whole crop on every paired
   photo, checkerboard score under 3. Given that command's JSON lines (`--properties`), it judges item 4 too.
Of those that pass all four, the one with the highest val-shake PSNR ships.

Why a script: three sessions applied these items by hand from the CSVs, and a tie read as a pass or a misread
column would ship the wrong weights. It also prints, per candidate, on how many val-shake photos it beats the
shipped model and its change without its two worst photos, which is how cycles 16 and 20 found where a
candidate lost, and without its best photo, which shows a gain that one photo carries (cycle 22: `naf22b`'s
+0.07 dB was +1.33 dB on one photo of 19).

    python scripts/shipping_rule.py c20 nafnet
    python scripts/shipping_rule.py c21 nafnet --properties benchmarks/results_model_properties.jsonl
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import click

HOLD_DB = 0.02  # "holds": what 19 photos or 4 pairs cannot resolve (docs/TRAINING.md, cycle 17)
COLOUR_LEVELS = 2.0  # docs/MODELS.md, "What they do to a real photo besides sharpening"
TILE_DB = 0.3
CHECKER = 3.0
PROPERTIES = "benchmarks/results_model_properties.jsonl"  # where the item-4 lines are kept


def _read(folder: Path) -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """{method: {image: row}} of a results folder, and {method: what was given as --model}."""
    csv_path, summary = folder / "results.csv", folder / "summary.json"
    for p in (csv_path, summary):
        if not p.is_file():
            raise click.ClickException(f"{p} is missing: run `bash scripts/evaluate_candidates.sh TAG SHIPPED "
                                       "CANDIDATE ...` first (it writes out/results/{vs,real,s2024}_TAG)")
    rows: dict[str, dict[str, dict]] = defaultdict(dict)
    with csv_path.open(newline="") as f:
        for r in csv.DictReader(f):
            rows[r["method"]][r["image"]] = r
    specs = {name: m.get("spec", name) for name, m in json.loads(summary.read_text()).get("models", {}).items()}
    return rows, specs


def _mean(rows: dict[str, dict], key: str) -> float:
    try:
        vals = [float(r[key]) for r in rows.values()]
    except (KeyError, TypeError, ValueError):
        raise click.ClickException(f"the run has no {key!r} figures for every image (LPIPS needs evaluate without "
                                   "--no-lpips, the mean-matched PSNR --mean-matched; evaluate_candidates.sh "
                                   "runs both)") from None
    return sum(vals) / len(vals)


def judge(vs: dict[str, dict[str, dict]], real: dict[str, dict[str, dict]], shipped: str, cand: str) -> dict:
    """The figures and items 1-3 of one candidate against the shipped method (both method names of the tables)."""
    s_vs, c_vs = vs[shipped], vs[cand]
    if set(s_vs) != set(c_vs) or set(real[shipped]) != set(real[cand]):
        raise click.ClickException(f"{cand} and {shipped} were not measured on the same images: evaluate them in "
                                   "one call per set")
    d_psnr = _mean(c_vs, "psnr") - _mean(s_vs, "psnr")
    d_lpips = _mean(c_vs, "lpips") - _mean(s_vs, "lpips")
    per_photo = sorted(float(c_vs[i]["psnr"]) - float(s_vs[i]["psnr"]) for i in s_vs)
    r_lpips = _mean(real[cand], "lpips") - _mean(real[shipped], "lpips")
    r_mm = _mean(real[cand], "psnr_mean_matched") - _mean(real[shipped], "psnr_mean_matched")
    margins = {i: float(real[cand][i]["psnr"]) - float(real["blurred"][i]["psnr"]) for i in real[cand]}
    worst = min(margins, key=margins.get)
    return {
        "val_psnr": _mean(c_vs, "psnr"), "d_psnr": d_psnr, "d_lpips": d_lpips,
        "better": sum(d > 0 for d in per_photo), "photos": len(per_photo),
        "d_psnr_but_worst2": sum(per_photo[2:]) / max(1, len(per_photo) - 2),
        "d_psnr_but_best": sum(per_photo[:-1]) / max(1, len(per_photo) - 1),
        "r_lpips": r_lpips, "r_mm": r_mm, "worst_pair": worst, "worst_margin": margins[worst],
        "item1": d_psnr >= -HOLD_DB and d_lpips < 0, "item2": r_lpips < 0 and r_mm >= -HOLD_DB,
        "item3": all(m > 0 for m in margins.values()),
    }


def read_properties(path: Path) -> dict[str, dict[str, dict]]:
    """{model as given: {photo: row}} from model_properties.py's JSON lines; a later line replaces an earlier one
    of the same model and photo, since a folder name (out/cand/soup17) is reused across cycles."""
    if not path.is_file():
        raise click.ClickException(f"{path} is missing: run the item-4 command this prints and keep its JSON lines")
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[row["model"]][row["photo"]] = row
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise click.ClickException(f"{path}:{n}: not a model_properties.py JSON line ({exc})") from None
    return out


def judge_properties(rows: dict[str, dict], shipped: dict[str, dict]) -> list[str]:
    """Item 4 for one candidate's rows against the shipped model's: the checks it fails (empty: it passes)."""
    failed = []
    for photo, r in sorted(rows.items()):
        for c in "rgb":
            shift, limit = abs(r[f"shift_{c}"]), abs(shipped.get(photo, {}).get(f"shift_{c}", 0.0))
            if shift >= COLOUR_LEVELS and shift > limit:
                failed.append(f"{photo} {c.upper()} colour {r[f'shift_{c}']:+.2f} levels (shipped {limit:.2f})")
        if r["checker"] >= CHECKER:
            failed.append(f"{photo} checkerboard {r['checker']:.2f}")
        if "psnr_tiled" in r and abs(r["psnr_tiled"] - r["psnr_full"]) > TILE_DB:
            failed.append(f"{photo} tiles {r['psnr_tiled'] - r['psnr_full']:+.2f} dB")
    return failed


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("tag")
@click.argument("shipped")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("out/results"),
              show_default=True, help="where evaluate_candidates.sh wrote vs_TAG and real_TAG")
@click.option("--properties", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON lines of the item-4 command (benchmarks/model_properties.py): judge item 4 as well")
def main(tag: str, shipped: str, root: Path, properties: Path | None) -> None:
    """Apply items 1-3 of the shipping rule to every model of TAG's run against SHIPPED (a --model as given), and
    item 4 too when given the JSON lines of model_properties.py (--properties)."""
    vs, vs_specs = _read(root / f"vs_{tag}")
    real, _ = _read(root / f"real_{tag}")
    by_spec = {spec: name for name, spec in vs_specs.items()}
    if shipped not in by_spec:
        raise click.ClickException(f"{shipped!r} is not among the models of vs_{tag} ({', '.join(by_spec)}): name "
                                   "the shipped model as it was given to evaluate_candidates.sh")
    ship_name = by_spec[shipped]
    if "blurred" not in real:
        raise click.ClickException(f"real_{tag} has no 'blurred' rows: evaluate_candidates.sh runs --baselines blurred")
    click.echo(f"against {shipped} (val-shake PSNR {_mean(vs[ship_name], 'psnr'):.4f}, LPIPS "
               f"{_mean(vs[ship_name], 'lpips'):.5f}; real LPIPS {_mean(real[ship_name], 'lpips'):.5f}, mean-matched "
               f"PSNR {_mean(real[ship_name], 'psnr_mean_matched'):.4f}); 'holds' = at most {HOLD_DB} dB lower\n")
    click.echo("| candidate | val-shake ΔPSNR / ΔLPIPS | photos better | ΔPSNR without its 2 worst / its best | "
               "real ΔLPIPS / Δmean-matched | worst pair over its input | 1 | 2 | 3 |")
    click.echo("| --- | --- | ---: | ---: | --- | --- | --- | --- | --- |")
    passing = []
    for name, spec in vs_specs.items():
        if name == ship_name:
            continue
        j = judge(vs, real, ship_name, name)
        marks = ["pass" if j[k] else "FAIL" for k in ("item1", "item2", "item3")]
        click.echo(f"| {spec} | {j['d_psnr']:+.4f} / {j['d_lpips']:+.5f} | {j['better']} of {j['photos']} | "
                   f"{j['d_psnr_but_worst2']:+.4f} / {j['d_psnr_but_best']:+.4f} | {j['r_lpips']:+.5f} / {j['r_mm']:+.4f} | {j['worst_pair']} "
                   f"{j['worst_margin']:+.4f} | {' | '.join(marks)} |")
        if all(j[k] for k in ("item1", "item2", "item3")):
            passing.append((j["val_psnr"], spec))
    click.echo("")
    if not passing:
        click.echo("no candidate passes items 1-3: nothing ships")
        return
    order = [spec for _, spec in sorted(passing, reverse=True)]
    click.echo(f"pass items 1-3, highest val-shake PSNR first: {', '.join(order)}")
    click.echo(f"item 4: KERAS_BACKEND=tensorflow python benchmarks/model_properties.py --models "
               f"{','.join([shipped, *order])} --crop 512 --jsonl {PROPERTIES}")
    if properties is None:
        click.echo(f"then: python scripts/shipping_rule.py {tag} {shipped} --properties {PROPERTIES}")
        return
    props = read_properties(properties)
    click.echo("")
    ships = None
    for spec in order:
        if ships is not None and not props.get(spec):
            click.echo(f"item 4, {spec}: not measured (not needed: {ships} ranks higher)")
            continue
        missing = [m for m in (shipped, spec) if not props.get(m)]
        if missing:
            raise click.ClickException(f"{properties} has no lines for {', '.join(missing)}: run the item-4 "
                                       "command above and append its JSON lines")
        if set(props[spec]) != set(props[shipped]):
            raise click.ClickException(f"{spec} and {shipped} were not measured on the same photos in {properties}")
        failed = judge_properties(props[spec], props[shipped])
        click.echo(f"item 4, {spec}: " + ("pass" if not failed else "FAIL: " + "; ".join(failed)))
        if not failed and ships is None:
            ships = spec
    click.echo(f"\nships: {ships}" if ships else "\nno candidate passes item 4: nothing ships")


if __name__ == "__main__":
    main()

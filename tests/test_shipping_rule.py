"""scripts/shipping_rule.py: items 1-3 of the shipping rule from an evaluate_candidates.sh run's CSVs.

Pure CSV arithmetic (no model, no backend): the designed figures below make each candidate pass or fail one item.
"""

import csv
import json
from pathlib import Path

from click.testing import CliRunner
from script_module import load_script

sr = load_script("scripts/shipping_rule.py")

PHOTOS = ["a.png", "b.png", "c.png", "d.png"]
PAIRS = ["p1.png", "p2.png"]
# method -> per photo (psnr, lpips) on val-shake, per pair (psnr, lpips, mean-matched psnr) on the real pairs
SHIPPED = {"vs": [(27.0, 0.25)] * 4, "real": [(23.0, 0.30, 23.1), (20.0, 0.40, 20.1)]}
CANDS = {
    "good": {"vs": [(27.1, 0.24)] * 4, "real": [(23.0, 0.29, 23.1), (20.0, 0.39, 20.09)]},
    # val-shake PSNR 0.01 dB lower holds, but LPIPS is a tie: a tie is not an improvement
    "tie": {"vs": [(26.99, 0.25)] * 4, "real": [(23.0, 0.29, 23.1), (20.0, 0.39, 20.1)]},
    # real LPIPS better, mean-matched PSNR 0.03 dB lower: item 2 fails
    "mm": {"vs": [(27.2, 0.24)] * 4, "real": [(23.0, 0.29, 23.07), (20.0, 0.39, 20.07)]},
    # one pair below its blurred input (p2: 19.9 < 19.95): item 3 fails; the best val-shake PSNR of all
    "pair": {"vs": [(27.5, 0.24)] * 4, "real": [(23.6, 0.29, 23.7), (19.9, 0.39, 20.0)]},
    "also": {"vs": [(27.05, 0.245)] * 4, "real": [(23.0, 0.299, 23.1), (20.0, 0.399, 20.1)]},
}
BLURRED = {"vs": [(25.0, 0.28)] * 4, "real": [(22.0, 0.35, 22.0), (19.95, 0.45, 19.95)]}


def _write(root: Path, tag: str, cands: dict) -> None:
    methods = {"blurred": BLURRED, "nafnet": SHIPPED, **cands}
    for s, images in (("vs", PHOTOS), ("real", PAIRS)):
        d = root / f"{s}_{tag}"
        d.mkdir(parents=True)
        with (d / "results.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["image", "method", "psnr", "ssim", "lpips", "seconds", "megapixels", "psnr_mean_matched"])
            for i, img in enumerate(images):
                for m, figs in methods.items():
                    fig = figs[s][i]
                    w.writerow([img, m, fig[0], 0.8, fig[1], 1.0, 0.1, fig[2] if s == "real" else ""])
        models = {"nafnet": {"spec": "nafnet"}, **{m: {"spec": f"out/cand/{m}"} for m in cands}}
        (d / "summary.json").write_text(json.dumps({"models": models}))


def test_items_one_to_three_and_the_order(tmp_path):
    _write(tmp_path, "t1", CANDS)
    r = CliRunner().invoke(sr.main, ["t1", "nafnet", "--root", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[-4:-1]]
            for line in r.output.splitlines() if line.startswith("| out/cand/")}
    assert rows == {"out/cand/good": ["pass", "pass", "pass"], "out/cand/tie": ["FAIL", "pass", "pass"],
                    "out/cand/mm": ["pass", "FAIL", "pass"], "out/cand/pair": ["pass", "pass", "FAIL"],
                    "out/cand/also": ["pass", "pass", "pass"]}
    # of those that pass, the highest val-shake PSNR first; item 4's command lists them after the shipped model
    assert "highest val-shake PSNR first: out/cand/good, out/cand/also" in r.output
    assert "--models nafnet,out/cand/good,out/cand/also --crop 512" in r.output


def test_nothing_passes_and_bad_runs_are_named(tmp_path):
    _write(tmp_path, "t2", {k: CANDS[k] for k in ("tie", "mm", "pair")})
    runner = CliRunner()
    r = runner.invoke(sr.main, ["t2", "nafnet", "--root", str(tmp_path)])
    assert r.exit_code == 0 and "nothing ships" in r.output, r.output
    r = runner.invoke(sr.main, ["t2", "deblurgan", "--root", str(tmp_path)])
    assert r.exit_code != 0 and "'deblurgan' is not among the models" in r.output, r.output
    real = tmp_path / "real_t2" / "results.csv"  # a real-pair run made without --mean-matched
    real.write_text(real.read_text().replace("20.1\n", "\n"))
    r = runner.invoke(sr.main, ["t2", "nafnet", "--root", str(tmp_path)])
    assert r.exit_code != 0 and "psnr_mean_matched" in r.output and "--mean-matched" in r.output, r.output
    r = runner.invoke(sr.main, ["t9", "nafnet", "--root", str(tmp_path)])
    assert r.exit_code != 0 and "vs_t9" in r.output and "evaluate_candidates.sh" in r.output, r.output



def _prop(model, photo, shifts=(0.5, -0.3, 0.4), checker=1.0, full=None, tiled=None):
    row = {"model": model, "photo": photo, "shift_r": shifts[0], "shift_g": shifts[1], "shift_b": shifts[2],
           "checker": checker}
    if full is not None:
        row.update(psnr_input=20.0, psnr_full=full, psnr_tiled=tiled)
    return json.dumps(row)


def test_item_four_from_the_properties_lines(tmp_path):
    """Colour under 2 levels or no worse than shipped, tiles within 0.3 dB, checkerboard under 3; the highest
    val-shake PSNR that passes all four ships, and a later line replaces an earlier one of the same model."""
    _write(tmp_path, "t3", CANDS)
    lines = [_prop("nafnet", "street.jpg", (1.0, 0.0, 2.5)), _prop("nafnet", "pair.png", full=24.0, tiled=23.9),
             # `good` (ranked first): blue 2.6 on street is over 2 and over the shipped 2.5 -> fails
             _prop("out/cand/good", "street.jpg", (1.0, 0.0, 2.6)), _prop("out/cand/good", "pair.png", full=24.0,
                                                                           tiled=24.0),
             # `also`: first measured with tiles 0.31 dB off (fails), then again: the later lines count
             _prop("out/cand/also", "street.jpg", (1.0, 0.0, 2.4)), _prop("out/cand/also", "pair.png", full=24.0,
                                                                           tiled=23.69),
             _prop("out/cand/also", "pair.png", full=24.0, tiled=23.71)]
    props = tmp_path / "props.jsonl"
    props.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert r.exit_code == 0, r.output
    assert "item 4, out/cand/good: FAIL: street.jpg B colour +2.60 levels (shipped 2.50)" in r.output
    assert "item 4, out/cand/also: pass" in r.output and "ships: out/cand/also" in r.output

    # a checkerboard of 3 fails; blue 2.4 (over 2 but under the shipped 2.5) still passes
    props.write_text("\n".join(lines + [_prop("out/cand/also", "street.jpg", (1.0, 0.0, 2.4), checker=3.0)]) + "\n")
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert "FAIL: street.jpg checkerboard 3.00" in r.output and "nothing ships" in r.output, r.output

    # the tiles: 0.31 dB off fails
    props.write_text("\n".join(lines[:-1]) + "\n")
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert "FAIL: pair.png tiles -0.31 dB" in r.output, r.output

    # a passing candidate ranked first: the ones after it need no lines
    ok = [_prop("out/cand/good", "street.jpg", (1.0, 0.0, 1.9)), _prop("out/cand/good", "pair.png", full=24.0,
                                                                       tiled=24.0)]
    props.write_text("\n".join(lines[:2] + ok) + "\n")
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert r.exit_code == 0 and "ships: out/cand/good" in r.output, r.output
    assert "item 4, out/cand/also: not measured (not needed: out/cand/good ranks higher)" in r.output

    # a candidate that must be judged but has no lines, and a broken line, are named
    props.write_text("\n".join(lines[:2]) + "\n")
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert r.exit_code != 0 and "no lines for out/cand/good" in r.output, r.output
    props.write_text(lines[0] + "\nnot json\n")
    r = runner.invoke(sr.main, ["t3", "nafnet", "--root", str(tmp_path), "--properties", str(props)])
    assert r.exit_code != 0 and "props.jsonl:2" in r.output, r.output


def test_the_per_photo_views_show_where_a_gain_comes_from():
    """A mean carried by one photo: +2 dB on one, nothing on two, -0.1 and -0.3 dB on the others."""
    photos = ["a", "b", "c", "d", "e"]
    shipped = {i: {"psnr": "27.0", "lpips": "0.25"} for i in photos}
    cand = {i: {"psnr": str(27.0 + d), "lpips": "0.24"} for i, d in zip(photos, [2.0, 0.0, 0.0, -0.1, -0.3],
                                                                         strict=True)}
    pairs = {"p": {"psnr": "23.0", "lpips": "0.3", "psnr_mean_matched": "23.0"}}
    real = {"nafnet": pairs, "c": pairs, "blurred": {"p": {"psnr": "22.0", "lpips": "0.35",
                                                           "psnr_mean_matched": "22.0"}}}
    j = sr.judge({"nafnet": shipped, "c": cand}, real, "nafnet", "c")
    assert j["better"] == 1
    assert abs(j["d_psnr"] - 1.6 / 5) < 1e-9
    assert abs(j["d_psnr_but_worst2"] - 2.0 / 3) < 1e-9  # without -0.3 and -0.1
    assert abs(j["d_psnr_but_best"] - (-0.4 / 4)) < 1e-9  # without the +2.0 photo: a loss

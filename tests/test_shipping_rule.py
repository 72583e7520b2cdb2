"""scripts/shipping_rule.py: items 1-3 of the shipping rule from an evaluate_candidates.sh run's CSVs.

Pure CSV arithmetic (no model, no backend): the designed figures below make each candidate pass or fail one item.
"""

import csv
import importlib.util
import json
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("shipping_rule", ROOT / "scripts" / "shipping_rule.py")
sr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sr)

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


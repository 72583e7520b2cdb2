"""scripts/evaluate_candidates.sh: the campaign's three sets with every model in one call each, and that it never
replaces earlier figures. No Keras: DRY_RUN prints the commands, and the refusals happen before anything runs.
"""

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "evaluate_candidates.sh"


def _run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env)


def test_dry_run_names_every_model_in_one_call_per_set(tmp_path):
    res = _run("c99", "nafnet", "out/cand/x", env_extra={"DRY_RUN": "1", "OUT_ROOT": str(tmp_path)})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, (flag, out) in zip(lines, [("--preset val-shake", "vs_c99"), ("--mean-matched", "real_c99"),
                                          ("--synthetic-seed 2024", "s2024_c99")], strict=True):
        assert line.startswith("deblur-tf evaluate ")
        assert flag in line and "--baselines blurred" in line
        assert "--model nafnet --model out/cand/x" in line
        assert line.endswith(f"--out {tmp_path}/{out}")


def test_an_existing_result_folder_stops_it_before_anything_runs(tmp_path):
    (tmp_path / "s2024_c99").mkdir()
    res = _run("c99", "nafnet", env_extra={"OUT_ROOT": str(tmp_path)})
    assert res.returncode == 2
    assert "s2024_c99 exists" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2024_c99"]  # no log, no other folder written


def test_bad_arguments_are_named():
    res = _run("c99")
    assert res.returncode == 2 and "usage" in res.stderr
    res = _run("c 9/9", "nafnet")
    assert res.returncode == 2 and "TAG 'c 9/9'" in res.stderr

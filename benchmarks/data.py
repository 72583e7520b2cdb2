"""Input-pipeline throughput: pairs/s of 256x256 crops, paired and synthetic, numpy and tf.data paths.

    python benchmarks/data.py                      # both sets, all paths, 5 repeats, median
    python benchmarks/data.py --pairs 40 --repeats 7 --batches 20

Paired: a GoPro-style set made by `deblur-tf synth --limit N` from the first --pairs photos of
../shared/data/sharp/train into a temporary folder (full-size JPEG pairs, as synth writes the sharp
photos' format).
Synthetic: ../shared/data/sharp/train itself (280 photos) with a 4096-kernel bank.

Each figure is the median over --repeats timed runs of --batches batches (after 2 warm-up batches), as
pairs (crops) per second. The figures quoted in docs/BENCHMARKS.md come from this script.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEBLUR_SHARED", ROOT.parent / "shared"))
sys.path.insert(0, str(ROOT))


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def median_rate(next_batch, batch_size: int, batches: int, repeats: int) -> tuple[float, float, list[float]]:
    """Median pairs/s over `repeats` runs, by wall clock and by process CPU time (all threads).

    The CPU-time rate is what the work costs regardless of other jobs on a shared machine: pairs per
    CPU-second, so a free machine with n cores tops out near n times it when the path runs in parallel.
    """
    for _ in range(2):
        next_batch()
    rates, cpu_rates = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        for _ in range(batches):
            next_batch()
        rates.append(batches * batch_size / (time.perf_counter() - t))
        cpu_rates.append(batches * batch_size / max(time.process_time() - c, 1e-9))
    return float(np.median(rates)), float(np.median(cpu_rates)), rates


def stream(source, start_epoch: int = 0):
    """The numpy path in one thread: batch(epoch, step) in order (what one PyDataset worker does)."""
    it = source.epochs(start_epoch)
    return lambda: next(it)


def py_dataset(source, workers: int):
    """The PyDataset path as keras.fit drives it: an enqueuer with `workers` threads."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    ds = source.as_py_dataset(workers=workers)
    adapter = PyDatasetAdapter(ds, shuffle=False)

    def gen():
        while True:
            adapter.on_epoch_begin()
            yield from adapter.get_numpy_iterator()
            adapter.on_epoch_end()

    it = gen()
    return lambda: next(it), adapter


def tf_stream(source):
    it = iter(source.as_tf_dataset())
    return lambda: next(it)


def make_paired_set(out: Path, n: int, seed: int) -> str:
    """A paired set from `deblur-tf synth` on the first `n` training photos; falls back to writing pairs with
    the data package's own host blur (same GoPro layout) when the synth command is unavailable. Returns the
    command used."""
    train = SHARED / "data/sharp/train"
    cmd = [sys.executable, "-m", "deblur_tf.cli", "synth", str(train), str(out), "--seed", str(seed),
           "--limit", str(n)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode == 0 and (out / "blur").is_dir():
        return "deblur-tf " + " ".join(cmd[3:])
    print(f"note: `deblur-tf synth` failed ({res.stderr.strip().splitlines()[-1:]}); writing pairs with "
          "SyntheticPairs(mode='fixed', crop=None).blurred_pairs() instead", file=sys.stderr)
    from deblur_tf.data import SyntheticPairs
    from deblur_tf.io import write_image

    src = out.parent / "sharp_in"
    src.mkdir(parents=True, exist_ok=True)
    for p in sorted(train.iterdir())[:n]:
        shutil.copy(p, src / p.name)
    syn = SyntheticPairs(src, crop=None, batch_size=1, mode="fixed", seed=seed)
    for f, (blurred, sharp) in zip(syn.files, syn.blurred_pairs(), strict=True):
        write_image(out / "blur" / (f.stem + ".png"), (blurred[0] + 1) / 2)
        write_image(out / "sharp" / (f.stem + ".png"), (sharp[0] + 1) / 2)
    return "SyntheticPairs(...).blurred_pairs() written as PNG (synth CLI unavailable)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=40, help="photos turned into the paired set")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--batches", type=int, default=15, help="batches per timed run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tf", action="store_true", help="skip the tf.data rows (e.g. under JAX without TF)")
    args = ap.parse_args()
    import keras

    from deblur_tf.data import PairedFolder, SyntheticPairs, mix

    B, c = args.batch_size, args.crop
    print(f"# deblur-tf data pipeline benchmark, {datetime.date.today()}, {cpu_model()}, "
          f"{os.cpu_count()} cores, keras backend {keras.backend.backend()}, seed {args.seed}")
    print(f"# {c}x{c} crops, batch {B}, median of {args.repeats} runs x {args.batches} batches; load average "
          f"at start {os.getloadavg()[0]:.1f} (the machine is shared: figures are lower bounds)\n")
    rows: list[tuple[str, str, float, float]] = []

    def run(name: str, path: str, fn) -> None:
        rate, cpu_rate, rates = median_rate(fn, B, args.batches, args.repeats)
        rows.append((name, path, rate, cpu_rate))
        print(f"{name:<46} {path:<20} {rate:6.0f} pairs/s, {cpu_rate:6.0f} per CPU-s   "
              f"(runs: {', '.join(f'{r:.0f}' for r in rates)})", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        paired_dir = Path(tmp) / "paired"
        t = time.perf_counter()
        how = make_paired_set(paired_dir, args.pairs, args.seed)
        print(f"paired set: {args.pairs} pairs via {how} ({time.perf_counter() - t:.1f} s)")
        t = time.perf_counter()
        # long epochs, so the PyDataset row measures batches, not the enqueuer's per-epoch start/stop
        per_epoch = B * args.batches * (args.repeats + 2)
        paired = PairedFolder(paired_dir, crop=c, batch_size=B, seed=args.seed, samples_per_epoch=per_epoch)
        print(f"PairedFolder construction (validate + decode + cache {paired._blur.nbytes * 2 / 1e6:.0f} MB): "
              f"{time.perf_counter() - t:.2f} s")
        run("paired, cached", "numpy 1 thread", stream(paired))
        fn, adapter = py_dataset(paired, workers=2)
        run("paired, cached", "PyDataset 2 threads", fn)
        if not args.no_tf:
            run("paired, cached", "tf.data AUTOTUNE", tf_stream(paired))
        paired_for_mix = PairedFolder(paired_dir, crop=c, batch_size=B, seed=args.seed)
        uncached = PairedFolder(paired_dir, crop=c, batch_size=B, seed=args.seed, cache=False,
                                samples_per_epoch=per_epoch)
        if not args.no_tf:
            run("paired, decode every crop (cache=False)", "tf.data AUTOTUNE", tf_stream(uncached))
        else:
            run("paired, decode every crop (cache=False)", "numpy 1 thread", stream(uncached))

    train = SHARED / "data/sharp/train"
    t = time.perf_counter()
    syn = SyntheticPairs(train, crop=c, batch_size=B, kernel_bank=4096, seed=args.seed)
    print(f"SyntheticPairs construction ({len(syn.files)} photos, cache {syn._store.nbytes / 1e6:.0f} MB, "
          f"4096-kernel bank): {time.perf_counter() - t:.2f} s")
    run("synthetic elements (bank)", "numpy 1 thread", stream(syn))
    if not args.no_tf:
        run("synthetic elements (bank)", "tf.data AUTOTUNE", tf_stream(syn))
    fresh = SyntheticPairs(train, crop=c, batch_size=B, kernel_bank=0, seed=args.seed)
    run("synthetic elements (fresh kernels)", "numpy 1 thread", stream(fresh))
    run("synthetic blurred on host (scipy FFT)", "numpy 1 thread", stream(syn.blurred_pairs()))
    if not args.no_tf:
        run("synthetic blurred on host (scipy FFT)", "tf.data AUTOTUNE", tf_stream(syn.blurred_pairs()))

    device_mix = mix(paired_for_mix, syn, 0.5, blur="device")
    if not args.no_tf:
        run("mix(paired, synthetic, 0.5), host blur", "tf.data AUTOTUNE", tf_stream(mix(paired_for_mix, syn, 0.5)))
        run("mix(paired, synthetic, 0.5, blur='device')", "tf.data AUTOTUNE", tf_stream(device_mix))
    else:
        run("mix(paired, synthetic, 0.5, blur='device')", "numpy 1 thread", stream(device_mix))

    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")
    print("\n| set | path | pairs/s (wall, median) | pairs per CPU-second (median) |\n| --- | --- | ---: | ---: |")
    for name, path, rate, cpu_rate in rows:
        print(f"| {name} | {path} | {rate:.0f} | {cpu_rate:.0f} |")


if __name__ == "__main__":
    main()

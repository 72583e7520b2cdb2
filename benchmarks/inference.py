"""Deblurring latency of one image: Keras, SavedModel and every TFLite variant on the CPU; JAX on any device.

For each model and input size (default 256x256 and 1280x720), the median wall time of `--runs` warm runs
(one untimed warm-up run first: allocation, tracing, XLA compilation) of a single image, batch 1:

- `keras`: `model.predict_on_batch` of the generator (the current Keras backend);
- `savedmodel`: the TF Serving SavedModel written by `deblur_tf.export.export_savedmodel`, loaded with
  `deblur_tf.export.load_savedmodel` (its `serving_default` signature: [0, 1] in, mirror-padding inside);
- `tflite-<variant>`: the fixed-size `.tflite` files of `deblur_tf.export.convert_tflite` (fp32, fp16,
  int8_dynamic, int8) run by `deblur_tf.tflite.TFLiteRunner.run_exact` with the LiteRT interpreter (XNNPACK,
  its default CPU delegate) on 1 and 2 threads; int8 is calibrated on crops of ../shared/data/sharp/val;
- `jax-jit` (KERAS_BACKEND=jax, `--backend-only jax`): `jax.jit` of the generator's `stateless_call` on an
  input already on the device, timed to `block_until_ready` (the GPU figure; no host transfer), next to
  `keras` (`predict_on_batch`, which includes the transfers).

Models: the shipped ones in deblur_tf/weights/<name>/ (`deblur_tf.zoo.load_model`), `--model PATH`, and for a
generator kind with no shipped weights (e.g. `mobile`) an untrained one of the default architecture: latency
does not depend on the weights; the output says `"weights": "untrained"`.

Prints one JSON line per measurement (with the CPU, the load average before/after and the date) and, at the
end, a Markdown table for docs/BENCHMARKS.md. The 2 cores of the CI box are shared: 1-thread figures are the
stable ones; the process CPU time is reported next to the wall time.

    KERAS_BACKEND=tensorflow python benchmarks/inference.py --models mobile --runs 5
    KERAS_BACKEND=tensorflow python benchmarks/inference.py --models deblurgan --sizes 256x256 --runs 3
    KERAS_BACKEND=jax python benchmarks/inference.py --backend-only jax --models deblurgan,mobile --runs 20
    KERAS_BACKEND=jax python benchmarks/inference.py --backend-only jax --precision mixed_bfloat16 --runs 20
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deblur_tf.sysinfo import cpu_name, time_calls  # noqa: E402

VARIANTS = {"fp32": "tflite-fp32", "fp16": "tflite-fp16", "int8_dynamic": "tflite-int8-dynamic", "int8": "tflite-int8"}


def parse_size(text: str) -> tuple[int, int]:
    """'256x256' / '1280x720' as WIDTHxHEIGHT (photo convention) -> (H, W)."""
    w, _, h = text.lower().partition("x")
    return int(h), int(w)


def timed(fn, runs: int) -> dict:
    """Median wall and process-CPU milliseconds of `runs` calls after one warm-up call."""
    wall, cpu, first = time_calls(fn, runs)
    return {"median_ms": round(1000 * statistics.median(wall), 2), "median_cpu_ms": round(1000 * statistics.median(cpu), 2),
            "min_ms": round(1000 * min(wall), 2), "first_call_ms": round(1000 * first, 1), "runs": runs}


def load_generator(name: str):
    """(keras generator, description dict) for a shipped model name, a path, or an untrained kind."""
    from deblur_tf import zoo
    from deblur_tf.models import GENERATORS, build_generator

    shipped = {m["name"]: m for m in zoo.list_models()}
    if name in shipped or Path(name).exists():
        loaded = zoo.load_model(name)
        if loaded.keras_model is None:
            raise SystemExit(f"{name}: not a Keras model ({loaded.kind}); benchmark the model it was exported from")
        return loaded.keras_model, {"model": loaded.name, "kind": loaded.kind, "weights": "trained",
                                    "source": loaded.source}
    if name in GENERATORS:
        return build_generator(name), {"model": name, "kind": name, "weights": "untrained", "source": "defaults"}
    raise SystemExit(f"--models {name}: not a shipped model ({', '.join(shipped) or 'none'}), a path, or a "
                     f"generator kind ({', '.join(GENERATORS)})")


def calibration_images(size: tuple[int, int], count: int = 8) -> list[np.ndarray]:
    from deblur_tf.export import default_shared_dir, make_image_set

    shared = default_shared_dir()
    source = shared / "data" / "sharp" / "val" if shared else None
    return make_image_set(source, size, count, seed=0).blurred


def bench_keras(model, size, runs, ensemble: int = 1):
    """`ensemble` > 1 times what `deblur` runs for a model whose default is a mirrored self-ensemble (the
    shipped nafnet: 2), i.e. that many calls of the whole frame and their mean."""
    from deblur_tf.inference import flip_ensemble

    x = np.random.default_rng(0).uniform(-1, 1, (1, *size, 3)).astype(np.float32)
    run = flip_ensemble(lambda b: np.asarray(model.predict_on_batch(b)), ensemble)
    return timed(lambda: run(x), runs)


def bench_jax_jit(model, size, runs):
    import jax

    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    fn = jax.jit(lambda tv_, ntv_, x_: model.stateless_call(tv_, ntv_, x_, training=False)[0])
    x = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (1, *size, 3)).astype(np.float32))
    res = timed(lambda: jax.block_until_ready(fn(tv, ntv, x)), runs)
    res["device"] = str(jax.devices()[0].device_kind)
    return res


def bench_savedmodel(model, size, runs, tmp: Path):
    from deblur_tf.export import export_savedmodel, load_savedmodel

    target = tmp / "sm"
    if not (target / "m" / "1").exists():
        export_savedmodel(model, target, name="m", version=1)
    predict = load_savedmodel(target / "m" / "1")
    x = np.random.default_rng(0).uniform(-1, 1, (1, *size, 3)).astype(np.float32)
    return timed(lambda: predict(x), runs)


def tflite_file(model, variant: str, size, tmp: Path) -> Path:
    from deblur_tf.export import convert_tflite

    path = tmp / f"{variant}_{size[0]}x{size[1]}.tflite"
    if not path.exists():
        calib = calibration_images(size) if variant == "int8" else None
        path.write_bytes(convert_tflite(model, VARIANTS[variant], size, calibration=calib))
    return path


def bench_tflite(path: Path, size, threads: int, runs: int):
    from deblur_tf.tflite import TFLiteRunner

    runner = TFLiteRunner(path, num_threads=threads)
    img = np.random.default_rng(0).uniform(0, 1, (*size, 3)).astype(np.float32)
    res = timed(lambda: runner.run_exact(img), runs)
    res["file_mb"] = round(path.stat().st_size / 2**20, 2)
    return res


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mobile,deblurgan",
                   help="comma list of shipped model names, paths, or generator kinds (untrained); default mobile,deblurgan")
    p.add_argument("--sizes", default="256x256,1280x720", help="comma list of WIDTHxHEIGHT")
    p.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median reported)")
    p.add_argument("--runtimes", default="keras,savedmodel,tflite", help="comma list of keras, savedmodel, tflite")
    p.add_argument("--variants", default="fp32,fp16,int8_dynamic,int8", help="TFLite variants")
    p.add_argument("--threads", default="1,2", help="TFLite interpreter threads (comma list)")
    p.add_argument("--backend-only", choices=("jax",), default=None,
                   help="jax: only the JAX runtimes (keras predict_on_batch and jax-jit), no TensorFlow needed")
    p.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"),
                   help="Keras dtype policy of the generator (mixed_bfloat16 only with --backend-only jax: the GPU)")
    p.add_argument("--skip", action="append", default=[], metavar="MODEL:RUNTIME:SIZE",
                   help="skip a combination, e.g. deblurgan:tflite:1280x720 (repeatable; * matches anything)")
    p.add_argument("--ensemble", type=int, choices=(1, 2, 4), default=1,
                   help="keras runtime: time a mirrored self-ensemble of this size (deblur's default for nafnet: 2)")
    p.add_argument("--jsonl", default=None, help="also append the JSON lines to this file")
    return p


def _runtimes(args, backend: str) -> list[str]:
    """The runtimes to measure, after checking they run under `backend`."""
    import keras

    if args.backend_only == "jax":
        if backend != "jax":
            raise SystemExit("--backend-only jax needs KERAS_BACKEND=jax")
        keras.config.set_dtype_policy(args.precision)
        return ["keras", "jax-jit"]
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    if backend != "tensorflow" and {"savedmodel", "tflite"} & set(runtimes):
        raise SystemExit("SavedModel/TFLite need KERAS_BACKEND=tensorflow (or use --backend-only jax)")
    if args.precision != "float32":
        raise SystemExit("--precision mixed_bfloat16 is for --backend-only jax (exports are float32 graphs)")
    return runtimes


def _skipped(rules: list[str], model: str, runtime: str, size: str) -> bool:
    for rule in rules:
        parts = (rule.split(":") + ["*", "*", "*"])[:3]
        if all(r in ("*", v) or (r == "tflite" and v.startswith("tflite")) for r, v in
               zip(parts, (model, runtime, size), strict=True)):
            return True
    return False


def _load_avg(load0: float) -> list[float]:
    return [round(load0, 2), round(os.getloadavg()[0], 2)]


def _bench_size(model, info: dict, size_text: str, runtimes: list[str], variants: list[str], threads: list[int],
                args, tmp: Path, emit) -> None:
    """Every runtime (and TFLite variant and thread count) of one model at one size."""
    from deblur_tf.models import count_flops

    size = parse_size(size_text)
    base = {**info, "size": size_text, "gflops": round(count_flops(model, (*size, 3)) / 1e9, 2)}
    for runtime in runtimes:
        if runtime == "tflite":
            for variant in variants:
                if _skipped(args.skip, info["model"], f"tflite-{variant}", size_text):
                    continue
                t0 = time.perf_counter()
                path = tflite_file(model, variant, size, tmp)
                convert_s = round(time.perf_counter() - t0, 1)
                for n in threads:
                    load0 = os.getloadavg()[0]
                    res = bench_tflite(path, size, n, args.runs)
                    emit({**base, "runtime": f"tflite-{variant}", "threads": n, **res,
                          "convert_s": convert_s, "load_avg": _load_avg(load0)})
            continue
        if _skipped(args.skip, info["model"], runtime, size_text):
            continue
        load0 = os.getloadavg()[0]
        if runtime == "keras":
            res = bench_keras(model, size, args.runs, args.ensemble)
            if args.ensemble != 1:
                res = {**res, "ensemble": args.ensemble}
        elif runtime == "jax-jit":
            res = bench_jax_jit(model, size, args.runs)
        elif runtime == "savedmodel":
            res = bench_savedmodel(model, size, args.runs, tmp)
        else:
            raise SystemExit(f"--runtimes: unknown {runtime!r}")
        emit({**base, "runtime": runtime, "threads": "default", **res, "load_avg": _load_avg(load0)})


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    import keras

    backend = keras.backend.backend()
    runtimes = _runtimes(args, backend)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"--variants: unknown {v!r}; choose from {', '.join(VARIANTS)}")

    common = {"cpu": cpu_name(), "cores": os.cpu_count(), "backend": backend, "precision": args.precision,
              "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d"), "keras": keras.__version__}
    rows = []

    def emit(record: dict) -> None:
        line = json.dumps({**common, **record})
        print(line, flush=True)
        rows.append(record)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(line + "\n")

    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        model, info = load_generator(name)
        with tempfile.TemporaryDirectory(prefix="deblur-bench-") as tmpdir:
            for size_text in sizes:
                _bench_size(model, info, size_text, runtimes, variants, threads, args, Path(tmpdir), emit)
        del model
        keras.utils.clear_session()

    print()
    print(f"Machine: {common['cpu']}, {common['cores']} cores; backend {backend}; {common['date']}")
    print("| model | weights | size | runtime | threads | median wall | median CPU | load avg |")
    print("| --- | --- | --- | --- | --- | ---: | ---: | --- |")
    for r in rows:
        print(f"| {r['model']} ({r['kind']}) | {r['weights']} | {r['size']} | {r['runtime']} | {r['threads']} | "
              f"{r['median_ms']:.0f} ms | {r['median_cpu_ms']:.0f} ms | {r['load_avg'][0]}-{r['load_avg'][1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

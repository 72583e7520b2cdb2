"""Steps per second of the whole trainer (`run_training`), with and without the JAX device loop.

`benchmarks/train_speed.py` and `train_step.py` time the bare step; this times what `deblur-tf train` does
around it (data feed, logging, the per-step host work) for `device_loop=True` (`JaxDeviceLoop`: state stays
on the device between log lines) and `False` (`train_on_batch` every step). The rate is taken from
RUN/log.csv between the first and the last log line, so compilation and the final checkpoint are excluded;
validation (data.val_dir) and intermediate checkpoints are switched off.

    KERAS_BACKEND=jax python benchmarks/trainer_loop.py --pipeline smoke --steps 200 --log-every 20
    KERAS_BACKEND=jax python benchmarks/trainer_loop.py --pipeline deblurgan-synthetic --steps 300 \\
        --set data.train_dir=.gpu/data/train --set loss.vgg_weights=.gpu/vgg16_imagenet_block3.npz \\
        --set train.precision=mixed_bfloat16
    KERAS_BACKEND=jax python benchmarks/trainer_loop.py --pipeline nafnet-content --device-loop true --repeats 1 \
        --steps 800 --log-every 100 --set data.train_dir=.gpu/data/train --set data.kernel_bank=512

The last one is the trainer half of the "trainer >= 90 % of the bare step" check; the bare step's command
is in benchmarks/train_step.py.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deblur_tf.sysinfo import cpu_name  # noqa: E402


def measure(pipeline: str, overrides: list[str], steps: int, log_every: int, device_loop: bool) -> dict:
    import keras

    from deblur_tf.config import load_pipeline
    from deblur_tf.run import prepare_run_dir, run_training

    keras.backend.clear_session()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        # no validation at all: the trainer validates at the last step too, and that row's wall time (the
        # end of the timed span) would include it and the compilation of the validation step
        cfg = load_pipeline(pipeline, [*overrides, f"train.steps={steps}", f"train.log_every={log_every}",
                                       f"train.val_every={10 * steps}", f"train.checkpoint_every={10 * steps}",
                                       f"train.sample_every={10 * steps}", 'data.val_dir=""'])
        prepare_run_dir(run, resume=False, overwrite=False)
        run_training(cfg, run, progress=False, echo=lambda m: None, tensorboard=False, device_loop=device_loop)
        with open(run / "log.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["d_loss"]]
    first, last = rows[0], rows[-1]
    n = int(last["step"]) - int(first["step"])
    seconds = float(last["wall_time_s"]) - float(first["wall_time_s"])
    return {"pipeline": pipeline, "device_loop": device_loop, "steps_timed": n, "seconds": round(seconds, 3),
            "steps_per_s": round(n / seconds, 3), "batch": cfg.data.batch_size,
            "img_per_s": round(n * cfg.data.batch_size / seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipeline", default="smoke")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each mode")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--device-loop", default="both", choices=("both", "true", "false"),
                    help="which trainer loop(s) to time; true is what `deblur-tf train` runs on one JAX device")
    args = ap.parse_args()

    import keras

    if keras.backend.backend() != "jax":
        sys.exit("the device loop is JAX-only: run with KERAS_BACKEND=jax")
    import jax

    common = {"device": str(jax.devices()[0].device_kind), "cpu": cpu_name(), "cores": os.cpu_count(),
              "keras": keras.__version__, "jax": jax.__version__, "date": _dt.date.today().isoformat()}
    results = []
    modes = {"both": (False, True), "true": (True,), "false": (False,)}[args.device_loop]
    for _ in range(args.repeats):
        for mode in modes:
            r = {**common, **measure(args.pipeline, args.overrides, args.steps, args.log_every, mode),
                 "load_avg": round(os.getloadavg()[0], 2)}
            print(json.dumps(r), flush=True)
            results.append(r)
    for mode in modes:
        best = max(r["steps_per_s"] for r in results if r["device_loop"] == mode)
        print(f"device_loop={mode}: best {best:.2f} steps/s")


if __name__ == "__main__":
    main()

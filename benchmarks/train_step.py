"""Throughput of the full DeblurGAN training iteration (5 critic + 1 generator update) on the current backend.

One iteration is what `deblur-tf train` runs per step: generator forward, `n_critic` critic updates with the
WGAN-GP gradient penalty (double backward), one generator update through the critic plus the VGG16 block3
perceptual loss. The GAN is built by `deblur_tf.run.build_gan` from the `deblurgan-synthetic` pipeline
with the overrides below, so it is the object training uses, not a re-implementation.

What is timed, and why:

- The batch is random data placed on the device once, before timing: the figure is the step, not the data
  pipeline (docs/BENCHMARKS.md "Data pipelines" shows the pipeline delivers more than the step consumes).
- JAX: the step is `jax.jit(gan.train_step, donate_argnums=0)`, exactly how Keras' JAX trainer compiles it
  (the whole 5+1 iteration is one XLA program; the state buffers are donated, so nothing is copied between
  iterations). The compiled executable is called in a loop with the state threaded through, and the host
  waits only at the end of each timed window, so dispatch overlaps the device. `--modes train_on_batch`
  adds the same measurement through `model.train_on_batch` (what `deblur-tf train` calls: it syncs logs
  to the host every step), to show the trainer's per-step overhead.
- TensorFlow: `tf.function(gan.train_step, jit_compile=...)` called in a loop, host sync at window ends.
- Warm-up iterations (compilation included) are excluded; the figure is the median over `--windows` windows
  of `--steps` iterations each. Compile time is measured separately (JAX: `lower()` + `compile()`).

FLOPs per iteration, two ways (both printed; TFLOP/s uses XLA's when available):

- `flops_xla`: XLA's cost analysis of the step (`jax.jit(gan.train_step).lower(...).cost_analysis()`). XLA
  counts a `while` loop's body once, whatever its trip count, and the critic updates are a `fori_loop`, so
  the step is traced a second time with `jax.lax.fori_loop` replaced by a Python loop (the same computation,
  unrolled) and that program's HLO is analysed, lowered for the host CPU (lowered only: no compile, nothing
  run; see `xla_flops_unrolled` for why the CPU). `flops_xla_compiled_loop_once` is the compiled program's
  own figure (critic update counted once; on a GPU it misses every cuDNN convolution), kept for reference.
- `flops_hand`: per-layer conv MACs from `deblur_tf.models.count_flops` (FLOPs = 2 x MACs) with forward = 1x
  and backward (input + weight gradients) = 2x. Per sample, with G, D, V the forward FLOPs of generator,
  critic and VGG features: generator forward 1G + backward 2G; per critic update: D on real and fake forward
  2D + backward 4D, gradient penalty at the interpolate forward 1D + input gradient 1D + the backward of those
  two for the weights 4D (double backward) = 12D; generator update: D forward + input gradient on the fake 2D,
  VGG on sharp and fake forward 2V + input gradient 1V. Total = 3G + 12 n_critic D + 2D + 3V.

Prints one JSON line per configuration (precision x convs_per_block); `--jsonl FILE` appends them to a file.

Any pipeline (`--pipeline NAME`, with `--set SECTION.KEY=VALUE` overrides): the GAN is built by the trainer's
own `build_gan` from that pipeline as `deblur-tf train -p NAME` builds it (generator, critic, losses, the
on-device camera model, precision, optimisers), under `deblur_tf.distributed.from_config` as `run_training`
does, and the batch has the pipeline's batch size, crop and structure: a synthetic pipeline gets `{"sharp",
"kernel", "noise_std"}` (sharp crops in [-1, 1], the pipeline's shake kernels, noise in data.noise_std; the
step blurs them with the camera model), a paired or mixture one (blurred, sharp). The ResNet flags
(--precision, --convs-per-block, --batch, --size, --ngf, --ndf, --n-critic, --upsample, --data) do not apply:
use --set. Without --pipeline the ResNet generator of `deblurgan-synthetic` is timed as above.

The trainer against the bare step (issue 12: `deblur-tf train` should reach >= 90 % of the step's img/s), for
the default quality pipeline on one H200 (batch 16, crop 256 and mixed_bfloat16 are nafnet-content's own):

    KERAS_BACKEND=jax python benchmarks/train_step.py --pipeline nafnet-content --steps 100 --windows 3 \
        --no-xla-flops --jsonl benchmarks/results_train_step_h200.jsonl
    KERAS_BACKEND=jax python benchmarks/trainer_loop.py --pipeline nafnet-content --device-loop true --repeats 1 \
        --steps 800 --log-every 100 --set data.train_dir=.gpu/data/train --set data.kernel_bank=512

and compare the two `img_per_s`. The trainer's rate is taken from its log.csv between the first and the last
log line (700 steps), so compilation is excluded there as warm-up is here; trainer_loop.py switches
validation off (no .gpu/data/val needed), and the kernel bank is cut from 8192 to 512 kernels, which only
shortens its drawing before the first step. At the trainer's ~45 steps/s the timed steps take ~15 s of
each command; the rest is start-up and compilation (these two commands have not been timed on an H200 yet).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESNET_PIPELINE = "deblurgan-synthetic"  # without --pipeline: its ResNet generator with the flags' sizes
# the ResNet mode's flags and their defaults (None on the command line: not given, which --pipeline requires)
RESNET_DEFAULTS = {"precision": "mixed_bfloat16", "convs_per_block": "1,2", "batch": 16, "size": 256, "ngf": 64,
                   "ndf": 64, "n_critic": 5, "upsample": "transpose", "data": "paired", "devices": 1}
DEFAULT_VGG = "../shared/weights/vgg16_imagenet_block3.npz"
# dense peak TFLOP/s of an H100 SXM: bf16 tensor cores 989.5 (a large matmul reaches ~800 in practice);
# float32 without tensor cores 66.9 (JAX runs float32 convolutions as TF32 on tensor cores unless
# --matmul-precision highest, so a float32 figure against 67 can exceed 100%)
DEFAULT_PEAKS = {"float32": 67.0, "mixed_bfloat16": 990.0}


def parse_peaks(text: str | None) -> dict[str, float]:
    """'990' (every precision) or 'float32=67,mixed_bfloat16=990'."""
    if not text:
        return dict(DEFAULT_PEAKS)
    if "=" not in text:
        return {p: float(text) for p in DEFAULT_PEAKS}
    out = dict(DEFAULT_PEAKS)
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in DEFAULT_PEAKS:
            raise SystemExit(f"--peak-tflops: unknown precision {key!r}; use float32= or mixed_bfloat16=")
        out[key.strip()] = float(value)
    return out


def device_name() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        d = jax.devices()[0]
        return f"{d.platform}:{getattr(d, 'device_kind', '')} x{len(jax.devices())}"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"gpu:{details.get('device_name', 'GPU')} x{len(gpus)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def make_config(args, precision: str, convs: int, n_critic: int | None = None):
    from deblur_tf.config import load_pipeline

    overrides = [
        f"generator.convs_per_block={convs}",
        f"generator.ngf={args.ngf}",
        f"generator.upsample=\"{args.upsample}\"",
        f"critic.ndf={args.ndf}",
        f"train.precision=\"{precision}\"",
        f"data.batch_size={args.batch}",
        f"data.crop={args.size}",
        f"loss.vgg_weights=\"{args.vgg_weights}\"",
        f"optim.n_critic={n_critic or args.n_critic}",
        f"train.seed={args.seed}",
        *args.overrides,
    ]
    return load_pipeline(RESNET_PIPELINE, overrides)


def pipeline_batch(cfg, seed: int):
    """A batch of the structure, size and dtypes `deblur-tf train` feeds the step for pipeline `cfg`
    (`build_data`: SyntheticPairs for synthetic pipelines, host-blurred pairs for paired and mixture ones)."""
    from deblur_tf.blur import SHAKE_PRESETS, random_kernels

    d = cfg.data
    rng = np.random.default_rng(seed)
    b, s = d.batch_size, d.crop
    sharp = rng.uniform(-1.0, 1.0, (b, s, s, 3)).astype(np.float32)
    if d.kind != "synthetic":
        blurred = np.clip(sharp + rng.normal(0.0, 0.1, sharp.shape), -1, 1).astype(np.float32)
        return (blurred, sharp, None)
    kernel = np.asarray(random_kernels(b, size=d.kernel_size, rng=rng, params=SHAKE_PRESETS[d.shake]), np.float32)
    noise = rng.uniform(*d.noise_std, size=b).astype(np.float32)
    return ({"sharp": sharp, "kernel": kernel, "noise_std": noise}, None, None)


def make_batch(cfg, kind: str, seed: int):
    """Random (x, y, sample_weight) for `train_step`, in [-1, 1]; `synthetic` blurs on the device in the step."""
    rng = np.random.default_rng(seed)
    b, s = cfg.data.batch_size, cfg.data.crop
    sharp = rng.uniform(-1.0, 1.0, (b, s, s, 3)).astype(np.float32)
    if kind == "paired":
        blurred = np.clip(sharp + rng.normal(0.0, 0.1, sharp.shape), -1, 1).astype(np.float32)
        return (blurred, sharp, None)
    k = cfg.data.kernel_size
    kernel = rng.uniform(0.0, 1.0, (b, k, k)).astype(np.float32)
    kernel /= kernel.sum(axis=(1, 2), keepdims=True)
    noise = rng.uniform(0.0, 0.01, (b,)).astype(np.float32)
    return ({"sharp": sharp, "kernel": kernel, "noise_std": noise}, None, None)


def hand_flops(gan, size: int, n_critic: int) -> dict[str, float]:
    """Per-sample forward FLOPs of the three networks and the iteration total (see module docstring)."""
    from deblur_tf.models import count_flops

    shape = (size, size, 3)
    g = count_flops(gan.generator, shape)
    d = count_flops(gan.critic, shape)
    v = count_flops(gan.feature_extractor, shape) if gan.feature_extractor is not None else 0
    if getattr(gan, "adversarial", "wgan-gp") == "none":  # content stage: generator (+ VGG) only
        per_sample = 3 * g + 3 * v
    else:
        per_sample = 3 * g + 12 * n_critic * d + 2 * d + 3 * v
    return {"generator_fwd": g, "critic_fwd": d, "vgg_fwd": v, "per_sample": per_sample}


def _xla_flops(cost) -> float | None:
    if isinstance(cost, (list, tuple)):  # older JAX returned one dict per program
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost:
        return None
    return float(cost["flops"])


def _jax_state(gan):
    return (
        [v.value for v in gan.trainable_variables],
        [v.value for v in gan.non_trainable_variables],
        [v.value for v in gan.optimizer.variables],
        [v.value for v in gan.metrics_variables],
    )


def _jax_sync_back(gan, state) -> None:
    groups = (gan.trainable_variables, gan.non_trainable_variables, gan.optimizer.variables, gan.metrics_variables)
    for variables, values in zip(groups, state, strict=True):
        for var, value in zip(variables, values, strict=True):
            var.assign(value)


def windows_jax(run_one, sync, args) -> list[float]:
    for _ in range(args.warmup):
        run_one()
    sync()
    rates = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        for _ in range(args.steps):
            run_one()
        sync()
        rates.append(args.steps / (time.perf_counter() - t0))
    return rates


def bench_jax_step(gan, batch, args, dist) -> dict:
    import jax

    if dist.kind == "jax_data_parallel":  # batch axis sharded over the devices, state replicated (as keras)
        def put(a):
            return jax.device_put(a, dist.layout.get_data_layout(a.shape).backend_layout)

        data = jax.tree_util.tree_map(put, batch)
        shardings = jax.tree_util.tree_map(lambda a: a.sharding, _jax_state(gan))
        step = jax.jit(gan.train_step, donate_argnums=0, out_shardings=(None, shardings))
    else:
        data = jax.tree_util.tree_map(jax.device_put, batch)
        step = jax.jit(gan.train_step, donate_argnums=0)  # as keras' JAX trainer (make_train_function)
    flops = None if args.no_xla_flops else xla_flops_unrolled(gan, data)  # before donation frees the state
    t0 = time.perf_counter()
    lowered = step.lower(_jax_state(gan), data)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - t0
    holder = {"state": _jax_state(gan), "logs": None}

    def run_one():
        holder["logs"], holder["state"] = compiled(holder["state"], data)

    def sync():
        jax.block_until_ready(holder["state"])

    rates = windows_jax(run_one, sync, args)
    if args.profile:  # one more window under the profiler (TensorBoard / Perfetto trace), not in the figures
        jax.profiler.start_trace(args.profile)
        for _ in range(args.steps):
            run_one()
        sync()
        jax.profiler.stop_trace()
    _jax_sync_back(gan, holder["state"])
    logs = {k: float(v) for k, v in holder["logs"].items()}
    return {"rates": rates, "compile_s": compile_s, "logs": logs,
            "flops_xla": flops, "flops_xla_compiled_loop_once": _xla_flops(compiled.cost_analysis())}


def bench_train_on_batch(gan, batch, args, dist) -> dict:
    """Through `model.train_on_batch` (host sync of the logs every step), as `deblur-tf train` runs it: on
    device-resident arrays for one device; with several, `deblur_tf.distributed` splits the host batch."""
    import keras

    if keras.backend.backend() == "jax" and not dist.is_distributed:
        import jax

        batch = jax.tree_util.tree_map(jax.device_put, batch)
    x, y, _ = batch
    pair = x if y is None else (x, y)
    t0 = time.perf_counter()
    logs = dist.train_on_batch(gan, pair)
    first_s = time.perf_counter() - t0

    def run_one():
        holder["logs"] = dist.train_on_batch(gan, pair)

    holder = {"logs": logs}
    rates = windows_jax(run_one, lambda: None, args)
    return {"rates": rates, "compile_s": first_s, "logs": {k: float(v) for k, v in holder["logs"].items()}}


def bench_tf_step(gan, batch, args) -> dict:
    import tensorflow as tf

    jit = bool(gan.jit_compile) if args.tf_jit == "auto" else args.tf_jit == "true"
    data = tf.nest.map_structure(lambda a: None if a is None else tf.constant(a), batch)
    fn = tf.function(gan.train_step, jit_compile=jit)
    t0 = time.perf_counter()
    logs = fn(data)
    {k: v.numpy() for k, v in logs.items()}
    compile_s = time.perf_counter() - t0
    holder = {"logs": logs}

    def run_one():
        holder["logs"] = fn(data)

    def sync():
        float(holder["logs"]["d_loss"])

    rates = windows_jax(run_one, sync, args)
    return {"rates": rates, "compile_s": compile_s, "logs": {k: float(v) for k, v in holder["logs"].items()},
            "tf_jit_compile": jit}


class _UnrolledForiLoop:
    """Context: `jax.lax.fori_loop` replaced by a Python loop, so XLA's cost analysis sees every iteration.

    The step looks `jax.lax.fori_loop` up when it is traced, so the program traced inside this context is the
    same computation with the critic loop unrolled. Used only to count FLOPs, never to time.
    """

    def __enter__(self):
        import jax

        self._jax, self._orig = jax, jax.lax.fori_loop

        def unrolled(lower, upper, body, init, **_):
            val = init
            for i in range(int(lower), int(upper)):
                val = body(i, val)
            return val

        jax.lax.fori_loop = unrolled
        return self

    def __exit__(self, *exc):
        self._jax.lax.fori_loop = self._orig
        return False


def xla_flops_unrolled(gan, data) -> float | None:
    """XLA's FLOPs of the step with the critic loop unrolled: cost analysis of the lowered (unoptimised) HLO.

    Lowered for the host CPU (abstract arguments placed on it: nothing is copied, compiled or run): on GPUs the
    PJRT plugin offers no cost analysis of a lowered program, and a *compiled* GPU program hides its
    convolutions in cuDNN custom calls, which XLA counts as 0 FLOPs. Convolutions and dots are counted the same
    whatever the platform the HLO is lowered for.
    """
    import jax

    cpu = jax.devices("cpu")[0]
    on_cpu = jax.sharding.SingleDeviceSharding(cpu)

    def abstract(a):
        return None if a is None else jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=on_cpu)

    state = jax.tree_util.tree_map(abstract, _jax_state(gan))
    data = jax.tree_util.tree_map(abstract, data)
    try:
        with _UnrolledForiLoop(), jax.default_device(cpu):
            lowered = jax.jit(gan.train_step).lower(state, data)
        return _xla_flops(lowered.cost_analysis())
    except Exception as exc:  # noqa: BLE001 - a count is optional; say why it is missing
        print(f"note: XLA cost analysis unavailable ({type(exc).__name__}: {exc}); using the hand count",
              file=sys.stderr)
        return None


def time_step(gan, batch, args, dist, mode: str, backend: str) -> dict:
    """The timed windows of one configuration (or only its XLA FLOP count with --flops-only)."""
    if args.flops_only:
        res = {"rates": [float("nan")], "compile_s": float("nan"), "logs": {}}
        if backend == "jax":
            import jax

            res["flops_xla"] = xla_flops_unrolled(gan, jax.tree_util.tree_map(jax.device_put, batch))
        return res
    if mode == "train_on_batch":
        return bench_train_on_batch(gan, batch, args, dist)
    if backend == "jax":
        return bench_jax_step(gan, batch, args, dist)
    return bench_tf_step(gan, batch, args)


def rate_fields(res: dict, rate: float, batch: int, replicas: int, args, build_s: float) -> dict:
    """The speed part of a result record (both modes): median rate, per-window rates, compile and build time."""
    return {
        "iters_per_s": round(rate, 4),
        "img_per_s": round(rate * batch, 3),
        "img_per_s_per_device": round(rate * batch / replicas, 3),
        "ms_per_iter": round(1000.0 / rate, 3),
        "iters_per_s_windows": [round(r, 4) for r in res["rates"]],
        "warmup": args.warmup,
        "steps_per_window": args.steps,
        "windows": args.windows,
        "compile_s": round(res["compile_s"], 2),
        "build_s": round(build_s, 2),
    }


def add_flops_and_context(out: dict, res: dict, rate: float, args, peak: float | None, replicas: int) -> None:
    """The part of a result record both modes share: FLOP rate against the peak, final losses, versions, date."""
    for key in ("flops_xla", "flops_xla_compiled_loop_once", "tf_jit_compile"):
        if key in res:
            out[key] = res[key]
    flops_used = out.get("flops_xla") or out["flops_hand"]
    out["flops_method"] = "xla_cost_analysis_unrolled" if out.get("flops_xla") else "hand_per_layer"
    out["flops_per_iter"] = flops_used
    out["achieved_tflops"] = round(flops_used * rate / 1e12, 3) if flops_used else None
    peak = peak * replicas if peak else peak
    out["peak_tflops"] = peak
    out["fraction_of_peak"] = round(out["achieved_tflops"] / peak, 4) if peak and out["achieved_tflops"] else None
    out["final_logs"] = {k: round(v, 5) for k, v in res["logs"].items()}
    out["finite"] = bool(all(np.isfinite(v) for v in res["logs"].values()))
    out["matmul_precision"] = args.matmul_precision
    out["versions"] = versions()
    out["date"] = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    out["host_load_avg_1m"] = round(os.getloadavg()[0], 2)
    out["seed"] = args.seed


def run_config(args, precision: str, convs: int, mode: str, peaks: dict[str, float]) -> dict:
    import keras

    from deblur_tf.run import build_gan

    backend = keras.backend.backend()
    from deblur_tf.distributed import setup

    keras.utils.clear_session()
    cfg = make_config(args, precision, convs)
    dist = setup(args.devices)
    dist.check_batch(args.batch, "--batch")
    if backend == "tensorflow" and dist.is_distributed:
        mode = "train_on_batch"  # the tf.distribute path feeds per-replica slices from the host
    t0 = time.perf_counter()
    with dist.scope():
        gan = build_gan(cfg, pretrained_vgg=not args.random_vgg)
    build_s = time.perf_counter() - t0
    batch = make_batch(cfg, args.data, args.seed)
    res = time_step(gan, batch, args, dist, mode, backend)
    flops = hand_flops(gan, args.size, args.n_critic)
    params_g = int(sum(np.prod(v.shape) for v in gan.generator.trainable_weights))
    del gan
    rate = statistics.median(res["rates"])
    out = {
        "benchmark": "train_step",
        "backend": backend,
        "device": device_name(),
        "mode": mode,
        "precision": precision,
        "convs_per_block": convs,
        "generator_params": params_g,
        "upsample": args.upsample,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "batch": args.batch,
        "replicas": dist.replicas,
        "distribution": dist.kind,
        "size": args.size,
        "n_critic": args.n_critic,
        "data": args.data,
        **rate_fields(res, rate, args.batch, dist.replicas, args, build_s),
        "flops_hand": flops["per_sample"] * args.batch,
        "flops_hand_parts_per_sample": {k: v for k, v in flops.items() if k != "per_sample"},
    }
    add_flops_and_context(out, res, rate, args, peaks.get(precision), dist.replicas)
    out["achieved_tflops_hand"] = round(out["flops_hand"] * rate / 1e12, 3)
    return out


def run_pipeline(args, mode: str, peaks: dict[str, float]) -> dict:
    """The bare step of a whole pipeline, built as `run_training` builds it (see the module docstring)."""
    import keras

    from deblur_tf.config import load_pipeline
    from deblur_tf.distributed import from_config
    from deblur_tf.run.build import build_gan, camera_model

    backend = keras.backend.backend()
    keras.utils.clear_session()
    cfg = load_pipeline(args.pipeline, args.overrides)
    dist = from_config(cfg)
    if backend == "tensorflow" and dist.is_distributed:
        mode = "train_on_batch"
    t0 = time.perf_counter()
    with dist.scope():
        gan = build_gan(cfg, pretrained_vgg=not args.random_vgg)
    build_s = time.perf_counter() - t0
    batch = pipeline_batch(cfg, args.seed)
    res = time_step(gan, batch, args, dist, mode, backend)
    d = cfg.data
    try:
        flops = hand_flops(gan, d.crop, cfg.optim.n_critic)
    except Exception as exc:  # noqa: BLE001 - a count is optional; say why it is missing
        print(f"note: no hand FLOP count ({type(exc).__name__}: {exc})", file=sys.stderr)
        flops = {"per_sample": 0}
    params_g = int(sum(np.prod(v.shape) for v in gan.generator.trainable_weights))
    del gan
    rate = statistics.median(res["rates"])
    out = {
        "benchmark": "train_step",
        "pipeline": cfg.name,
        "overrides": list(args.overrides),
        "backend": backend,
        "device": device_name(),
        "mode": mode,
        "precision": cfg.train.precision,
        "generator": cfg.generator.kind,
        "generator_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.generator.kwargs.items()},
        "generator_params": params_g,
        "adversarial": cfg.loss.adversarial,
        "n_critic": cfg.optim.n_critic if cfg.loss.adversarial != "none" else 0,
        "camera": camera_model(cfg),
        "data": d.kind,
        "batch": d.batch_size,
        "size": d.crop,
        "kernel_size": d.kernel_size,
        "replicas": dist.replicas,
        "distribution": dist.kind,
        "steps_per_s": round(rate, 4),
        **rate_fields(res, rate, d.batch_size, dist.replicas, args, build_s),
        "flops_hand": flops["per_sample"] * d.batch_size or None,
    }
    add_flops_and_context(out, res, rate, args, peaks.get(cfg.train.precision), dist.replicas)
    return out


def versions() -> dict[str, str]:
    import keras

    v = {"python": platform.python_version(), "keras": keras.__version__}
    for mod in ("jax", "jaxlib", "tensorflow"):
        if mod in sys.modules:
            v[mod] = getattr(sys.modules[mod], "__version__", "?")
    return v


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", default=None,
                   help="comma list of float32, mixed_bfloat16 (default mixed_bfloat16)")
    p.add_argument("--convs-per-block", default=None,
                   help="comma list: 1 = the authors' code (6.07 M), 2 = the paper (11.4 M); default 1,2")
    p.add_argument("--batch", type=int, default=None,
                   help="GLOBAL batch (with --devices N, each device gets batch/N: use 16*N to keep 16 per device)")
    p.add_argument("--devices", type=int, default=None,
                   help="data-parallel replicas via deblur_tf.distributed (JAX DataParallel / tf.distribute); "
                        "FLOPs and peak are totals over the devices")
    p.add_argument("--size", type=int, default=None, help="square crop size (multiple of 8)")
    p.add_argument("--ngf", type=int, default=None, help="generator width (64: the paper)")
    p.add_argument("--ndf", type=int, default=None, help="critic width (64: the paper)")
    p.add_argument("--n-critic", type=int, default=None)
    p.add_argument("--upsample", default=None, choices=("transpose", "resize"),
                   help="generator upsampling (transpose: the paper and the PyTorch reference)")
    p.add_argument("--steps", type=int, default=20, help="iterations per timed window")
    p.add_argument("--windows", type=int, default=5, help="timed windows; the median is reported")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations after compilation")
    p.add_argument("--data", default=None, choices=("paired", "synthetic"),
                   help="paired: (blurred, sharp) batch; synthetic: {sharp, kernel, noise_std}, blurred in the step")
    p.add_argument("--vgg-weights", default=DEFAULT_VGG, help=f"VGG16 block3 npz (default {DEFAULT_VGG})")
    p.add_argument("--random-vgg", action="store_true", help="random VGG weights (no npz needed; same speed)")
    p.add_argument("--peak-tflops", default=None,
                   help="device peak for the fraction: one number, or float32=67,mixed_bfloat16=990 (the default: "
                        "H100 SXM dense)")
    p.add_argument("--modes", default="step", help="comma list of step (compiled loop), train_on_batch")
    p.add_argument("--matmul-precision", default="default", choices=("default", "high", "highest"),
                   help="JAX: jax_default_matmul_precision (default lets XLA use TF32 for float32 on GPUs)")
    p.add_argument("--flops-only", action="store_true",
                   help="count FLOPs (hand; JAX: XLA of the traced step) without compiling or timing anything")
    p.add_argument("--no-xla-flops", action="store_true", help="JAX: skip tracing the unrolled step for XLA flops")
    p.add_argument("--tf-jit", default="auto", choices=("auto", "true", "false"),
                   help="TensorFlow: jit_compile of the step (auto: Keras' choice, off on CPU-only machines)")
    p.add_argument("--pipeline", default=None,
                   help="time this pipeline's step as `deblur-tf train -p NAME` builds it (see above); without it: "
                        f"the ResNet generator of {RESNET_PIPELINE} sized by the flags")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="pipeline override (repeatable); with --pipeline, what sets batch, crop, precision")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", default=None, help="also append each JSON line to this file")
    p.add_argument("--profile", default=None, metavar="DIR",
                   help="JAX: trace one extra window with jax.profiler into DIR (view in TensorBoard/Perfetto)")
    return p


def emit(result: dict, jsonl: str | None) -> None:
    """Print one JSON line, and append it to --jsonl when given."""
    line = json.dumps(result)
    print(line, flush=True)
    if jsonl:
        with open(jsonl, "a") as f:
            f.write(line + "\n")


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    given = [k for k in RESNET_DEFAULTS if getattr(args, k) is not None]
    if args.pipeline and given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise SystemExit(f"{flags}: ResNet-mode flags; with --pipeline use --set (data.batch_size=, data.crop=, "
                         "train.precision=, train.devices=, generator.<key>=)")
    for key, value in RESNET_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)

    import keras

    if keras.backend.backend() == "jax" and args.matmul_precision != "default":
        import jax

        jax.config.update("jax_default_matmul_precision", args.matmul_precision)
    precisions = [s.strip() for s in args.precision.split(",") if s.strip()]
    convs = [int(s) for s in args.convs_per_block.split(",") if s.strip()]
    modes = [s.strip() for s in args.modes.split(",") if s.strip()]
    for m in modes:
        if m not in ("step", "train_on_batch"):
            raise SystemExit(f"--modes: unknown mode {m!r}; use step and/or train_on_batch")
    if args.pipeline:
        for mode in modes:
            emit(run_pipeline(args, mode, parse_peaks(args.peak_tflops)), args.jsonl)
        return 0
    if not args.random_vgg and not (ROOT / args.vgg_weights).exists() and not Path(args.vgg_weights).exists():
        raise SystemExit(f"--vgg-weights {args.vgg_weights}: not found (relative paths are from the repository "
                         "root); give the npz path or --random-vgg")
    peaks = parse_peaks(args.peak_tflops)
    for precision, c, mode in itertools.product(precisions, convs, modes):
        emit(run_config(args, precision, c, mode, peaks), args.jsonl)
    return 0


if __name__ == "__main__":
    from deblur_tf.errors import DeblurError

    try:
        sys.exit(main())
    except DeblurError as exc:  # a bad --pipeline or --set: the one-line message, as `deblur-tf` prints it
        sys.exit(f"error: {exc}")

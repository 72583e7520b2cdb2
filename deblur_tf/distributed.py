"""Data-parallel training on several devices with each backend's own engine, chosen by `train.devices`.

| backend | engine | what a step does |
| --- | --- | --- |
| TensorFlow | `tf.distribute.MirroredStrategy` (one host), `MultiWorkerMirroredStrategy` when `TF_CONFIG` is set | each replica runs `DeblurGAN.train_step` on its slice of the global batch; the optimizers all-reduce (sum) the gradients, and the step divides each replica's mean loss by the replica count |
| JAX | `keras.distribution.DataParallel` over `jax.devices()` | one jitted program over the global batch, sharded along the batch axis (GSPMD inserts the all-reduces); variables replicated |

Why the step is correct per replica: the WGAN-GP penalty is a per-sample quantity (the gradient of the critic
at each sample's own interpolate), instance normalisation normalises each sample by its own statistics, and the
critic scores patches of one image at a time, so nothing in the step mixes samples except the loss means.
Those are taken over the GLOBAL batch: under JAX because the program is written for the global batch; under
TensorFlow because the per-replica mean losses are divided by the replica count before the gradients are
summed across replicas (`DeblurGAN._train_step_tensorflow`). tests/test_distributed.py checks on two logical
CPU devices, for both backends, that a 2-replica step gives the same weights as a 1-replica step on the same
global batch.

Batch and learning-rate policy (docs/TRAINING.md, docs/BENCHMARKS.md "Multi-GPU"):

- `data.batch_size` is the GLOBAL batch, whatever the device count; each of N replicas gets batch_size / N
  (which must divide). So the same config computes the same updates on 1 or N devices (up to float
  reduction order), a run can be resumed on a different number of GPUs, and `--devices` only changes speed.
- The learning rate is never rescaled automatically. To keep 16 images per GPU on 4 GPUs, set
  `data.batch_size = 64` yourself; whether to raise `optim.lr` with it is a training decision, not a
  speed one: the linear scaling rule (Goyal et al. 2017) is derived for SGD, Adam's update is invariant to
  the gradient's scale, and the DeblurGAN recipe already uses the same Adam lr (1e-4) at batch 1 (the
  paper) and 16 (our synthetic pipelines). WGAN-GP critics are sensitive to the lr; we keep 1e-4.
- Random draws: under JAX the gradient-penalty alphas, blur noise and dropout masks are drawn for the global
  batch exactly as on one device. Under TensorFlow each replica draws from the same seed state, so the
  replicas' alphas/dropout masks repeat across replicas (still uniform per sample; not the single-device
  stream). Exact 1-vs-N equality therefore holds with dropout off and a fixed `gp_alpha` (the tests).
- Multi-worker TensorFlow: every worker builds the same global batch (the data stream is a pure function of
  the step, `BatchSource.batch(epoch, step)`) and feeds the slices of its own replicas.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from deblur_tf.errors import DeblurError

KINDS = ("single", "mirrored", "multi_worker_mirrored", "jax_data_parallel")


@dataclass
class Distribution:
    """How a run places its GAN and feeds its steps; `setup(devices)` picks it."""

    kind: str
    replicas: int
    backend: str
    devices: list[str] = field(default_factory=list)
    strategy: Any = None  # tf.distribute.Strategy (TensorFlow kinds)
    layout: Any = None  # keras.distribution.DataParallel (JAX)
    _tf_step: Any = None
    _tf_step_owner: int | None = None

    @property
    def is_distributed(self) -> bool:
        return self.kind != "single"

    def describe(self) -> str:
        if not self.is_distributed:
            return f"{self.backend}: one device"
        return f"{self.backend}: {self.kind} over {self.replicas} replicas ({', '.join(self.devices)})"

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Build the GAN (models, optimizers) inside this, so its variables are mirrored/replicated."""
        if self.strategy is not None:
            with self.strategy.scope():
                yield
        else:
            yield

    def check_batch(self, global_batch: int, what: str = "data.batch_size") -> int:
        """The per-replica batch; a clear error when the global batch does not split evenly."""
        if global_batch % self.replicas:
            lo = max(self.replicas, global_batch // self.replicas * self.replicas)
            raise DeblurError(
                f"{what} = {global_batch} is the global batch and must be a multiple of the {self.replicas} "
                f"replicas (train.devices); use {lo} or {lo + self.replicas}"
            )
        return global_batch // self.replicas

    # ------------------------------------------------------------------ steps
    def train_on_batch(self, gan, batch) -> dict[str, float]:
        """One DeblurGAN step on a global batch: a (blurred, sharp) tuple or a synthetic dict."""
        x, y = (batch, None) if isinstance(batch, dict) else batch
        first = next(iter(x.values())) if isinstance(x, dict) else x
        self.check_batch(int(np.shape(first)[0]), "the batch")
        if self.strategy is None:  # one device, or JAX DataParallel (Keras shards the batch itself)
            return {k: float(v) for k, v in gan.train_on_batch(x, y, return_dict=True).items()}
        return self._tf_train_on_batch(gan, x, y)

    def predict(self, gan, x) -> np.ndarray:
        """The generator on a batch of any size (validation), outside the replicas."""
        if self.kind == "jax_data_parallel":
            import jax

            # the replicated weights live on every device: give the input the same (replicated) placement
            sharding = jax.tree_util.tree_leaves([v.value for v in gan.generator.weights])[0].sharding
            return np.asarray(gan.generator(jax.device_put(np.asarray(x, np.float32), sharding), training=False))
        if self.strategy is not None:
            return np.asarray(gan.generator(np.asarray(x, np.float32), training=False))
        return np.asarray(gan.predict_on_batch(x))

    def _tf_train_on_batch(self, gan, x, y) -> dict[str, float]:
        import tensorflow as tf

        strategy = self.strategy
        if self._tf_step is None or self._tf_step_owner != id(gan):

            @tf.function(reduce_retracing=True)
            def step(data):
                out = strategy.run(gan.train_step, args=(data,))
                return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

            self._tf_step, self._tf_step_owner = step, id(gan)
        n = self.replicas

        def split(array):
            array = np.asarray(array)
            per = array.shape[0] // n

            def shard(ctx):
                i = ctx.replica_id_in_sync_group
                return tf.constant(array[i * per : (i + 1) * per])

            return strategy.experimental_distribute_values_from_function(shard)

        data = {k: split(v) for k, v in x.items()} if isinstance(x, dict) else split(x)
        args = (data,) if y is None else (data, split(y))
        gan.reset_metrics()  # as train_on_batch: the logs are this step's values, not a running mean
        logs = self._tf_step(args)
        return {k: float(v) for k, v in logs.items()}


# ---------------------------------------------------------------------------------------------- choosing
def _tf_devices(devices: int) -> tuple[list[str], str]:
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    pool = gpus if gpus else tf.config.list_logical_devices("CPU")
    kind = "GPU" if gpus else "CPU"
    return [d.name for d in pool], kind


def setup(devices: int = 1, backend: str | None = None) -> Distribution:
    """The distribution for `devices` replicas: 1 = one device (no strategy), N > 1 = the first N devices,
    0 = every device (all GPUs; without GPUs, all CPU devices). Call before building the GAN.

    TensorFlow: `MultiWorkerMirroredStrategy` when `TF_CONFIG` is set (each worker then uses all its GPUs,
    `devices` must be 0 or that count), else `MirroredStrategy` over the first N GPUs (logical CPU devices
    when there is no GPU, which is what the tests use). JAX: `keras.distribution.DataParallel` over the first
    N of `jax.devices()`, set as the global Keras distribution.
    """
    import keras

    backend = backend or keras.backend.backend()
    devices = int(devices)
    if devices < 0:
        raise DeblurError(f"train.devices = {devices}: give 1 (one device), N > 1 (N devices) or 0 (all devices)")
    if backend == "tensorflow":
        return _setup_tf(devices)
    if backend == "jax":
        return _setup_jax(devices)
    if devices in (0, 1):
        return Distribution("single", 1, backend)
    raise DeblurError(f"train.devices = {devices}: multi-device training needs the tensorflow or jax backend")


def _setup_tf(devices: int) -> Distribution:
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        local = len(tf.config.list_logical_devices("GPU")) or 1
        if devices not in (0, local):
            raise DeblurError(
                f"train.devices = {devices}: with TF_CONFIG (multi-worker) each worker uses all of its {local} "
                "local device(s); set train.devices = 0 or leave TF_CONFIG unset"
            )
        return Distribution("multi_worker_mirrored", int(strategy.num_replicas_in_sync), "tensorflow",
                            devices=[f"{strategy.num_replicas_in_sync} replicas in TF_CONFIG's cluster"],
                            strategy=strategy)
    names, kind = _tf_devices(devices)
    n = len(names) if devices == 0 else devices
    if n == 1:
        return Distribution("single", 1, "tensorflow", devices=names[:1])
    if n > len(names):
        raise DeblurError(
            f"train.devices = {devices}: only {len(names)} TensorFlow {kind} device(s) visible ({', '.join(names)}); "
            "lower train.devices or check CUDA_VISIBLE_DEVICES"
        )
    strategy = tf.distribute.MirroredStrategy(devices=names[:n])
    return Distribution("mirrored", n, "tensorflow", devices=names[:n], strategy=strategy)


def _setup_jax(devices: int) -> Distribution:
    import jax
    import keras

    pool = jax.devices()
    n = len(pool) if devices == 0 else devices
    if n > len(pool):
        raise DeblurError(
            f"train.devices = {devices}: only {len(pool)} JAX device(s) visible ({pool}); lower train.devices, "
            "check CUDA_VISIBLE_DEVICES, or for CPU tests set XLA_FLAGS=--xla_force_host_platform_device_count=N "
            "before JAX starts"
        )
    if n == 1:
        keras.distribution.set_distribution(None)
        return Distribution("single", 1, "jax", devices=[str(pool[0])])
    layout = keras.distribution.DataParallel(devices=pool[:n])
    keras.distribution.set_distribution(layout)
    return Distribution("jax_data_parallel", n, "jax", devices=[str(d) for d in pool[:n]], layout=layout)


def from_config(cfg) -> Distribution:
    """`setup(cfg.train.devices)` (1 when the config has no such key), checking the global batch splits."""
    dist = setup(int(getattr(cfg.train, "devices", 1)))
    dist.check_batch(int(cfg.data.batch_size))
    return dist


__all__ = ["Distribution", "KINDS", "from_config", "setup"]

"""Feeding the steps: the batch stream (`Prefetcher`) and the one step interface the loop calls (`StepFeed`).

`StepFeed` has three implementations, picked once by `make_step_feed`, so the loop makes one call per step
whatever runs it:

* `KerasSteps`: `train_on_batch` on one device (any backend; the reference the others are tested against);
* `DistributedSteps`: the same over `tf.distribute` or `keras.distribution.DataParallel` (`deblur_tf.distributed`);
* `JaxDeviceLoop`: one JAX device, the training state kept on the accelerator between log lines.

Each gives `step(batch)`, `sync()` (write its state into the Keras variables before anything reads the model),
`window_means()` (the mean logs since the previous call) and `predict(x)` (the generator, for validation).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import keras
import numpy as np

from deblur_tf.distributed import Distribution
from deblur_tf.errors import DeblurError


class Prefetcher:
    """Batches for global steps start, start+1, ... built ahead by worker threads, returned in order.

    OpenCV and numpy release the GIL, so threads overlap batch building with the accelerator; they also
    keep JAX/TF runtimes out of forked processes.

    `transfer`, when given, runs on each finished batch in its worker thread: the JAX device loop passes
    `jax.device_put`, so the host-to-device copy of the next batches overlaps the running step instead of
    happening inside the jitted call on the main thread (4-5 ms of a 16 ms nafnet step, docs/TRAINING.md).
    """

    def __init__(self, source, start: int, workers: int = 4, depth: int | None = None,
                 transfer: Callable[[Any], Any] | None = None) -> None:
        self.source, self.next_step = source, int(start)
        self.transfer = transfer
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 0 else None
        self.depth = depth or max(2, 2 * workers)
        self.queue: list = []

    def _build(self, step: int):
        epoch, idx = divmod(step, self.source.steps_per_epoch)
        batch = self.source.batch(epoch, idx)
        return batch if self.transfer is None else self.transfer(batch)

    def get(self):
        if self.pool is None:
            batch = self._build(self.next_step)
            self.next_step += 1
            return batch
        while len(self.queue) < self.depth:
            self.queue.append(self.pool.submit(self._build, self.next_step + len(self.queue)))
        future = self.queue.pop(0)
        self.next_step += 1
        return future.result()

    def close(self) -> None:
        if self.pool is not None:
            for f in self.queue:
                f.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)


def train_on(gan, batch) -> dict[str, float]:
    """One DeblurGAN step on a (blurred, sharp) tuple or a synthetic dict."""
    if isinstance(batch, dict):
        return gan.train_on_batch(batch, return_dict=True)
    blurred, sharp = batch
    return gan.train_on_batch(blurred, sharp, return_dict=True)


class StepFeed(Protocol):
    """What the training loop calls: one `step` per global step, the rest only at log/validation/checkpoint."""

    def step(self, batch: Any) -> None: ...

    def sync(self) -> None: ...

    def window_means(self) -> dict[str, float]: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...


class KerasSteps:
    """`gan.train_on_batch` per step on one device; the logged values are summed on the host for the window mean."""

    def __init__(self, gan) -> None:
        self.gan = gan
        self.sums: dict[str, float] = {}
        self.count = 0

    def _train(self, batch) -> dict[str, Any]:
        return train_on(self.gan, batch)

    def step(self, batch) -> None:
        for k, v in self._train(batch).items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def sync(self) -> None:
        """Nothing to do: `train_on_batch` writes the Keras variables at every step."""

    def window_means(self) -> dict[str, float]:
        means = {k: v / self.count for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.gan.predict_on_batch(x)


class DistributedSteps(KerasSteps):
    """A step over several devices (`Distribution.train_on_batch`); validation runs outside the replicas."""

    def __init__(self, gan, dist: Distribution) -> None:
        super().__init__(gan)
        self.dist = dist

    def _train(self, batch) -> dict[str, float]:
        return self.dist.train_on_batch(self.gan, batch)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.dist.predict(self.gan, x)


class JaxDeviceLoop(KerasSteps):
    """Single-device JAX training steps that keep the whole training state on the accelerator between logs.

    `gan.train_on_batch` under JAX reads every variable into a state tuple, runs the jitted step, writes
    every variable back and converts the logs to numpy: a device sync and a few hundred Python-level
    assignments per step, during which the GPU idles (the trainer ran at 131-138 img/s where the bare jitted
    step does 164, docs/BENCHMARKS.md). Here the state tuple is threaded from step to step, as
    `keras.Model.fit` does; the Keras variables are only written (`sync`) when something reads the model
    (log line, validation, checkpoint, the end), and the only host sync is the log line.

    Window means come for free: the step's `keras.metrics.Mean` trackers accumulate across steps, so the
    logs at a log line are the means since the previous one; `window_means` then zeroes their state.
    The state is copied on the way in and out of the Keras variables, because the jitted step donates
    its input buffers: a variable must never alias a buffer the next step will consume.
    """

    def __init__(self, gan) -> None:
        super().__init__(gan)
        if not all(isinstance(m, keras.metrics.Mean) for m in gan.metrics):
            raise DeblurError("JaxDeviceLoop needs keras.metrics.Mean trackers (their state resets to zeros)")
        self.state: tuple | None = None
        self.logs: dict | None = None
        self.dirty = False

    def _groups(self) -> tuple[list, list, list, list]:
        g = self.gan
        return g.trainable_variables, g.non_trainable_variables, g.optimizer.variables, g.metrics_variables

    @staticmethod
    def transfer(batch):
        """Start the batch's copy to the device (asynchronous); `Prefetcher` calls it in a worker thread."""
        import jax  # only under JAX: TensorFlow installs may lack it

        return jax.device_put(batch)

    def step(self, batch) -> None:
        import jax.numpy as jnp  # only under JAX: TensorFlow installs may lack it

        if self.state is None:
            # the first step goes through Keras: it builds the metrics and compiles the train function
            self.logs = train_on(self.gan, batch)
            self.state = tuple([jnp.copy(v.value) for v in group] for group in self._groups())
            return
        data = (batch, None, None) if isinstance(batch, dict) else (batch[0], batch[1], None)
        self.logs, self.state = self.gan.train_function(self.state, iter([data]))
        self.dirty = True

    def window_means(self) -> dict[str, float]:
        """Means of the logged values since the last call (the one host sync), then a fresh window."""
        import jax.numpy as jnp  # only under JAX: TensorFlow installs may lack it

        means = {k: float(v) for k, v in self.logs.items()}
        tv, ntv, ov, mv = self.state
        self.state = (tv, ntv, ov, [jnp.zeros_like(v) for v in mv])
        if not self.dirty:  # the Keras trackers equal the state now (synced, or only the Keras first step)
            self.gan.reset_metrics()
        return means

    def sync(self) -> None:
        """Write the device state into the Keras variables (copies: the next step donates the state)."""
        import jax.numpy as jnp  # only under JAX: TensorFlow installs may lack it

        if not self.dirty:
            return
        for group, values in zip(self._groups(), self.state, strict=True):
            for var, value in zip(group, values, strict=True):
                var.assign(jnp.copy(value))
        self.dirty = False


def make_step_feed(gan, dist: Distribution, device_loop: bool = True) -> StepFeed:
    """The step feed for a run: several devices -> `DistributedSteps`; one JAX device with `device_loop` ->
    `JaxDeviceLoop`; otherwise `KerasSteps`."""
    if dist.is_distributed:
        return DistributedSteps(gan, dist)
    if device_loop and keras.backend.backend() == "jax":
        return JaxDeviceLoop(gan)
    return KerasSteps(gan)

"""Machine description and call timing shared by `deblur-tf evaluate` and benchmarks/, and whether this
machine can write TensorBoard summaries (training, `ExplainCallback`).

Every figure we publish names the machine it came from, and on the shared 2-core CI box wall time alone is
misleading (other jobs steal the cores), so timings report process CPU time next to wall time.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path


def cpu_name() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def time_calls(fn: Callable[[], object], repeats: int) -> tuple[list[float], list[float], float]:
    """(wall seconds per call, process-CPU seconds per call, first call's wall seconds) for `repeats` calls
    after one untimed-for-the-median warm-up call (tracing, XLA compilation, allocator warm-up)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return wall, cpu, first


def tensorboard_missing() -> str | None:
    """Why TensorBoard summaries cannot be written here, or None if they can.

    `tf.summary.scalar/image` need both TensorFlow and the separate `tensorboard` package (TensorFlow 2.21 no
    longer installs it); a training run must not die at its first log line because one of them is absent.
    """
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return "TensorFlow is not installed (normal on the JAX training machines)"
    try:
        import tensorboard.summary  # noqa: F401  (what tf.summary.scalar/image load lazily)
    except Exception as exc:  # absent, or a broken install that would fail at the first summary
        return f"the tensorboard package does not import ({type(exc).__name__}: {exc}); pip install tensorboard"
    return None

"""Machine description and call timing shared by `deblur-tf evaluate` and benchmarks/.

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

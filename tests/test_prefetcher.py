"""The trainer's batch feed: batches come back in step order across epochs, built (and, with `transfer`, sent to
the device) in worker threads rather than on the thread that runs the training step."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from deblur_tf.run.feed import Prefetcher


class _Steps:
    """A batch source whose batch is its (epoch, step) and the thread that built it."""

    steps_per_epoch = 3

    def batch(self, epoch: int, step: int):
        return {"at": np.array([epoch, step]), "built_on": threading.current_thread().name}


@pytest.mark.parametrize("workers", [0, 3])
def test_batches_arrive_in_order_and_transfer_runs_where_they_are_built(workers):
    seen = []

    def transfer(batch):
        seen.append(threading.current_thread().name)
        return {**batch, "sent": True}

    feed = Prefetcher(_Steps(), start=4, workers=workers, transfer=transfer)
    try:
        got = [feed.get() for _ in range(5)]
    finally:
        feed.close()
    assert [tuple(b["at"]) for b in got] == [(1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]  # steps 4..8 of 3 per epoch
    assert all(b["sent"] for b in got)
    main = threading.current_thread().name
    if workers:
        assert all(b["built_on"] != main for b in got) and main not in seen
    else:
        assert all(b["built_on"] == main for b in got)


def test_without_transfer_the_batch_is_the_sources():
    feed = Prefetcher(_Steps(), start=0, workers=2)
    try:
        first = feed.get()
    finally:
        feed.close()
    assert set(first) == {"at", "built_on"} and tuple(first["at"]) == (0, 0)

"""The JAX-backend path: the same batches as tf.data, as a `keras.utils.PyDataset`, without TensorFlow.

The GPU training machine has JAX but no TensorFlow, so nothing here (or in the modules it imports) may
import it. Batches come from `source.batch(epoch, step)`, the very function the tf.data path calls, so
augmentations and seeds are shared by construction. `__getitem__` is a pure function of (epoch, index):
any number of workers can build batches in any order. The epoch advances in `on_epoch_end`; with
`use_multiprocessing=True` Keras copies the dataset into fresh worker processes per epoch, which carries
the new epoch along.

Sets whose batches call Keras ops (BlurredPairs, Mixture) should use thread workers under JAX: a forked
process must not inherit an initialised accelerator runtime.
"""

from __future__ import annotations

import keras

from deblur_tf.data.common import BatchSource


class NumpyDataset(keras.utils.PyDataset):
    """A `keras.utils.PyDataset` over a BatchSource; `model.fit(ds)` runs one epoch per pass.

    Args:
        source: a PairedFolder, SyntheticPairs, BlurredPairs or Mixture.
        epoch: the epoch to start at (to resume).
        workers, use_multiprocessing, max_queue_size: passed to PyDataset.
    """

    def __init__(self, source: BatchSource, epoch: int = 0, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size)
        self.source = source
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return int(self.source.steps_per_epoch)

    def __getitem__(self, index: int):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} out of range (the epoch has {len(self)} batches)")
        return self.source.batch(self.epoch, int(index))

    def on_epoch_end(self) -> None:
        if not self.source.fixed:
            self.epoch += 1

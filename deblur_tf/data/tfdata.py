"""tf.data wrappers for the sets in deblur_tf.data (TensorFlow only; never imported on the JAX path).

Why the batches are built by numpy inside the tf.data graph rather than by tf.image ops: the images are
decoded once with OpenCV and cached (deblur_tf.data.common), and every random decision is drawn with numpy
from seed-keyed generators, so the tf.data stream and the JAX machine's PyDataset stream are the same
numbers (a test checks it). What tf.data contributes is the scheduling: `AUTOTUNE` parallel calls of the
batch function (OpenCV decodes and numpy copies release the GIL), deterministic ordering and prefetching,
so batches are ready before `model.fit` asks for them.

The stream is `batch(epoch, step)` for a running counter: with `repeat=True` (training) it is infinite and
each epoch gets its own shuffle and crops, so pass `steps_per_epoch=source.steps_per_epoch` to `fit`.
Fixed evaluation sets default to one finite pass.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from deblur_tf.data.common import BatchSource, Spec


def _flat_specs(spec) -> tuple[list[Spec], object]:
    """Flatten a Spec / tuple / dict of Specs; returns the list and a description to pack it back."""
    if isinstance(spec, Spec):
        return [spec], None
    if isinstance(spec, dict):
        keys = sorted(spec)
        return [spec[k] for k in keys], ("dict", keys)
    return list(spec), ("tuple", len(spec))


def _flatten(out, layout) -> list:
    if layout is None:
        return [out]
    if layout[0] == "dict":
        return [out[k] for k in layout[1]]
    return list(out)


def _pack(flat: list, layout):
    if layout is None:
        return flat[0]
    if layout[0] == "dict":
        return dict(zip(layout[1], flat, strict=True))
    return tuple(flat)


def to_tf_dataset(source: BatchSource, repeat: bool | None = None, epoch: int = 0) -> tf.data.Dataset:
    """`source`'s batches as a tf.data.Dataset, starting at `epoch` (to resume training where it stopped).

    repeat: None means infinite for training sets and one pass for fixed evaluation sets.
    """
    if repeat is None:
        repeat = not source.fixed
    steps = int(source.steps_per_epoch)
    specs, layout = _flat_specs(source.spec)
    dtypes = [tf.as_dtype(s.dtype) for s in specs]
    start = int(epoch) * steps
    counter = tf.data.Dataset.counter(start) if repeat else tf.data.Dataset.range(start, start + steps)

    def load(i) -> list[np.ndarray]:
        e, s = divmod(int(i), steps)
        return [np.asarray(a, dtype=s_.dtype) for a, s_ in zip(_flatten(source.batch(e, s), layout), specs,
                                                                   strict=True)]

    eager = getattr(source, "uses_backend_ops", False)

    def graph_fn(i):
        if eager:  # batch() calls Keras ops (the blur): tf.py_function runs them eagerly
            outs = tf.py_function(lambda t: load(t.numpy()), [i], Tout=dtypes)
        else:
            outs = tf.numpy_function(load, [i], Tout=dtypes, stateful=False)
        for t, s in zip(outs, specs, strict=True):
            t.set_shape(s.shape)
        return _pack(list(outs), layout)

    ds = counter.map(graph_fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)

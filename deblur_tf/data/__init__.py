"""Training and evaluation sets: paired folders, on-the-fly synthetic blur, and their mixture.

Importing this package does not import TensorFlow (the GPU machine trains under JAX without it): the
sets are built and validated by numpy/OpenCV code, `.as_py_dataset()` gives a `keras.utils.PyDataset`,
and only `.as_tf_dataset()` imports tensorflow (deblur_tf/data/tfdata.py).

    from deblur_tf.data import PairedFolder, SyntheticPairs, mix
    pairs = PairedFolder("gopro/train", crop=256, batch_size=16, seed=0)
    model.fit(pairs.as_tf_dataset(), steps_per_epoch=pairs.steps_per_epoch, epochs=300)   # TensorFlow
    model.fit(pairs.as_py_dataset(workers=2), epochs=300)                                  # JAX
"""

from deblur_tf.data.common import BatchSource, DatasetError
from deblur_tf.data.sources import BlurredPairs, Mixture, PairedFolder, SyntheticPairs, blur_batch, mix

__all__ = [
    "BatchSource",
    "BlurredPairs",
    "DatasetError",
    "Mixture",
    "PairedFolder",
    "SyntheticPairs",
    "blur_batch",
    "mix",
]

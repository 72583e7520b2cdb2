"""Regenerate tests/data/shipped_reference.npz after retraining a shipped model (run under TensorFlow):

    KERAS_BACKEND=tensorflow python tests/make_shipped_reference.py

The reference is the model's output on a fixed 64x64 input, stored as float16: small, and a broken or swapped
weights file changes it by far more than the 50 dB tolerance of tests/test_shipped_models.py.
"""

from pathlib import Path

import numpy as np


def reference_input() -> np.ndarray:
    """A fixed, deterministic blurry-looking test card in [-1, 1]: edges, a gradient and a box-blurred checker."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float32) / 63.0
    checker = ((np.floor(x * 8) + np.floor(y * 8)) % 2).astype(np.float32)
    k = np.ones(5, np.float32) / 5
    blurred = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, checker)
    img = np.stack([blurred, 0.5 * x + 0.25, 1.0 - y * blurred], axis=-1)
    return (img[None] * 2.0 - 1.0).astype(np.float32)


if __name__ == "__main__":
    from deblur_tf.zoo import list_models, load_model

    out = {}
    for m in list_models():
        model = load_model(m["name"])
        out[m["name"]] = np.asarray(model.predict(reference_input()), np.float32).astype(np.float16)
    path = Path(__file__).parent / "data" / "shipped_reference.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path}: {sorted(out)}")

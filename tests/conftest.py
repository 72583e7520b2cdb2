"""Shared fixtures. The Keras backend comes from KERAS_BACKEND (scripts/test.sh runs the suite twice)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# JAX's default partitionable threefry PRNG takes seconds of XLA:CPU compile per weight shape, which every
# model build under the JAX backend pays (measured: 50 s -> 7 s for a tiny generator); the classic one is
# equally valid for tests. Set before anything imports jax.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEBLUR_SHARED", ROOT.parent / "shared"))


def pytest_collection_modifyitems(config, items):
    """Each pass deselects the tests of the other backend's own code: TensorFlow-only tests under JAX (they ran
    in the TensorFlow pass), JAX-only ones under TensorFlow."""
    import keras

    other = "jax_only" if keras.backend.backend() == "tensorflow" else "tf_only"
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker(other) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.exists():
        pytest.fail(f"{SHARED} not found: tests need ../shared beside the checkout (or DEBLUR_SHARED)")
    return SHARED


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

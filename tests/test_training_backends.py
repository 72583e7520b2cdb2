"""The JAX and TensorFlow train steps are the same algorithm: same start, same batch -> same update.

Each backend runs in its own subprocess (a process has one Keras backend). The JAX process builds a tiny
GAN and saves its initial weights; the TensorFlow process loads them, so both start from identical weights
and take one step (2 critic + 1 generator updates) on the same batch with dropout off and a fixed
gradient-penalty alpha (the backends' random streams differ). Plain SGD, whose update is proportional to
the gradient, makes the comparison sensitive to the gradients themselves (Adam's first step is ~lr*sign(g)).
The TensorFlow process also loads the generator weights the JAX process trained and must reproduce its
outputs: weights trained on the JAX GPU machines serve under TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def worker(out_dir: str) -> None:
    """One backend's side (run in a subprocess with KERAS_BACKEND set)."""
    import keras
    from keras import ops

    sys.path.insert(0, str(HERE))
    from test_training import tiny_gan

    backend = keras.backend.backend()
    out = Path(out_dir)
    gan = tiny_gan(n_critic=2, dropout=0.0, perceptual=True, l1=1.0, seed=0, gp_alpha=0.3,
                   optimizers=(keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3)))
    parts = {"generator": gan.generator, "critic": gan.critic, "features": gan.feature_extractor}
    if (out / "init_generator.weights.h5").exists():
        for name, model in parts.items():
            model.load_weights(out / f"init_{name}.weights.h5")
    else:
        for name, model in parts.items():
            model.save_weights(out / f"init_{name}.weights.h5")

    def flat(model):
        return {f"{model.name}/{i}": np.asarray(ops.convert_to_numpy(v.value)) for i, v in enumerate(model.weights)}

    before = {**flat(gan.generator), **flat(gan.critic)}
    rng = np.random.default_rng(0)
    sharp = np.tanh(rng.normal(0, 0.7, (2, 16, 16, 3))).astype("float32")
    blurred = (0.5 * sharp + 0.5 * np.roll(sharp, 2, axis=2)).astype("float32")
    logs = gan.train_on_batch(blurred, sharp, return_dict=True)
    after = {**flat(gan.generator), **flat(gan.critic)}
    np.savez(out / f"{backend}_before.npz", **before)
    np.savez(out / f"{backend}_after.npz", **after)
    (out / f"{backend}_logs.json").write_text(json.dumps({k: float(v) for k, v in logs.items()}))

    x = np.linspace(-1, 1, 2 * 16 * 16 * 3, dtype="float32").reshape(2, 16, 16, 3)
    gan.generator.save_weights(out / f"{backend}_trained_generator.weights.h5")
    np.save(out / f"{backend}_outputs.npy", np.asarray(gan.generator.predict(x, verbose=0)))
    other = "jax" if backend == "tensorflow" else "tensorflow"
    if (out / f"{other}_trained_generator.weights.h5").exists():
        fresh = tiny_gan(n_critic=2, dropout=0.0, perceptual=False, seed=3).generator
        fresh.load_weights(out / f"{other}_trained_generator.weights.h5")
        np.save(out / f"{backend}_outputs_of_{other}_weights.npy", np.asarray(fresh.predict(x, verbose=0)))


def _run(backend: str, out: Path) -> None:
    env = {**os.environ, "KERAS_BACKEND": backend,
           "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"}
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import test_training_backends as t; t.worker({str(out)!r})"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{backend} worker failed:\n{proc.stderr[-4000:]}"


@pytest.mark.tf_only
@pytest.mark.slow
def test_jax_and_tensorflow_steps_give_the_same_update(tmp_path):
    _run("jax", tmp_path)  # saves the initial weights
    _run("tensorflow", tmp_path)  # loads them, and the weights JAX trained
    jb, ja = np.load(tmp_path / "jax_before.npz"), np.load(tmp_path / "jax_after.npz")
    tb, ta = np.load(tmp_path / "tensorflow_before.npz"), np.load(tmp_path / "tensorflow_after.npz")
    assert sorted(ja.files) == sorted(ta.files)
    for prefix in ("deblurgan_resnet/", "patchgan_critic/"):
        keys = [k for k in ja.files if k.startswith(prefix)]
        assert keys, prefix
        for k in keys:
            np.testing.assert_array_equal(jb[k], tb[k])  # same start
        d_jax = np.concatenate([(ja[k] - jb[k]).ravel() for k in keys])
        d_tf = np.concatenate([(ta[k] - tb[k]).ravel() for k in keys])
        w_tf = np.concatenate([ta[k].ravel() for k in keys])
        assert np.linalg.norm(d_tf) > 0, f"{prefix}: no update"
        # the updates agree (the sensitive check) and so do the weights (the brief's 1e-4 relative)
        upd = np.linalg.norm(d_jax - d_tf) / np.linalg.norm(d_tf)
        assert upd < 1e-3, f"{prefix}: updates differ by {upd:.2e} relative"
        assert np.max(np.abs(d_jax - d_tf)) <= 1e-4 * max(np.max(np.abs(w_tf)), 1e-3)
    lj = json.loads((tmp_path / "jax_logs.json").read_text())
    lt = json.loads((tmp_path / "tensorflow_logs.json").read_text())
    assert lj == pytest.approx(lt, rel=1e-4, abs=1e-5)
    # JAX-trained weights load under TensorFlow and give the same outputs
    np.testing.assert_allclose(np.load(tmp_path / "tensorflow_outputs_of_jax_weights.npy"),
                               np.load(tmp_path / "jax_outputs.npy"), atol=1e-4, rtol=0)

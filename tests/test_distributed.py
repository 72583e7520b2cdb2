"""Data-parallel training (deblur_tf.distributed): 2 replicas on 2 logical CPU devices give the 1-replica update.

The device count of a backend is fixed when it starts (TensorFlow: logical device configuration; JAX:
XLA_FLAGS=--xla_force_host_platform_device_count), so each check runs in a fresh subprocess. Each test pass
checks its own backend's engine: MirroredStrategy under KERAS_BACKEND=tensorflow, keras.distribution.DataParallel
under KERAS_BACKEND=jax.

The optimizers are SGD with momentum rather than Adam: Adam's update is invariant to the gradient's scale, so it
would hide the classic data-parallel bug (replica gradients summed instead of averaged) that these tests exist
to catch; momentum keeps an optimizer state that must be updated identically on every replica.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from deblur_tf.distributed import setup
from deblur_tf.models import build_critic, build_generator, build_vgg_features
from deblur_tf.gan import DeblurGAN, averaged_generator

cfg = json.loads(sys.argv[1])

def build():
    keras.utils.set_random_seed(0)
    gen = build_generator("resnet", ngf=4, n_blocks=1, convs_per_block=1, dropout=cfg["dropout"])
    critic = build_critic(ndf=4, n_layers=1)
    feats = build_vgg_features("vgg16_npz", ["block1_conv1"], pretrained=False) if cfg["perceptual"] else None
    gan = DeblurGAN(gen, critic, feats, n_critic=cfg["n_critic"], l1_weight=1.0, gp_alpha=cfg["gp_alpha"],
                    perceptual_weight=1.0 if cfg["perceptual"] else 0.0, seed=3)
    opt = lambda **kw: keras.optimizers.SGD(cfg["lr"], momentum=0.9, **kw)
    # the generator's weight average (optim.ema) is optimizer state too: every replica must keep the same one
    gan.compile(opt(use_ema=True, ema_momentum=0.5), opt(), jit_compile=cfg["jit"])
    return gan

rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
y = np.clip(x + rng.normal(0, 0.3, x.shape), -1, 1).astype("float32")
batch = (x, y) if cfg["data"] == "paired" else {
    "sharp": y, "kernel": np.full((4, 3, 3), 1 / 9, "float32"), "noise_std": np.zeros((4,), "float32")}

out = {}
for n in (1, 2):
    dist = setup(n)
    with dist.scope():
        gan = build()
    w0 = [np.array(v.value) for v in gan.generator.weights + gan.critic.weights]
    logs = [dist.train_on_batch(gan, batch) for _ in range(cfg["steps"])]
    w = [np.array(v.value) for v in gan.generator.weights + gan.critic.weights]
    with averaged_generator(gan) as swapped:
        avg = [np.array(v.value) for v in gan.generator.trainable_weights]
    out[n] = {"kind": dist.kind, "replicas": dist.replicas, "logs": logs,
              "weights": [a.tolist() for a in w], "average": [a.tolist() for a in avg] if swapped else None,
              "moved": max(float(np.abs(a - b).max()) for a, b in zip(w, w0)),
              "predict_shape": list(dist.predict(gan, x[:3]).shape)}
print("RESULT " + json.dumps(out))
"""


def run_worker(backend: str, **cfg) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), JAX_THREEFRY_PARTITIONABLE="0",
               TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    if backend == "jax":
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
    params = {"dropout": 0.0, "gp_alpha": 0.3, "lr": 1e-3, "jit": False, "data": "paired", "steps": 2,
              "n_critic": 2, "perceptual": True, **cfg}
    proc = subprocess.run([sys.executable, "-c", WORKER, json.dumps(params)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"worker failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def assert_same_update(res: dict, expected_kind: str) -> None:
    one, two = res["1"], res["2"]
    assert one["kind"] == "single" and one["replicas"] == 1
    assert two["kind"] == expected_kind and two["replicas"] == 2
    assert one["moved"] > 1e-4  # the steps really changed the weights, so equal weights mean equal updates
    for a, b in zip(one["weights"], two["weights"], strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=2e-6)
    assert one["average"] is not None and two["average"] is not None
    trained = one["weights"][: len(one["average"])]  # the generator's weights come first; all are trainable here
    assert any(not np.allclose(a, b) for a, b in zip(one["average"], trained, strict=True))  # an average, not a copy
    for a, b in zip(one["average"], two["average"], strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=2e-6)
    for la, lb in zip(one["logs"], two["logs"], strict=True):  # losses are global-batch means on both
        for key in la:
            np.testing.assert_allclose(lb[key], la[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert one["predict_shape"] == two["predict_shape"] == [3, 16, 16, 3]


@pytest.mark.slow
def test_two_replicas_give_the_one_replica_update():
    """Same global batch of 4, two steps of critic update(s) + 1 generator update.

    TensorFlow (MirroredStrategy): fixed GP alpha and no dropout, because each replica draws from the same
    seed state (documented in deblur_tf.distributed). JAX (DataParallel): the random step, with dropout and
    per-sample GP alphas, since the sharded program draws for the global batch exactly as one device does.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        assert_same_update(run_worker("tensorflow"), "mirrored")
    else:
        # n_critic=1 and no VGG: XLA:CPU compile time is what this test costs on 2 cores
        res = run_worker("jax", dropout=0.5, gp_alpha=None, n_critic=1, perceptual=False, lr=1e-4)
        assert_same_update(res, "jax_data_parallel")


def test_global_batch_must_split_over_replicas():
    from deblur_tf.distributed import Distribution
    from deblur_tf.errors import DeblurError

    dist = Distribution("mirrored", 2, keras.backend.backend())
    assert dist.check_batch(16) == 8
    with pytest.raises(DeblurError, match="multiple of the 2 replicas"):
        dist.check_batch(5)


def test_more_devices_than_visible_is_a_clear_error():
    from deblur_tf.distributed import setup
    from deblur_tf.errors import DeblurError

    with pytest.raises(DeblurError, match="train.devices = 64"):
        setup(64)
    with pytest.raises(DeblurError, match="train.devices = -1"):
        setup(-1)
    assert setup(1).kind == "single"

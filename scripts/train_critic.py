"""Train a PatchGAN critic against a frozen shipped generator, for `deblur-tf explain`.

The GPU runs that made the shipped generators kept their critics on the GPU machine (too large to bring back
within the lease), and `explain` needs a critic that has learned what the *shipped* generator's output looks
like next to sharp photos. This runs the project's own DeblurGAN step (WGAN-GP, 5 critic updates per step)
with the generator's learning rate at 0, so only the critic learns, on synthetic-blur crops of the training
photos, and writes `critic.weights.h5` + `critic.json` next to the model:

    KERAS_BACKEND=tensorflow python scripts/train_critic.py deblurgan-mobile --steps 300

Seeded (`--seed`, recorded in critic.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from deblur_tf.data import SyntheticPairs
from deblur_tf.gan import DeblurGAN
from deblur_tf.models import build_critic
from deblur_tf.run import train_on
from deblur_tf.zoo import WEIGHTS_DIR, load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="shipped model name")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-dir", default=str(Path(__file__).resolve().parents[1].parent / "shared/data/sharp/train"))
    a = p.parse_args()

    keras.utils.set_random_seed(a.seed)
    generator = load_model(a.model).keras_model
    kwargs = {"ndf": 64, "n_layers": 3, "norm": "instance"}
    critic = build_critic(**kwargs)
    gan = DeblurGAN(generator, critic, None, n_critic=5, perceptual_weight=0.0, l1_weight=0.0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.Adam(1e-4, beta_1=0.5, beta_2=0.999))
    data = SyntheticPairs(a.train_dir, crop=a.crop, batch_size=a.batch, kernel_size=31, kernel_bank=512,
                          noise_std=(0.0, 0.01), gamma=2.2, seed=a.seed)
    before = [np.array(w) for w in generator.get_weights()]
    t0, logs = time.time(), {}
    for step in tqdm(range(a.steps), desc=f"critic for {a.model}"):
        logs = train_on(gan, data.batch(step // data.steps_per_epoch, step % data.steps_per_epoch))
    assert all(np.array_equal(b, w) for b, w in zip(before, generator.get_weights(), strict=True))
    out = WEIGHTS_DIR / a.model
    critic.save_weights(out / "critic.weights.h5")
    (out / "critic.json").write_text(json.dumps({
        "kwargs": kwargs, "trained_against": a.model, "steps": a.steps, "crop": a.crop, "batch": a.batch,
        "seed": a.seed, "final_d_loss": float(logs.get("d_loss", float("nan"))),
        "cpu_seconds_wall": round(time.time() - t0, 1),
    }, indent=2) + "\n")
    print(f"wrote {out / 'critic.weights.h5'} (d_loss {logs.get('d_loss')})")


if __name__ == "__main__":
    main()

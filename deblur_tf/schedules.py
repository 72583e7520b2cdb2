"""The paper's learning-rate schedule: constant, then linear decay to zero.

DeblurGAN trains 150 epochs at lr 1e-4 and decays linearly to 0 over the next 150 (Kupyn et al. 2018, §4).
The schedule here is counted in *generator* steps, because that is the unit a pipeline speaks in ("train
N steps"). The critic's Adam takes `n_critic` steps per generator step, so its optimizer's `iterations`
runs `n_critic` times faster; giving the critic's schedule `step_divisor=n_critic` maps its iteration count
back onto generator steps, and both learning rates then decay together, as in the authors' code (which
decays both once per epoch).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="deblur_tf")
class ConstantThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`initial_learning_rate` for `constant_steps`, then a straight line to 0 over `decay_steps`.

    `step_divisor` turns an optimizer's iteration count into generator steps (``step // step_divisor``);
    use `n_critic` for the critic's optimizer, 1 for the generator's. After the decay the rate stays 0;
    `decay_steps=0` keeps it constant for ever.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        constant_steps: int,
        decay_steps: int,
        step_divisor: int = 1,
    ) -> None:
        super().__init__()
        if constant_steps < 0 or decay_steps < 0:
            raise ValueError(f"constant_steps and decay_steps must be >= 0, got {constant_steps}, {decay_steps}")
        if step_divisor < 1:
            raise ValueError(f"step_divisor must be >= 1, got {step_divisor}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.constant_steps = int(constant_steps)
        self.decay_steps = int(decay_steps)
        self.step_divisor = int(step_divisor)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        gen_step = ops.floor(step / float(self.step_divisor))
        if self.decay_steps == 0:
            return self.initial_learning_rate * ops.ones_like(gen_step)
        frac = ops.clip((gen_step - float(self.constant_steps)) / float(self.decay_steps), 0.0, 1.0)
        return self.initial_learning_rate * (1.0 - frac)

    def get_config(self) -> dict:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "constant_steps": self.constant_steps,
            "decay_steps": self.decay_steps,
            "step_divisor": self.step_divisor,
        }

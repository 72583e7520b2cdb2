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


@keras.saving.register_keras_serializable(package="deblur_tf")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup_steps`, `constant_steps` at the peak, then a half cosine from the peak to
    `min_ratio` x peak over `decay_steps`: the schedule of NAFNet/MPRNet/Restormer, which train content
    models at high rates (1e-3 for NAFNet) that would diverge without the warm-up.

    `offset` shifts the schedule: a run continued from another run's weights with a fresh optimizer (GPU
    sessions cannot carry Adam's state, ../shared/GPU.md) resumes the schedule at the step it had reached,
    while the warm-up restarts from 0, so the new Adam moments settle before the rate is back at its value.
    """

    def __init__(
        self,
        initial_learning_rate: float,
        constant_steps: int,
        decay_steps: int,
        warmup_steps: int = 0,
        min_ratio: float = 1e-3,
        step_divisor: int = 1,
        offset: int = 0,
    ) -> None:
        super().__init__()
        if min(constant_steps, decay_steps, warmup_steps, offset) < 0 or step_divisor < 1:
            raise ValueError("WarmupCosine: steps and offset must be >= 0 and step_divisor >= 1")
        self.initial_learning_rate = float(initial_learning_rate)
        self.constant_steps, self.decay_steps = int(constant_steps), int(decay_steps)
        self.warmup_steps, self.min_ratio = int(warmup_steps), float(min_ratio)
        self.step_divisor, self.offset = int(step_divisor), int(offset)

    def __call__(self, step):
        import math

        local = ops.floor(ops.cast(step, "float32") / float(self.step_divisor))
        gen_step = local + float(self.offset)
        warm = ops.minimum((local + 1.0) / float(self.warmup_steps), 1.0) if self.warmup_steps else 1.0
        if self.decay_steps == 0:
            return self.initial_learning_rate * warm * ops.ones_like(gen_step)
        frac = ops.clip((gen_step - float(self.constant_steps)) / float(self.decay_steps), 0.0, 1.0)
        cos = 0.5 * (1.0 + ops.cos(math.pi * frac))
        return self.initial_learning_rate * warm * (self.min_ratio + (1.0 - self.min_ratio) * cos)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "constant_steps": self.constant_steps,
                "decay_steps": self.decay_steps, "warmup_steps": self.warmup_steps, "min_ratio": self.min_ratio,
                "step_divisor": self.step_divisor, "offset": self.offset}

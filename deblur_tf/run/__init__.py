"""A training run: pipeline config -> data + DeblurGAN -> a run directory with checkpoints and logs.

| module | its one job |
| --- | --- |
| `build` | the only code that reads the training config: networks, the compiled GAN, data, fine-tuning init |
| `checkpoints` | the full training state of a step on disk, and back (exact resume) |
| `feed` | the batch stream and the one step interface (plain Keras, tf.distribute / DataParallel, JAX device loop) |
| `logs` | log.csv, TensorBoard, validation and its triptychs |
| `loop` | the run directory and the loop that steps, logs, validates and checkpoints |

Nothing here imports TensorFlow under KERAS_BACKEND=jax (the GPU machines have none); TensorBoard logging turns
itself off without it.
"""

from deblur_tf.run.build import (
    build_data,
    build_gan,
    build_networks,
    camera_model,
    enable_jax_compile_cache,
    init_from_model,
    resolve_run_config,
)
from deblur_tf.run.checkpoints import list_checkpoints, restore_checkpoint, rng_variables, save_checkpoint
from deblur_tf.run.feed import JaxDeviceLoop, KerasSteps, Prefetcher, StepFeed, make_step_feed, train_on
from deblur_tf.run.logs import LOG_COLUMNS, CsvLog, TensorBoardLog, explain_to_tensorboard, validate
from deblur_tf.run.loop import RUN_FILES, prepare_run_dir, run_training

__all__ = [
    "LOG_COLUMNS", "RUN_FILES", "CsvLog", "JaxDeviceLoop", "KerasSteps", "Prefetcher", "StepFeed", "TensorBoardLog",
    "build_data", "build_gan", "build_networks", "camera_model", "enable_jax_compile_cache", "explain_to_tensorboard",
    "init_from_model", "list_checkpoints", "make_step_feed", "prepare_run_dir", "resolve_run_config",
    "restore_checkpoint", "rng_variables", "run_training", "save_checkpoint", "train_on", "validate",
]

"""Motion-blur synthesis: camera-shake trajectories, their PSFs, and a backend-neutral blur op.

Importing it imports numpy (and OpenCV on first host blur) only: the `keras.ops` functions of `ops` and `jpeg`
import Keras when they are called, so the numpy side (data loaders, the CLI) does not pay for a backend import.
"""

from __future__ import annotations

from deblur_tf.blur.jpeg import jpeg_compress
from deblur_tf.blur.ops import blur_images, blur_numpy, camera_blur
from deblur_tf.blur.psf import (
    DEFAULT_EXPOSURES,
    EXTENT_THRESHOLD,
    kernel_extent,
    kernel_to_image,
    linear_motion_kernel,
    per_item_generators,
    random_kernel_bank,
    random_kernels,
    rasterise,
    trajectory_to_psf,
)
from deblur_tf.blur.trajectory import (
    REALISTIC_SHAKE,
    SHAKE_PRESETS,
    TrajectoryParams,
    extent,
    path_length,
    random_trajectories,
)

__all__ = [
    "DEFAULT_EXPOSURES",
    "EXTENT_THRESHOLD",
    "REALISTIC_SHAKE",
    "SHAKE_PRESETS",
    "TrajectoryParams",
    "blur_images",
    "camera_blur",
    "blur_numpy",
    "extent",
    "jpeg_compress",
    "kernel_extent",
    "kernel_to_image",
    "linear_motion_kernel",
    "path_length",
    "per_item_generators",
    "random_kernel_bank",
    "random_kernels",
    "random_trajectories",
    "rasterise",
    "trajectory_to_psf",
]


"""Pictures that explain a deblurring model: where the critic still sees blur, and what the generator changed.

The critic of a (W)GAN is trained to score sharp photos high and restored ones low, so the gradient of its
mean score with respect to the input pixels (vanilla saliency, Simonyan et al. 2014, arXiv:1312.6034) marks
the pixels whose change would most move that judgement: on a blurred photo that is where blur is most
visible to it, on the restored photo where it still is. Next to |restored − input| (what the generator
changed) this shows at a glance whether the generator works where the critic looks.

On the TensorFlow backend the saliency comes from tf-keras-vis (`Saliency`, no SmoothGrad), as used across
the Keras community; on other backends (the JAX training machines have no TensorFlow) the same quantity is
computed with the backend's own gradient: max over channels of |d mean(critic(x)) / dx|. Both give raw,
unnormalised maps; the panel normalises a blurred/restored pair *jointly* so their brightness compares.

Public API:
    critic_saliency(critic, images) -> (N, H, W) float32
    panel(generator, critic, batch, max_images=4) -> uint8 (rows, cols, 3)   # for TensorBoard during training
    explain_image(image01, restore, critic) -> uint8 panel                   # for `deblur-tf explain`

The critic files themselves (`load_critic`, `find_critic`) belong to the model zoo (`deblur_tf.zoo`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from deblur_tf.errors import DeblurError
from deblur_tf.sysinfo import tensorboard_missing

TITLE_HEIGHT = 22
COLUMNS = ("input", "restored", "critic saliency: input", "critic saliency: restored", "|restored - input|")


# ---------------------------------------------------------------------------------------------- saliency


def _mean_score(outputs):
    """tf-keras-vis score: one number per sample, the critic's mean patch score."""
    import keras

    return keras.ops.mean(outputs, axis=tuple(range(1, len(outputs.shape))))


def _saliency_tf_keras_vis(critic, images: np.ndarray) -> np.ndarray:
    from tf_keras_vis.saliency import Saliency

    with warnings.catch_warnings():
        # tf-keras-vis predates Keras 3's input-structure checks and warns on every call; the result is right
        warnings.filterwarnings("ignore", message=".*structure.*")
        saliency = Saliency(critic, clone=False)
        maps = saliency(_mean_score, images, normalize_map=False)
    return np.asarray(maps, np.float32)


def _saliency_gradient(critic, images: np.ndarray) -> np.ndarray:
    """The same quantity as tf-keras-vis' vanilla saliency, with the active backend's autodiff."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        grad_fn = getattr(critic, "_deblur_saliency_grad", None)
        if grad_fn is None:

            def total_score(x, trainable, frozen):
                y, _ = critic.stateless_call(trainable, frozen, x, training=False)
                # samples are independent (instance norm is per sample), so d sum / d x_i = d score_i / d x_i
                return jnp.sum(jnp.mean(y, axis=tuple(range(1, y.ndim))))

            # jitted once per critic (and traced once per input shape): op-by-op JAX is ~100x slower here
            grad_fn = jax.jit(jax.grad(total_score))
            critic._deblur_saliency_grad = grad_fn
        trainable = [v.value for v in critic.trainable_variables]
        frozen = [v.value for v in critic.non_trainable_variables]
        grads = np.asarray(grad_fn(jnp.asarray(images), trainable, frozen))
    elif backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(_mean_score(critic(x, training=False)))
        grads = tape.gradient(total, x).numpy()
    else:
        raise DeblurError(f"critic saliency supports the tensorflow and jax backends, not {backend!r}")
    return np.max(np.abs(grads), axis=-1).astype(np.float32)


def critic_saliency(critic, images, method: str = "auto") -> np.ndarray:
    """Raw vanilla saliency of the critic's mean score: (N, H, W) float32, max over channels of |gradient|.

    `images`: (N, H, W, 3) in [-1, 1] (or one (H, W, 3) image). `method`: "tf-keras-vis" (TensorFlow
    backend), "gradient" (any supported backend), or "auto" (tf-keras-vis on TensorFlow, else gradient).
    """
    import keras

    x = np.asarray(keras.ops.convert_to_numpy(images), np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3:
        raise DeblurError(f"critic saliency needs (N, H, W, 3) images, got shape {x.shape}")
    if method == "auto":
        method = "tf-keras-vis" if keras.backend.backend() == "tensorflow" else "gradient"
    if method == "tf-keras-vis":
        if keras.backend.backend() != "tensorflow":
            raise DeblurError("tf-keras-vis needs KERAS_BACKEND=tensorflow; use method='gradient' on other backends")
        return _saliency_tf_keras_vis(critic, x)
    if method == "gradient":
        return _saliency_gradient(critic, x)
    raise DeblurError(f"unknown saliency method {method!r}: choose auto, tf-keras-vis or gradient")


def critic_scores(critic, images: np.ndarray) -> np.ndarray:
    """Mean critic score per image (higher: looks sharper/more real to the critic)."""
    import keras

    out = keras.ops.convert_to_numpy(critic(np.asarray(images, np.float32), training=False))
    return np.asarray(out, np.float64).reshape(len(out), -1).mean(axis=1)


# ---------------------------------------------------------------------------------------------- rendering


def _heat(values01: np.ndarray, colormap: int, base01: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB heat map of values in [0, 1]; blended over a faint grey copy of `base01` for orientation."""
    u8 = np.clip(np.nan_to_num(values01) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(u8, colormap)[..., ::-1].astype(np.float32)
    if base01 is not None:
        grey = np.repeat(np.mean(base01, axis=-1, keepdims=True), 3, axis=-1) * 255.0
        rgb = 0.8 * rgb + 0.2 * grey
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _titled(tile: np.ndarray, title: str) -> np.ndarray:
    w = tile.shape[1]
    bar = np.full((TITLE_HEIGHT, w, 3), 255, np.uint8)
    scale = 0.45 if w >= 200 else 0.32
    cv2.putText(bar, title, (4, TITLE_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def _robust_max(values: np.ndarray) -> float:
    top = float(np.percentile(values, 99.5)) if values.size else 0.0
    return top if top > 0 else float(values.max() or 1.0)


def render_row(input01: np.ndarray, restored01: np.ndarray, sal_in: np.ndarray, sal_out: np.ndarray,
               scores: tuple[float, float] | None = None) -> np.ndarray:
    """One panel row: input | restored | saliency(input) | saliency(restored) | |restored − input|.

    The two saliency maps share one scale (99.5th percentile of both), so a brighter map means the critic
    reacts more strongly there; the difference map is stretched to its own 99.5th percentile (gain shown).
    """
    scale = _robust_max(np.concatenate([sal_in.ravel(), sal_out.ravel()]))
    diff = np.mean(np.abs(restored01 - input01), axis=-1)
    dmax = _robust_max(diff)
    s_in, s_out = (f" ({scores[0]:+.2f})", f" ({scores[1]:+.2f})") if scores else ("", "")
    tiles = [
        (np.clip(input01 * 255.0 + 0.5, 0, 255).astype(np.uint8), f"input{s_in}"),
        (np.clip(restored01 * 255.0 + 0.5, 0, 255).astype(np.uint8), f"restored{s_out}"),
        (_heat(sal_in / scale, cv2.COLORMAP_INFERNO, input01), COLUMNS[2]),
        (_heat(sal_out / scale, cv2.COLORMAP_INFERNO, restored01), COLUMNS[3]),
        (_heat(diff / dmax, cv2.COLORMAP_VIRIDIS), f"{COLUMNS[4]} x{1.0 / max(dmax, 1e-6):.0f}"),
    ]
    gap = np.full((input01.shape[0] + TITLE_HEIGHT, 4, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for i, (tile, title) in enumerate(tiles):
        if i:
            parts.append(gap)
        parts.append(_titled(tile, title))
    return np.concatenate(parts, axis=1)


def explain_batch(restored_m11: np.ndarray, blurred_m11: np.ndarray, critic, method: str = "auto") -> np.ndarray:
    """Panel rows for a batch whose restoration is already known; (rows, cols, 3) uint8."""
    sal_in = critic_saliency(critic, blurred_m11, method)
    sal_out = critic_saliency(critic, restored_m11, method)
    sc_in, sc_out = critic_scores(critic, blurred_m11), critic_scores(critic, restored_m11)
    rows = []
    for i in range(len(blurred_m11)):
        rows.append(render_row((blurred_m11[i] + 1.0) * 0.5, (restored_m11[i] + 1.0) * 0.5, sal_in[i], sal_out[i],
                               (float(sc_in[i]), float(sc_out[i]))))
        if i < len(blurred_m11) - 1:
            rows.append(np.full((4, rows[-1].shape[1], 3), 255, np.uint8))
    return np.concatenate(rows, axis=0)


def panel(generator, critic, batch, max_images: int = 4) -> np.ndarray:
    """Explanation panel of a training batch, for TensorBoard: uint8 (rows, cols, 3).

    `batch`: blurred images (N, H, W, 3) in [-1, 1], or a `(blurred, sharp)` pair as the data pipelines
    yield it (sharp is ignored). At most `max_images` rows. Runs eagerly (call it from a callback every N
    steps, not inside a compiled train step); on TensorFlow write it with
    `tf.summary.image("explain", panel(...)[None], step)`.
    """
    import keras

    blurred = batch[0] if isinstance(batch, (tuple, list)) else batch
    blurred = np.asarray(keras.ops.convert_to_numpy(blurred), np.float32)[:max_images]
    if blurred.ndim != 4 or blurred.shape[-1] != 3:
        raise DeblurError(f"panel needs a (N, H, W, 3) batch of blurred images, got shape {blurred.shape}")
    restored = np.asarray(keras.ops.convert_to_numpy(generator(blurred, training=False)), np.float32)
    return explain_batch(np.clip(restored, -1.0, 1.0), blurred, critic)


def explain_image(image01: np.ndarray, restore: Callable[[np.ndarray], np.ndarray], critic) -> np.ndarray:
    """Panel for one photo: `restore` maps (H, W, 3) [0, 1] -> same (e.g. `deblur_tf.inference.Deblurrer`)."""
    image01 = np.asarray(image01, np.float32)
    restored01 = np.clip(np.asarray(restore(image01), np.float32), 0.0, 1.0)
    if restored01.shape != image01.shape:
        raise DeblurError(f"the model returned {restored01.shape} for an image of {image01.shape}")
    return explain_batch(restored01[None] * 2.0 - 1.0, image01[None] * 2.0 - 1.0, critic)


# ---------------------------------------------------------------------------------------------- training hook


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class ExplainCallback(_keras_callback_base()):
    """Writes `panel(model.generator, model.critic, batch)` every `every_n_steps` training steps.

    For `DeblurGAN.fit(...)`: `callbacks=[ExplainCallback(fixed_batch, every_n_steps=500, log_dir=run_dir)]`.
    `batch`: a fixed batch of blurred images (or a `(blurred, sharp)` pair), so panels of different steps
    compare. `writer`: "tensorboard" (TensorBoard image `tag` in `log_dir/explain`; needs TensorFlow
    and tensorboard installed, any Keras backend), "png" (`log_dir/explain/step_XXXXXXXX.png`: for the JAX training machines
    without TensorFlow), or "auto" (TensorBoard when TensorFlow and tensorboard are installed, else PNG).
    """

    def __init__(self, batch, every_n_steps: int = 500, log_dir: str | Path = "runs", max_images: int = 4,
                 writer: str = "auto", tag: str = "explain"):
        super().__init__()
        if every_n_steps < 1:
            raise DeblurError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if writer not in ("auto", "tensorboard", "png"):
            raise DeblurError(f"writer {writer!r}: choose auto, tensorboard or png")
        self.batch = batch
        self.every_n_steps = int(every_n_steps)
        self.out_dir = Path(log_dir) / "explain"
        self.max_images = int(max_images)
        self.tag = tag

        missing = tensorboard_missing()
        if writer == "auto":
            writer = "png" if missing else "tensorboard"
        elif writer == "tensorboard" and missing:
            raise DeblurError(f"ExplainCallback(writer='tensorboard'): {missing}; or use writer='png'")
        self.writer = writer
        self._summary_writer = None
        self.step = 0
        self.written: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % self.every_n_steps:
            return
        import keras

        if keras.backend.backend() == "jax":
            # the JAX trainer keeps the weights outside the model between steps; pull them back first
            self.model.jax_state_sync()
        self.write(panel(self.model.generator, self.model.critic, self.batch, self.max_images), self.step)

    def write(self, image: np.ndarray, step: int) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if self.writer == "png":
            cv2.imwrite(str(self.out_dir / f"step_{step:08d}.png"), image[..., ::-1])
        else:
            import tensorflow as tf

            if self._summary_writer is None:
                self._summary_writer = tf.summary.create_file_writer(str(self.out_dir))
            with self._summary_writer.as_default():
                tf.summary.image(self.tag, image[None], step=step)
            self._summary_writer.flush()
        self.written.append(step)

"""DeblurGAN as a `keras.Model` whose `train_step` is the paper's algorithm (Kupyn et al. 2018, Alg. 1).

One call of `train_step` = one *generator step*:

1. If the batch is the synthetic dict ``{"sharp", "kernel", "noise_std"}``, blur it here, on the accelerator
   (`deblur_tf.blur.blur_images`), so the data pipeline only ships sharp crops and small kernels.
2. Run the generator once: ``fake = G(blurred)``.
3. `n_critic` times, on the same batch: update the critic with the adversarial critic loss plus, for WGAN-GP,
   ``gp_weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` at ``x_hat = alpha*sharp + (1-alpha)*fake`` with one uniform
   ``alpha`` per sample (Gulrajani et al. 2017, Alg. 1).
4. Update the generator once with ``adversarial(D(fake)) + perceptual_weight * MSE(VGG(fake), VGG(sharp))
   (+ l1_weight * |fake - sharp|)``, through the *updated* critic.

The critic sees only sharp or restored images (the paper's critic is unconditional). The fake of step 2 is
reused for the generator's update, as in the authors' code, so a step costs one generator forward pass.

Each backend has its own implementation of the step, sharing every formula (`_critic_objective`,
`_generator_objective`, the losses in `deblur_tf.losses`):

* TensorFlow: `tf.GradientTape`, a nested tape for the gradient penalty, `optimizer.apply_gradients`.
* JAX: `stateless_call` + `jax.value_and_grad` + `optimizer.stateless_apply`, and `jax.vjp` for the single
  generator forward. Keras' JAX trainer threads only `model.optimizer`'s variables through the jitted step;
  the critic's Adam state is therefore attached to the model as a list attribute
  (`_critic_optimizer_state`), which makes it model non-trainable state that travels with the other
  variables, and is updated with `d_optimizer.stateless_apply`. The whole 5+1 iteration is one jitted program.

`model.optimizer` is the generator's Adam (built on the generator's weights only); `model.d_optimizer` the
critic's. Both use `ConstantThenLinearDecay` counted in generator steps (the critic's divides its own
iteration count by `n_critic`, see `deblur_tf.schedules`).

Under TensorFlow the step is traced with exact second-order moments (`tf_second_order_moments`): Keras'
`tf.nn.moments` holds the mean under stop_gradient, which breaks the penalty's gradient through the
critic's instance norms.

Mixed precision: build the sub-models under a ``mixed_bfloat16`` dtype policy (`set_precision`); the step
casts every network output to float32 before a loss, so losses, gradient penalty and Adam stay float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras
from keras import ops

from deblur_tf import losses
from deblur_tf.blur import blur_images, camera_blur
from deblur_tf.config import ADVERSARIAL_KINDS, PRECISIONS
from deblur_tf.schedules import ConstantThenLinearDecay, WarmupCosine

METRIC_NAMES = ("d_loss", "gp", "g_adv", "g_perceptual", "g_l1", "g_content", "psnr")


def set_precision(precision: str) -> None:
    """Set the global Keras dtype policy *before* building models ("float32" or "mixed_bfloat16")."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    keras.config.set_dtype_policy(precision)


def _f32(x):
    return ops.cast(x, "float32")


def batch_psnr(fake, sharp):
    """Mean PSNR (dB) of a batch in [-1, 1], computed on the [0, 1] scale; a cheap training signal."""
    err = ops.mean(ops.square((_f32(fake) - _f32(sharp)) * 0.5), axis=(1, 2, 3))
    return ops.mean(-10.0 * ops.log(ops.maximum(err, 1e-10)) / ops.log(10.0))


@contextlib.contextmanager
def tf_second_order_moments() -> Iterator[None]:
    """Make Keras' TensorFlow `ops.moments` twice differentiable while a train step is traced.

    Keras' TF backend computes moments with `tf.nn.moments`, whose variance uses `stop_gradient(mean)`.
    That is exact for first derivatives but wrong for second ones, and WGAN-GP differentiates the critic
    twice (the penalty is a function of dD/dx): through the critic's instance norms the penalty's gradient
    comes out wrong (e.g. a nonzero gradient for a conv bias that the next instance norm cancels). The JAX
    backend (`jnp.var`) has no such shortcut; this swaps in the plain formula while tracing so both
    backends compute the same update (tests/test_training_backends.py). A no-op if Keras' internals move.
    """
    try:
        from keras.src.backend.tensorflow import nn as tf_nn
    except ImportError:
        yield
        return
    original = getattr(tf_nn, "_compute_moments", None)
    if original is None:
        yield
        return

    def exact_moments(x, axes, keepdims):
        import tensorflow as tf

        mean = tf.reduce_mean(x, axes, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axes, keepdims=True)
        if not keepdims:
            mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
        return mean, variance

    tf_nn._compute_moments = exact_moments
    try:
        yield
    finally:
        tf_nn._compute_moments = original


def critic_input_gradient(critic_fn: Callable, x):
    """d sum(critic_fn(x)) / dx with the backend's autodiff (the critic scores samples independently, so this is
    each sample's gradient). Differentiable again, so it can sit inside the critic's loss."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.grad(lambda x_: ops.sum(_f32(critic_fn(x_))))(x)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            total = ops.sum(_f32(critic_fn(x)))
        return tape.gradient(total, x)
    raise NotImplementedError(f"gradient penalty needs the tensorflow or jax backend, not {backend}")


def gradient_penalty(critic_fn: Callable, real, fake, alpha, mode: str = "sample"):
    """WGAN-GP penalty at x_hat = alpha*real + (1-alpha)*fake (Gulrajani et al. 2017, Alg. 1, line 6-7).

    `alpha` has shape (batch, 1, 1, 1): one uniform draw per sample. Both train steps call this, and the
    tests check it against finite differences.
    """
    x_hat = alpha * _f32(real) + (1.0 - alpha) * _f32(fake)
    return losses.gradient_penalty_from_grads(critic_input_gradient(critic_fn, x_hat), mode=mode)


def _adversarial_fns(kind: str) -> tuple[Callable, Callable]:
    """(critic_loss(d_real, d_fake), generator_loss(d_real, d_fake)) for an adversarial loss name."""
    if kind not in losses.ADVERSARIAL_LOSSES:
        raise ValueError(f"unknown adversarial loss {kind!r}; choose one of {', '.join(losses.ADVERSARIAL_LOSSES)}")
    return losses.ADVERSARIAL_LOSSES[kind]


class DeblurGAN(keras.Model):
    """Generator + critic (+ frozen feature extractor) trained with the DeblurGAN step.

    `call(x)` is the generator, so `model.predict(blurred)` restores images. Train with
    `model.train_on_batch(blurred, sharp)` or `model.train_on_batch({"sharp", "kernel", "noise_std"})`
    (or `fit` on a dataset of either) after `compile(g_optimizer, d_optimizer)`.

    `gp_alpha`: None draws the interpolation weight per sample (the algorithm); a float fixes it, which is
    only for tests that compare the two backends' steps (their random streams differ).
    """

    def __init__(
        self,
        generator: keras.Model,
        critic: keras.Model,
        feature_extractor: keras.Model | None = None,
        *,
        n_critic: int = 5,
        adversarial: str = "wgan-gp",
        gp_weight: float = 10.0,
        gp_mode: str = "sample",
        perceptual_weight: float = 100.0,
        l1_weight: float = 0.0,
        charbonnier_weight: float = 0.0,
        fft_weight: float = 0.0,
        adversarial_weight: float = 1.0,
        blur_gamma: float = 2.2,
        camera: dict[str, Any] | None = None,
        seed: int = 0,
        gp_alpha: float | None = None,
        name: str = "deblurgan",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        if adversarial not in ADVERSARIAL_KINDS:
            raise ValueError(f"unknown adversarial loss {adversarial!r}; choose one of {ADVERSARIAL_KINDS}")
        if adversarial == "none" and not (perceptual_weight > 0 or l1_weight > 0 or charbonnier_weight > 0
                                          or fft_weight > 0):
            raise ValueError("adversarial='none' trains on the content loss alone: give it a pixel, FFT or "
                             "perceptual weight > 0")
        if perceptual_weight > 0 and feature_extractor is None:
            raise ValueError("perceptual_weight > 0 needs a feature_extractor (VGG features)")
        self.generator = generator
        self.critic = critic
        self.feature_extractor = feature_extractor
        if feature_extractor is not None:
            feature_extractor.trainable = False
        self.n_critic = int(n_critic)
        self.adversarial = adversarial
        self.gp_weight = float(gp_weight) if adversarial == "wgan-gp" else 0.0
        self.adversarial_weight = float(adversarial_weight) if adversarial != "none" else 0.0
        self.gp_mode = gp_mode
        self.perceptual_weight = float(perceptual_weight)
        self.l1_weight = float(l1_weight)
        self.charbonnier_weight = float(charbonnier_weight)
        self.fft_weight = float(fft_weight)
        self.blur_gamma = float(blur_gamma)
        # the on-device camera model (deblur_tf.blur.camera_blur); None = gamma-aware blur + Gaussian noise only
        self.camera = dict(camera) if camera else None
        self.gp_alpha = gp_alpha
        self.seed = int(seed)
        # gradient-penalty alphas and blur noise; its state is model state, so it is checkpointed and,
        # under JAX, threaded through the jitted step like any other variable
        self.seed_generator = keras.random.SeedGenerator(seed, name="train_seed")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in METRIC_NAMES}
        self.d_optimizer: keras.optimizers.Optimizer | None = None
        self._jax_layout: dict | None = None
        self.built = True

    # ------------------------------------------------------------------ keras plumbing
    def call(self, inputs, training: bool = False):
        return self.generator(inputs, training=training)

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        jit_compile: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        """Two Adams: `g_optimizer` becomes `model.optimizer`; both are built here on their own weights."""
        super().compile(optimizer=g_optimizer, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = d_optimizer
        self.optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.critic.trainable_variables)
        # attaching the critic optimizer's variables makes them model (non-trainable) state: see module doc
        self._tracker.unlock()
        self._critic_optimizer_state = list(d_optimizer.variables)
        self._tracker.lock()
        self._jax_layout = None

    # ------------------------------------------------------------------ shared formulas
    def _split_batch(self, data):
        """(blurred_or_None, sharp, kernel, noise_std, to_blur) from any batch form.

        `to_blur` is what the step blurs when `blurred` is None (`_blur_batch`): the sharp crop of a synthetic
        batch, or `(input, paired)` of a device mixture (`data.sources.mix(..., blur="device")`), whose real
        pairs carry their real blurred photo in `input` and are kept as they are, so that they train as pairs.
        """
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            sharp = _f32(x["sharp"])
            if "input" not in x:
                return None, sharp, _f32(x["kernel"]), _f32(x["noise_std"]), sharp
            # a device mixture: its real pairs (paired = 1) keep their photo exactly, whatever the blur does
            return None, sharp, _f32(x["kernel"]), _f32(x["noise_std"]), (_f32(x["input"]), x.get("paired"))
        if y is None:
            raise ValueError("a paired batch must be (blurred, sharp); a synthetic one {'sharp','kernel','noise_std'}")
        return _f32(x), _f32(y), None, None, None

    def _blur_batch(self, to_blur, kernel, noise_std, seed):
        """The step's blurred input: `to_blur` is the sharp crop, or (input, paired flags) of a device mixture,
        whose real photos come back unchanged and whose synthetic crops get the camera model."""
        if not isinstance(to_blur, tuple):
            return self._blur(to_blur, kernel, noise_std, seed)
        images, paired = to_blur
        if paired is None:  # an older mixture batch without flags: plain blur, delta kernels pass through
            return self._blur(images, kernel, noise_std, seed, camera=False)
        out = self._blur(images, kernel, noise_std, seed)
        return ops.where(ops.reshape(_f32(paired), (-1, 1, 1, 1)) > 0.5, images, out)

    def _blur(self, sharp, kernel, noise_std, seed, camera: bool = True):
        """Blur [-1,1] sharp crops with per-sample kernels and noise on the device.

        With `camera` = {"srgb_fraction", "saturation", "shot_noise", "quantize", "match_mean", and optionally
        "jpeg_fraction", "jpeg_quality", "varying_fraction"} each image draws (from the
        step's seed stream, so a resumed run redraws the same) whether it is blurred on sRGB values or in
        linear light, whether its highlights are boosted (x1.5-4) before the blur, and its shot-noise level.
        `camera=False` (device mixtures, whose real photos must pass unchanged) uses the plain gamma-aware blur.
        """
        if self.camera is not None and camera:
            n = ops.shape(sharp)[0]
            cam = self.camera
            u = keras.random.uniform((4, n), 0.0, 1.0, dtype="float32", seed=seed)
            gamma = ops.where(u[0] < cam.get("srgb_fraction", 0.0), 1.0, self.blur_gamma)
            boost = ops.where(u[1] < cam.get("saturation", 0.0), 1.5 + 2.5 * u[2], 1.0)
            shot = u[3] * cam.get("shot_noise", 0.0)
            out01 = camera_blur((sharp + 1.0) * 0.5, kernel, gamma=gamma, boost=boost, noise_std=noise_std,
                                shot_noise=shot, quantize=bool(cam.get("quantize", False)),
                                match_mean=bool(cam.get("match_mean", False)), seed=seed,
                                jpeg_fraction=cam.get("jpeg_fraction", 0.0),
                                jpeg_quality=cam.get("jpeg_quality", (60, 95)),
                                varying_fraction=cam.get("varying_fraction", 0.0))
            return _f32(out01) * 2.0 - 1.0
        out01 = blur_images(
            (sharp + 1.0) * 0.5, kernel, gamma=self.blur_gamma, noise_std=noise_std, seed=seed, clip=True
        )
        return _f32(out01) * 2.0 - 1.0

    def _alpha(self, batch: int, seed):
        if self.gp_alpha is not None:
            return ops.full((batch, 1, 1, 1), float(self.gp_alpha), dtype="float32")
        return keras.random.uniform((batch, 1, 1, 1), 0.0, 1.0, dtype="float32", seed=seed)

    def _critic_objective(self, d_real, d_fake, gp):
        """Total critic loss (what its Adam minimises) and the adversarial part alone."""
        d_loss_fn, _ = _adversarial_fns(self.adversarial)
        d_adv = d_loss_fn(_f32(d_real), _f32(d_fake))
        total = d_adv + self.gp_weight * gp if self.gp_weight > 0 else d_adv
        return total, d_adv

    def _generator_objective(self, fake, sharp, d_fake, d_real, feats_fake, feats_real):
        """Total generator loss and its parts (adversarial, perceptual, L1)."""
        zero = ops.zeros((), "float32")
        g_adv = zero
        if self.adversarial != "none":
            _, g_loss_fn = _adversarial_fns(self.adversarial)
            g_adv = g_loss_fn(None if d_real is None else _f32(d_real), _f32(d_fake))
        content = zero
        g_perc = zero
        if self.perceptual_weight > 0:
            g_perc = losses.perceptual_loss(feats_fake, feats_real)
            content = content + self.perceptual_weight * g_perc
        g_l1 = losses.l1_loss(fake, sharp)
        if self.l1_weight > 0:
            content = content + self.l1_weight * g_l1
        if self.charbonnier_weight > 0:
            content = content + self.charbonnier_weight * losses.charbonnier_loss(fake, sharp)
        if self.fft_weight > 0:
            content = content + self.fft_weight * losses.fft_l1_loss(fake, sharp)
        total = content + self.adversarial_weight * g_adv if self.adversarial != "none" else content
        return total, {"g_adv": g_adv, "g_perceptual": g_perc, "g_l1": g_l1, "g_content": content}

    def _needs_real_score_for_generator(self) -> bool:
        return self.adversarial in losses.GENERATOR_NEEDS_REAL

    # ------------------------------------------------------------------ the step
    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._train_step_jax(*args)
        if keras.backend.backend() == "tensorflow":
            with tf_second_order_moments():
                return self._train_step_tensorflow(*args)
        raise NotImplementedError(f"DeblurGAN trains under the tensorflow or jax backend, not {keras.backend.backend()}")

    def _train_step_tensorflow(self, data):
        import tensorflow as tf

        blurred, sharp, kernel, noise_std, to_blur = self._split_batch(data)
        if blurred is None:
            blurred = self._blur_batch(to_blur, kernel, noise_std, self.seed_generator)
        batch = ops.shape(sharp)[0]
        critic_vars = self.critic.trainable_variables
        gen_vars = self.generator.trainable_variables
        feats_real = self._features(sharp)
        # under tf.distribute the optimizers SUM the replicas' gradients: dividing each replica's mean loss by
        # the replica count makes the update that of the mean over the global batch (deblur_tf.distributed)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync

        adversarial = self.adversarial != "none"
        d_total = gp = ops.zeros((), "float32")
        with tf.GradientTape() as g_tape:
            fake = _f32(self.generator(blurred, training=True))
            with g_tape.stop_recording():
                fake_d = tf.stop_gradient(fake)
                for _ in range(self.n_critic if adversarial else 0):
                    alpha = self._alpha(batch, self.seed_generator)
                    with tf.GradientTape() as d_tape:
                        scores = _f32(self.critic(ops.concatenate([sharp, fake_d], axis=0), training=True))
                        d_real, d_fake = scores[:batch], scores[batch:]
                        gp = ops.zeros((), "float32")
                        if self.gp_weight > 0:
                            gp = gradient_penalty(
                                lambda x: self.critic(x, training=True), sharp, fake_d, alpha, self.gp_mode
                            )
                        d_total, d_adv = self._critic_objective(d_real, d_fake, gp)
                        d_scaled = d_total / replicas if replicas > 1 else d_total
                    d_grads = d_tape.gradient(d_scaled, critic_vars)
                    self.d_optimizer.apply_gradients(zip(d_grads, critic_vars, strict=True))
            d_fake_g = self.critic(fake, training=True) if adversarial else None
            d_real_g = (self.critic(sharp, training=True)
                        if adversarial and self._needs_real_score_for_generator() else None)
            feats_fake = self._features(fake)
            g_total, parts = self._generator_objective(fake, sharp, d_fake_g, d_real_g, feats_fake, feats_real)
            g_scaled = g_total / replicas if replicas > 1 else g_total
        g_grads = g_tape.gradient(g_scaled, gen_vars)
        self.optimizer.apply_gradients(zip(g_grads, gen_vars, strict=True))

        values = {"d_loss": d_total, "gp": gp, **parts, "psnr": batch_psnr(fake, sharp)}
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _features(self, x) -> list:
        if self.feature_extractor is None or self.perceptual_weight <= 0:
            return []
        out = self.feature_extractor(x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    # ---- JAX
    def _layout(self) -> dict:
        """Positions of each sub-model's variables inside the trainer's flat state lists (built once)."""
        if self._jax_layout is not None:
            return self._jax_layout
        t_pos = {id(v): i for i, v in enumerate(self.trainable_variables)}
        n_pos = {id(v): i for i, v in enumerate(self.non_trainable_variables)}

        def where(variables, pos):
            return [pos[id(v)] for v in variables]

        fx = self.feature_extractor
        layout = {
            "g_t": where(self.generator.trainable_variables, t_pos),
            "g_n": where(self.generator.non_trainable_variables, n_pos),
            "d_t": where(self.critic.trainable_variables, t_pos),
            "d_n": where(self.critic.non_trainable_variables, n_pos),
            "f_n": where(fx.variables, n_pos) if fx is not None else [],
            "d_opt": where(self.d_optimizer.variables, n_pos),
            "seed": n_pos[id(self.seed_generator.state)],
        }
        if sorted(layout["g_t"] + layout["d_t"]) != list(range(len(self.trainable_variables))):
            raise RuntimeError("DeblurGAN: trainable variables outside the generator and critic")
        self._jax_layout = layout
        return layout

    def _train_step_jax(self, state, data):
        import jax  # only under JAX: TensorFlow installs may lack it

        # unpack: the trainer's flat state -> each sub-model's variables
        tv, ntv, g_opt_vars, metric_vars = state
        g_tv, g_ntv, d_tv, d_ntv, f_ntv, d_opt_vars, seed_state = self._unpack_state(tv, ntv)

        def draw(seed_state, fn):
            """Run `fn(seed_generator)` with the generator's state taken from (and returned to) the step."""
            with keras.StatelessScope(state_mapping=[(self.seed_generator.state, seed_state)]) as scope:
                out = fn(self.seed_generator)
            return out, scope.get_current_value(self.seed_generator.state)

        blurred, sharp, kernel, noise_std, to_blur = self._split_batch(data)
        if blurred is None:
            blurred, seed_state = draw(seed_state, lambda sg: self._blur_batch(to_blur, kernel, noise_std, sg))
        batch = sharp.shape[0]

        def critic_apply(d_tv_, x):
            return _f32(self.critic.stateless_call(d_tv_, d_ntv, x, training=True)[0])

        def features(x):
            if self.feature_extractor is None or self.perceptual_weight <= 0:
                return []
            out = self.feature_extractor.stateless_call([], f_ntv, x, training=False)[0]
            return list(out) if isinstance(out, (list, tuple)) else [out]

        def generator_forward(g_tv_):
            fake_, g_ntv_new = self.generator.stateless_call(g_tv_, g_ntv, blurred, training=True)
            return _f32(fake_), g_ntv_new

        fake, g_vjp, g_ntv = jax.vjp(generator_forward, g_tv, has_aux=True)
        fake_d = jax.lax.stop_gradient(fake)
        feats_real = [jax.lax.stop_gradient(f) for f in features(sharp)]

        def critic_loss(d_tv_, alpha):
            scores = critic_apply(d_tv_, ops.concatenate([sharp, fake_d], axis=0))
            d_real, d_fake = scores[:batch], scores[batch:]
            gp = ops.zeros((), "float32")
            if self.gp_weight > 0:
                gp = gradient_penalty(lambda x: critic_apply(d_tv_, x), sharp, fake_d, alpha, self.gp_mode)
            d_total, _ = self._critic_objective(d_real, d_fake, gp)
            return d_total, gp

        def critic_iteration(_, carry):
            d_tv_, d_opt_vars_, seed_state_, _, _ = carry
            alpha, seed_state_ = draw(seed_state_, lambda sg: self._alpha(batch, sg))
            (d_total_, gp_), d_grads = jax.value_and_grad(critic_loss, has_aux=True)(d_tv_, alpha)
            d_tv_, d_opt_vars_ = self.d_optimizer.stateless_apply(d_opt_vars_, d_grads, d_tv_)
            return list(d_tv_), list(d_opt_vars_), seed_state_, _f32(d_total_), _f32(gp_)

        # a loop, not n_critic unrolled copies: the compiled program (and its compile time) stays small
        adversarial = self.adversarial != "none"
        zero = ops.zeros((), "float32")
        d_total = gp = zero
        if adversarial:
            d_tv, d_opt_vars, seed_state, d_total, gp = jax.lax.fori_loop(
                0, self.n_critic, critic_iteration, (list(d_tv), list(d_opt_vars), seed_state, zero, zero)
            )

        def generator_loss(fake_):
            d_fake_g = critic_apply(d_tv, fake_) if adversarial else None
            d_real_g = (critic_apply(d_tv, sharp)
                        if adversarial and self._needs_real_score_for_generator() else None)
            return self._generator_objective(fake_, sharp, d_fake_g, d_real_g, features(fake_), feats_real)

        (g_total, parts), d_fake_cot = jax.value_and_grad(generator_loss, has_aux=True)(fake)
        (g_grads,) = g_vjp(d_fake_cot)
        g_tv, g_opt_vars = self.optimizer.stateless_apply(g_opt_vars, g_grads, g_tv)

        values = {"d_loss": d_total, "gp": gp, **parts, "psnr": batch_psnr(fake, sharp)}
        logs, metric_vars = self._stateless_metrics(metric_vars, values)
        # repack: each sub-model's new variables -> the trainer's flat state
        tv, ntv = self._repack_state(tv, ntv, g_tv, g_ntv, d_tv, d_opt_vars, seed_state)
        return logs, (tv, ntv, g_opt_vars, metric_vars)

    def _unpack_state(self, tv: Sequence, ntv: Sequence) -> tuple[list, list, list, list, list, list, Any]:
        """(generator trainable, generator non-trainable, critic trainable, critic non-trainable, features,
        critic Adam, seed state) out of the trainer's trainable and non-trainable lists."""
        L = self._layout()
        pick = lambda values, key: [values[i] for i in L[key]]  # noqa: E731
        return (pick(tv, "g_t"), pick(ntv, "g_n"), pick(tv, "d_t"), pick(ntv, "d_n"), pick(ntv, "f_n"),
                pick(ntv, "d_opt"), ntv[L["seed"]])

    def _repack_state(self, tv: Sequence, ntv: Sequence, g_tv: list, g_ntv: list, d_tv: list, d_opt_vars: list,
                      seed_state: Any) -> tuple[list, list]:
        """New trainable and non-trainable lists with the step's updated parts written at their positions (the
        critic's non-trainable variables and the frozen features do not change)."""
        L = self._layout()
        tv, ntv = list(tv), list(ntv)
        for target, key, values in ((tv, "g_t", g_tv), (tv, "d_t", d_tv), (ntv, "g_n", g_ntv), (ntv, "d_opt", d_opt_vars)):
            for i, v in zip(L[key], values, strict=True):
                target[i] = v
        ntv[L["seed"]] = seed_state
        return tv, ntv

    def _stateless_metrics(self, metric_vars: Sequence, values: dict) -> tuple[dict, list]:
        """(logs, new metric variables): each tracker's stateless update with this step's value."""
        logs, new_metric_vars, start = {}, [], 0
        for name, tracker in self.trackers.items():
            n = len(tracker.variables)
            mv = tracker.stateless_update_state(metric_vars[start : start + n], values[name])
            logs[name] = tracker.stateless_result(mv)
            new_metric_vars += list(mv)
            start += n
        return logs, new_metric_vars




def make_optimizers(
    lr: float = 1e-4,
    beta_1: float = 0.5,
    beta_2: float = 0.999,
    constant_steps: int = 0,
    decay_steps: int = 0,
    n_critic: int = 5,
    schedule: str = "linear",
    warmup_steps: int = 0,
    min_lr_ratio: float = 1e-3,
    schedule_offset: int = 0,
    d_lr: float | None = None,
    ema: float = 0.0,
) -> tuple[keras.optimizers.Adam, keras.optimizers.Adam]:
    """The two Adams, both counted in generator steps: "linear" is the paper's constant-then-linear decay,
    "cosine" warm-up + cosine (`deblur_tf.schedules.WarmupCosine`) for content stages. `d_lr` (default `lr`)
    is the critic's peak rate. `ema` > 0 keeps an exponential moving average of the generator's weights in its
    Adam (Keras' `use_ema`, so it is an optimizer variable: checkpointed, resumed, updated inside the jitted
    step on both backends); `averaged_generator` swaps it in where the average is what counts."""
    def sched(rate: float, divisor: int):
        if schedule == "cosine":
            return WarmupCosine(rate, constant_steps, decay_steps, warmup_steps, min_lr_ratio, divisor,
                                schedule_offset)
        if schedule == "linear":
            return ConstantThenLinearDecay(rate, constant_steps, decay_steps, divisor)
        raise ValueError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")

    g_opt = keras.optimizers.Adam(sched(lr, 1), beta_1=beta_1, beta_2=beta_2, name="g_adam",
                                  use_ema=ema > 0, ema_momentum=ema if ema > 0 else 0.99)
    d_opt = keras.optimizers.Adam(sched(lr if d_lr is None else d_lr, n_critic), beta_1=beta_1, beta_2=beta_2,
                                  name="d_adam")
    return g_opt, d_opt


@contextlib.contextmanager
def averaged_generator(gan: DeblurGAN) -> Iterator[bool]:
    """Within the block the generator holds its weight average (`make_optimizers(ema=...)`); after it, the
    weights it trains with again, bit for bit. Yields whether it swapped: not without an average, nor before
    the first step (the average is empty until then).

    Why weights averaged along the run: in this project's campaign the mean of two runs' endpoints beat each
    endpoint on every held-out set (docs/TRAINING.md, cycles 15-19: `soup15`, `soup17`); a moving average
    (Polyak & Juditsky 1992; SWA, Izmailov et al. 2018) gets that within one run.
    """
    opt = gan.optimizer
    if not getattr(opt, "use_ema", False) or not opt.built or int(ops.convert_to_numpy(opt.iterations)) == 0:
        yield False
        return
    variables = gan.generator.trainable_variables
    trained = [ops.convert_to_numpy(v.value).copy() for v in variables]
    opt.finalize_variable_values(variables)
    for v in variables:  # own buffers: under JAX a predict donates the variables' buffers, which the swap shares with the average
        v.assign(ops.copy(v.value))
    try:
        yield True
    finally:
        for v, value in zip(variables, trained, strict=True):
            v.assign(value)


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    lr = optimizer.learning_rate
    return float(ops.convert_to_numpy(lr))


__all__: Sequence[str] = ("DeblurGAN", "make_optimizers", "averaged_generator", "set_precision", "batch_psnr",
                          "current_lr")

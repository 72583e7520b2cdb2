"""Blurring a batch of images with a batch of kernels, in `keras.ops` so it runs on any backend and device.

Why an op and not a preprocessing script: synthesising blur on the accelerator, inside the training step,
means every epoch sees fresh kernels for free (the sharp crop and its kernel are all the input pipeline ships).

Model of the camera (all steps optional except the convolution):

1. gamma-aware: photos are stored gamma-encoded, but light adds up linearly on the sensor, so the sharp
   image is linearised (x ** gamma), blurred, and re-encoded (y ** (1 / gamma)). Blurring in the encoded
   domain instead dims highlights: a bright point smeared into a streak ends up darker than a real streak.
2. convolution with the PSF, anchored at pixel (k // 2, k // 2) (same as `scipy.ndimage.convolve`, see
   `deblur_tf.blur.psf`), with reflect-101 padding ("d c b | a b c d | c b a") so the border is blurred from
   plausible content instead of fading into a dark frame that a model would learn to "fix".
3. Gaussian noise with standard deviation `noise_std` in the output [0, 1] units (scalar or one per image),
   then clipping to [0, 1].

Per-image kernels use one grouped convolution for the whole batch: the batch is folded into the channel axis
(N, H, W, C) -> (1, H, W, N*C) and each of the N*C channels gets its own kernel through
`keras.ops.depthwise_conv`, so a batch of 16 different kernels is a single op rather than 16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deblur_tf.blur.jpeg import jpeg_compress

# `method="auto"` switches to the FFT above this kernel side: direct convolution costs k*k per pixel, the FFT
# a few log(HW) whatever k is; with TensorFlow on a CPU they break even near 15 (benchmarks/blur.py).
FFT_ABOVE = 15


def _prepare_kernels(ops: Any, kernels: Any) -> tuple[Any, int, bool]:
    k = ops.convert_to_tensor(kernels, dtype="float32")
    if len(k.shape) not in (2, 3):
        raise ValueError(f"kernels must have shape (k, k) or (N, k, k), got {tuple(k.shape)}")
    kh, kw = k.shape[-2], k.shape[-1]
    if kh is None or kw is None:
        raise ValueError("kernel height and width must be known when the op is traced")
    return k, (int(kh), int(kw)), len(k.shape) == 3


def _pad_amounts(size: int) -> tuple[int, int]:
    """Convolution anchored at size // 2: (before, after) padding of a 'valid' correlation with the flipped kernel."""
    return size - 1 - size // 2, size // 2


def _check_reflect(axis_len: Any, pad: int, what: str) -> None:
    if axis_len is not None and pad >= int(axis_len):
        raise ValueError(
            f"kernel too large for the image: reflect padding of {pad} needs {what} > {pad} pixels "
            f"(got {axis_len}); use a smaller kernel or a larger image"
        )


def _conv_blur(ops: Any, xp: Any, k: Any, hwc: tuple, per_image: bool, n: Any) -> Any:
    """Grouped convolution: the batch folded into channels, one depthwise filter per (image, colour)."""
    h, w, c = hwc
    kh, kw = int(k.shape[-2]), int(k.shape[-1])
    kf = ops.flip(ops.flip(k, axis=-1), axis=-2)  # convolution = correlation with the flipped kernel
    if not per_image:
        kk = ops.repeat(kf[:, :, None, None], c, axis=2)  # (kh, kw, C, 1)
        return ops.depthwise_conv(xp, kk, strides=1, padding="valid")
    if n is None:
        raise ValueError(
            "per-image kernels with method='conv' need a known batch size when traced "
            "(batch with drop_remainder=True), or use method='fft'"
        )
    hp, wp = xp.shape[1], xp.shape[2]
    if hp is None or wp is None or h is None or w is None:  # traced with a dynamic image size
        dyn = ops.shape(xp)
        hp, wp = dyn[1], dyn[2]
        h, w = hp - (kh - 1), wp - (kw - 1)
    # (N, Hp, Wp, C) -> (1, Hp, Wp, N*C): channel n*C + c is image n, colour c
    folded = ops.reshape(ops.transpose(xp, (1, 2, 0, 3)), (1, hp, wp, n * c))
    # (N, kh, kw) -> (kh, kw, N*C, 1), kernel n repeated for its C channels
    kk = ops.transpose(kf, (1, 2, 0))
    kk = ops.reshape(ops.repeat(kk[:, :, :, None], c, axis=3), (kh, kw, n * c, 1))
    y = ops.depthwise_conv(folded, kk, strides=1, padding="valid")
    return ops.transpose(ops.reshape(y, (h, w, n, c)), (2, 0, 1, 3))


def fast_fft_len(n: int) -> int:
    """The smallest m >= n with no prime factor above 7. FFT libraries (cuFFT, XLA's and numpy's) run such
    lengths with their fast radices; the padded training crop, 256 + 62 = 318 = 2 * 3 * 53, is not one."""
    m = int(n)
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def _rfft2(ops: Any, a: Any, fw: int) -> tuple[Any, Any]:
    """2-D FFT of a real array over its last two axes, from the 1-D transforms `keras.ops` has: a real FFT
    along the rows, then a complex one along the columns. Half the work of a complex 2-D FFT of a real input.
    The result is (re, im) with the last two axes swapped: (..., fw // 2 + 1, height)."""
    re, im = ops.rfft(a, fft_length=fw)
    return ops.fft((ops.swapaxes(re, -1, -2), ops.swapaxes(im, -1, -2)))


def _irfft2(ops: Any, z: tuple[Any, Any], fh: int, fw: int) -> Any:
    """Inverse of `_rfft2`. `keras.ops` has no 1-D inverse complex FFT: ifft(z) = conj(fft(conj(z))) / n."""
    re, im = ops.fft((z[0], -z[1]))
    re, im = ops.swapaxes(re, -1, -2) / float(fh), ops.swapaxes(im, -1, -2) / float(-fh)
    return ops.irfft((re, im), fft_length=fw)


def _fft_blur(ops: Any, xp: Any, k: Any, per_image: bool, fast: bool = True) -> Any:
    """Circular convolution of the padded image with the zero-padded kernel, keeping the wrap-free part.

    The image is reflect-padded by k - 1 in total, so output rows k-1 .. Hp-1 of the circular convolution never
    wrap around: they are exactly the linear convolution anchored at k // 2, the same as the conv path. With a
    static image size the transform length is raised to `fast_fft_len` with zeros after the padded image
    (output rows k-1 .. Hp-1 still see no wrapped term) and real-input transforms are used: a 16x256x256 batch
    with 63-px kernels takes 89 -> 51 ms (JAX) and 82 -> 68 ms (TensorFlow) on the 2-core CPU
    (benchmarks/blur_fft.py). `fast=False` keeps the complex transform at the padded size (the benchmark's
    reference).
    """
    kh, kw = int(k.shape[-2]), int(k.shape[-1])
    hp, wp = xp.shape[1], xp.shape[2]
    xt = ops.transpose(xp, (0, 3, 1, 2))  # (N, C, Hp, Wp): the transforms work on the last two axes
    k3 = k if per_image else k[None]
    if fast and hp is not None and wp is not None:
        hp, wp = int(hp), int(wp)
        fh, fw = fast_fft_len(hp), fast_fft_len(wp)
        xt = ops.pad(xt, [[0, 0], [0, 0], [0, fh - hp], [0, fw - wp]])
        kp = ops.pad(k3, [[0, 0], [0, fh - kh], [0, fw - kw]])[:, None]  # (N or 1, 1, fh, fw)
        xr, xi = _rfft2(ops, xt, fw)
        kr, ki = _rfft2(ops, kp, fw)
        y = _irfft2(ops, (xr * kr - xi * ki, xr * ki + xi * kr), fh, fw)
        return ops.transpose(y[:, :, kh - 1 : hp, kw - 1 : wp], (0, 2, 3, 1))
    # traced with a dynamic image size: a complex 2-D FFT at the padded size itself
    if hp is None or wp is None:
        hp, wp = ops.shape(xp)[1], ops.shape(xp)[2]
    kp = ops.pad(k3, [[0, 0], [0, hp - kh], [0, wp - kw]])[:, None]  # (N or 1, 1, Hp, Wp)
    xr, xi = ops.fft2((xt, ops.zeros_like(xt)))
    kr, ki = ops.fft2((kp, ops.zeros_like(kp)))
    yr, _ = ops.ifft2((xr * kr - xi * ki, xr * ki + xi * kr))
    return ops.transpose(yr[:, :, kh - 1 :, kw - 1 :], (0, 2, 3, 1))


def blur_images(
    images01: Any,
    kernels: Any,
    *,
    gamma: float | None = 2.2,
    noise_std: Any = 0.0,
    seed: Any = None,
    clip: bool = True,
    method: str = "auto",
) -> Any:
    """Blur NHWC images in [0, 1] with kernels (N, k, k) (one per image) or (k, k) (shared); returns NHWC.

    `gamma` None or 1 blurs the pixel values as they are. `noise_std` is a Python float (0 adds no noise op
    at all), or a tensor / array of shape () or (N,). `seed` is an int or a `keras.random.SeedGenerator`
    (use the latter inside `jax.jit` / `tf.function` so each call draws new noise). `clip` clamps the result
    to [0, 1] (the blur itself cannot leave that range; noise can). `method`: "conv" (grouped depthwise
    convolution), "fft" (FFT of the reflect-padded image: several times faster on a CPU for shake-sized
    kernels, the same result to ~1e-6 except in near-black pixels with gamma on, where the inverse gamma
    magnifies float32 round-off to at most ~1e-3), or "auto" (FFT for kernels larger than FFT_ABOVE, else conv).
    """
    import keras
    from keras import ops

    if method not in ("auto", "conv", "fft"):
        raise ValueError(f"method must be 'auto', 'conv' or 'fft', got {method!r}")
    x = ops.convert_to_tensor(images01)
    if x.dtype != "float32":
        x = ops.cast(x, "float32")
    if len(x.shape) != 4:
        raise ValueError(f"images must be NHWC (4-D), got shape {tuple(x.shape)}")
    k, (kh, kw), per_image = _prepare_kernels(ops, kernels)
    n, h, w, c = x.shape
    if c is None:
        raise ValueError("the channel count of the images must be known when the op is traced")
    if per_image and n is not None and k.shape[0] is not None and int(k.shape[0]) != int(n):
        raise ValueError(f"got {k.shape[0]} kernels for {n} images; pass one per image or one (k, k)")
    ph, pw = _pad_amounts(kh), _pad_amounts(kw)
    _check_reflect(h, max(ph), "height")
    _check_reflect(w, max(pw), "width")
    if method == "auto":
        method = "fft" if max(kh, kw) > FFT_ABOVE else "conv"

    use_gamma = gamma is not None and float(gamma) != 1.0
    if use_gamma:
        x = ops.power(ops.maximum(x, 0.0), float(gamma))
    xp = ops.pad(x, [[0, 0], [ph[0], ph[1]], [pw[0], pw[1]], [0, 0]], mode="reflect")
    if method == "fft":
        y = _fft_blur(ops, xp, k, per_image)
    else:
        y = _conv_blur(ops, xp, k, (h, w, c), per_image, n)
    if use_gamma:
        y = ops.power(ops.maximum(y, 0.0), 1.0 / float(gamma))

    if not (isinstance(noise_std, int | float) and float(noise_std) == 0.0):
        std = ops.convert_to_tensor(noise_std, dtype="float32")
        if len(std.shape) == 1:
            std = ops.reshape(std, (-1, 1, 1, 1))
        elif len(std.shape) != 0:
            raise ValueError(f"noise_std must be a scalar or shape (N,), got {tuple(std.shape)}")
        y = y + std * keras.random.normal(ops.shape(y), dtype="float32", seed=seed)
    if clip:
        y = ops.clip(y, 0.0, 1.0)
    return y


def blur_numpy(
    images01: np.ndarray,
    kernels: np.ndarray,
    *,
    gamma: float | None = 2.2,
    noise_std: float | np.ndarray = 0.0,
    seed: int | np.random.Generator | None = None,
    clip: bool = True,
    engine: str = "direct",
    border: str = "reflect",
    dtype: Any = np.float32,
) -> np.ndarray:
    """The host-side blur: the NumPy twin of `blur_images` (same camera model), for the CLI, the data loaders,
    export's test images and as an independent reference. Every host blur of the project goes through here.

    Accepts a single HWC image with a (k, k) kernel as well as NHWC batches. `engine` "direct" is OpenCV's
    filter2D (which switches to a DFT for large kernels, so big PSFs on full-size photos stay fast); "fft" is
    a batched scipy FFT (`_host_fft_blur`), the fastest for many training crops. The FFT engine also takes
    `border` (any `np.pad` mode; the camera's is "reflect", i.e. reflect-101) and `dtype` float64: the
    classical filters' forward model (`classical.blur_fft`) is this blur in float64, exact to 1e-10, so the
    filters invert the very blur the rest of the project makes.
    """
    if engine not in ("direct", "fft"):
        raise ValueError(f"engine must be 'direct' or 'fft', got {engine!r}")
    if engine == "direct" and (border != "reflect" or np.dtype(dtype) != np.float32):
        raise ValueError("engine 'direct' blurs float32 with reflect-101 borders only; use engine='fft'")
    imgs = np.asarray(images01, dtype)
    single = imgs.ndim == 3
    if single:
        imgs = imgs[None]
    if imgs.ndim != 4:
        raise ValueError(f"images must be HWC or NHWC, got shape {imgs.shape}")
    ks = np.asarray(kernels, dtype)
    if ks.ndim == 2:
        ks = np.broadcast_to(ks, (imgs.shape[0], *ks.shape))
    if ks.ndim != 3 or ks.shape[0] != imgs.shape[0]:
        raise ValueError(f"kernels {ks.shape} do not match images {imgs.shape}: one (k, k) or one per image")
    if engine == "fft":
        out = _host_fft_blur(imgs, ks, gamma, border)
    else:
        out = _direct_blur(imgs, ks, gamma)
    std = np.broadcast_to(np.asarray(noise_std, np.float32), (imgs.shape[0],))
    if np.any(std != 0):
        gen = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        out += std[:, None, None, None] * gen.standard_normal(out.shape, dtype=out.dtype)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return out[0] if single else out


def _direct_blur(imgs: np.ndarray, ks: np.ndarray, gamma: float | None) -> np.ndarray:
    """`blur_numpy(engine="direct")`: one OpenCV filter2D per image, unclipped and without noise."""
    import cv2

    kh, kw = ks.shape[1:]
    ph, pw = _pad_amounts(kh), _pad_amounts(kw)
    _check_reflect(imgs.shape[1], max(ph), "height")
    _check_reflect(imgs.shape[2], max(pw), "width")
    use_gamma = gamma is not None and float(gamma) != 1.0
    out = np.empty_like(imgs)
    for i in range(imgs.shape[0]):
        x = np.maximum(imgs[i], 0.0) ** np.float32(gamma) if use_gamma else imgs[i]
        # filter2D correlates with the kernel anchored at `anchor`; flipping it and anchoring at
        # (k - 1 - k // 2) gives convolution anchored at k // 2, the convention of psf.py
        kf = np.ascontiguousarray(ks[i, ::-1, ::-1])
        y = cv2.filter2D(x, cv2.CV_32F, kf, anchor=(kw - 1 - kw // 2, kh - 1 - kh // 2),
                         borderType=cv2.BORDER_REFLECT_101)
        if y.ndim == 2:
            y = y[:, :, None]
        if use_gamma:
            y = np.maximum(y, 0.0) ** np.float32(1.0 / gamma)
        out[i] = y
    return out


def _host_fft_blur(x: np.ndarray, k: np.ndarray, gamma: float | None, border: str = "reflect") -> np.ndarray:
    """`blur_numpy(engine="fft")`: the same camera model by real FFTs in scipy, unclipped and without noise.

    Why a second engine next to OpenCV's: on a CPU, a 31x31
    kernel makes OpenCV's direct filter2D cost ~40 ms per 256x256 crop and the Keras FFT ~50 ms, while a
    batched scipy rfft2 needs ~15 ms, which is what the mixture's host blur runs on. Tests hold it to
    `blur_numpy` within 1e-5, except in near-black pixels where y ** (1 / gamma) amplifies float32 FFT
    rounding to ~5e-5 (1/80 of an 8-bit level).
    """
    try:  # scipy keeps float32 and picks fast FFT sizes; jax depends on it, so the GPU machine has it
        from scipy import fft as sfft

        fast_len = sfft.next_fast_len
    except ImportError:  # pragma: no cover - numpy's FFT (float64, slower) gives the same result
        sfft = np.fft

        def fast_len(n: int, real: bool = True) -> int:
            return n

    kh, kw = k.shape[1:]
    use_gamma = gamma is not None and float(gamma) != 1.0
    if use_gamma:
        x = _pow(np.maximum(x, 0.0), float(gamma))
    pads = ((0, 0), (kh - 1 - kh // 2, kh // 2), (kw - 1 - kw // 2, kw // 2), (0, 0))
    xp = np.pad(x, pads, mode=border)  # numpy "reflect" is reflect-101, as blur_images pads
    hp, wp = xp.shape[1:3]
    shape = (fast_len(hp, real=True), fast_len(wp, real=True))
    spec = sfft.rfft2(xp, s=shape, axes=(1, 2))
    spec *= sfft.rfft2(k, s=shape, axes=(1, 2))[..., None]
    # circular convolution; rows/cols from k - 1 on never wrap, so they equal the linear convolution
    y = np.ascontiguousarray(sfft.irfft2(spec, s=shape, axes=(1, 2))[:, kh - 1 : hp, kw - 1 : wp], x.dtype)
    if use_gamma:
        y = _pow(np.maximum(y, 0.0, out=y), 1.0 / float(gamma))
    return y


def _pow(a: np.ndarray, p: float) -> np.ndarray:
    """a ** p for a >= 0 through OpenCV (SIMD, releases the GIL, ~2x numpy; same values within 2e-7)."""
    import cv2

    a = np.ascontiguousarray(a, np.float64 if a.dtype == np.float64 else np.float32)  # float64 stays float64
    return cv2.pow(a.reshape(a.shape[0] * a.shape[1], -1), p).reshape(a.shape)


def camera_blur(
    images01: Any,
    kernels: Any,
    *,
    gamma: Any,
    boost: Any = None,
    noise_std: Any = 0.0,
    shot_noise: Any = None,
    quantize: bool = False,
    match_mean: bool = False,
    seed: Any = None,
    jpeg_fraction: float = 0.0,
    jpeg_quality: tuple[int, int] = (60, 95),
    varying_fraction: float = 0.0,
) -> Any:
    """Camera shake as a camera records it (RSBlur, Rim et al. 2022, Sec. 3), on the accelerator:

    1. per-image `gamma` (shape (N,)): 2.2 blurs in linear light, 1.0 on the sRGB values themselves. Cameras
       and benchmarks differ (GoPro-style sets average gamma-encoded frames), and a model trained on one only
       does worse on the other, so training mixes both;
    2. saturated highlights: `boost` (N,) >= 1 multiplies the near-white parts of the scene (a ramp from 0.85
       to 1 of the linear value) before the blur, so that bright lights, clipped in the sharp photo, smear into
       streaks that clip too, as real light sources do; 1 leaves an image as it is;
    3. convolution with the PSF (`blur_images`' conventions: reflect-101 borders, anchor k // 2);
    4. Poisson-Gaussian noise on the encoded values: variance `noise_std**2 + shot_noise * y` (RSBlur's
       largest single gain for real photos), then clipping to [0, 1];
    5. `quantize`: rounding to 8 bits, as every JPEG/PNG the model will see;
    6. JPEG: a fraction `jpeg_fraction` of the images (0 = none, and no op at all) is encoded and decoded as
       a baseline JPEG with 4:2:0 chroma (`deblur_tf.blur.jpeg.jpeg_compress`) at a quality drawn per image
       uniformly from the integers `jpeg_quality` = (lo, hi). Both draws come from `seed` after the noise,
       so a seed gives the same blur and noise with or without JPEG.

    `varying_fraction` (0 = off, and no op at all): that share of the images gets a blur that changes across
    the frame, as the rotation of a shaking camera and depth make it (uniform kernels cannot show it): two PSFs
    interpolated across the image (`_vary_some`). Both draws come after the blur and before the noise.

    `match_mean` shifts each blurred image, per channel, to the mean of its sharp image before the noise.
    Blur in linear light raises the mean of the encoded values (by 3 levels of 255 on average for the
    realistic kernels on the validation photos, up to 11), while GoPro-style pairs keep it (within 0.1
    level); a model that cannot tell the two apart learns to darken every photo (docs/MODELS.md, colour
    shift). With the shift it learns to sharpen without changing the brightness.

    The images' sharp targets are not changed: the sharp photo is what the scene looks like, clipped.
    """
    import keras
    from keras import ops

    x = ops.cast(ops.convert_to_tensor(images01), "float32")
    g = ops.reshape(ops.cast(ops.convert_to_tensor(gamma), "float32"), (-1, 1, 1, 1))
    lin = ops.power(ops.maximum(x, 1e-8), g)
    if boost is not None:
        b = ops.reshape(ops.cast(ops.convert_to_tensor(boost), "float32"), (-1, 1, 1, 1))
        lin = lin * (1.0 + (b - 1.0) * ops.clip((lin - 0.85) / 0.15, 0.0, 1.0))
    y = blur_images(lin, kernels, gamma=None, noise_std=0.0, clip=False)
    if varying_fraction > 0:
        y = _vary_some(lin, kernels, y, float(varying_fraction), seed)
    y = ops.power(ops.clip(y, 1e-8, 1.0), 1.0 / g)
    if match_mean:
        y = ops.clip(y + ops.mean(x, axis=(1, 2), keepdims=True) - ops.mean(y, axis=(1, 2), keepdims=True),
                     0.0, 1.0)
    var = ops.square(ops.reshape(ops.cast(ops.convert_to_tensor(noise_std), "float32"), (-1, 1, 1, 1)))
    if shot_noise is not None:
        var = var + ops.reshape(ops.cast(ops.convert_to_tensor(shot_noise), "float32"), (-1, 1, 1, 1)) * y
    y = y + ops.sqrt(var) * keras.random.normal(ops.shape(y), dtype="float32", seed=seed)
    y = ops.clip(y, 0.0, 1.0)
    if quantize:
        y = ops.round(y * 255.0) / 255.0
    if jpeg_fraction > 0:
        y = _jpeg_some(y, float(jpeg_fraction), jpeg_quality, seed)
    return y


def _vary_some(lin: Any, kernels: Any, y: Any, fraction: float, seed: Any) -> Any:
    """Spatially varying blur for a random `fraction` of the images, by PSF interpolation (Nagy & O'Leary 1998;
    Hirsch et al. 2010 use the same sum of locally weighted blurs): image i is blurred with its own kernel on one
    side of a smooth ramp and with image i-1's kernel (another independent draw of the same distribution) on
    the other, `out = m * (k_i * x) + (1 - m) * (k_(i-1) * x)`, the mask m a sigmoid ramp with a random direction,
    position (within the middle half) and width (10-50 % of the crop). Images whose kernel, or whose partner's,
    is a delta (`data.sharp_fraction`'s sharp crops) are left as they are, so sharp inputs stay sharp."""
    import keras
    from keras import ops

    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"varying_fraction must be in [0, 1], got {fraction}")
    k = ops.cast(ops.convert_to_tensor(kernels), "float32")
    if len(k.shape) != 3:
        raise ValueError(f"varying blur needs one kernel per image, (N, k, k); got shape {tuple(k.shape)}")
    if isinstance(seed, int) and not isinstance(seed, bool):
        seed = seed + 2  # the noise uses seed, JPEG seed + 1
    n, h, w = ops.shape(y)[0], ops.shape(y)[1], ops.shape(y)[2]
    other = ops.roll(k, 1, axis=0)
    y2 = blur_images(lin, other, gamma=None, noise_std=0.0, clip=False)
    u = keras.random.uniform((4, n), 0.0, 1.0, dtype="float32", seed=seed)
    theta = 2.0 * np.pi * u[1]
    centre = (u[2] - 0.5) * 0.5
    width = 0.1 + 0.4 * u[3]
    rows = (ops.arange(h, dtype="float32") + 0.5) / ops.cast(h, "float32") - 0.5
    cols = (ops.arange(w, dtype="float32") + 0.5) / ops.cast(w, "float32") - 0.5
    t = (ops.reshape(ops.cos(theta), (-1, 1, 1)) * ops.reshape(cols, (1, 1, -1))
         + ops.reshape(ops.sin(theta), (-1, 1, 1)) * ops.reshape(rows, (1, -1, 1))
         - ops.reshape(centre, (-1, 1, 1)))
    m = ops.expand_dims(ops.sigmoid(4.0 * t / ops.reshape(width, (-1, 1, 1))), -1)
    delta = ops.max(k, axis=(1, 2)) > 0.999
    use = ops.logical_and(u[0] < fraction, ops.logical_not(ops.logical_or(delta, ops.roll(delta, 1, axis=0))))
    return ops.where(ops.reshape(use, (-1, 1, 1, 1)), m * y + (1.0 - m) * y2, y)


def _jpeg_some(y: Any, fraction: float, quality: tuple[int, int], seed: Any) -> Any:
    """JPEG-compress a random `fraction` of the images at qualities drawn uniformly from the integers lo..hi."""
    import keras
    from keras import ops

    lo, hi = (int(v) for v in quality)
    if not (1 <= lo <= hi <= 100) or not 0.0 <= fraction <= 1.0:
        raise ValueError(f"jpeg_quality must be (lo, hi) with 1 <= lo <= hi <= 100 and jpeg_fraction in [0, 1], "
                         f"got {quality} and {fraction}")
    if isinstance(seed, int) and not isinstance(seed, bool):
        seed = seed + 1  # an int seed would otherwise replay the noise's random stream
    u = keras.random.uniform((2, ops.shape(y)[0]), 0.0, 1.0, dtype="float32", seed=seed)
    q = ops.minimum(ops.floor(lo + (hi - lo + 1) * u[1]), float(hi))
    coded = jpeg_compress(y, q)
    if fraction >= 1.0:
        return coded
    return ops.where(ops.reshape(u[0] < fraction, (-1, 1, 1, 1)), coded, y)

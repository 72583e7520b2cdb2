"""JPEG compression of a batch of images in `keras.ops`, so that the camera model can write its "file" on the
accelerator (`camera_blur(jpeg_fraction=...)`). Data synthesis only: nothing here needs gradients.

The baseline JPEG codec as libjpeg (and so OpenCV, PIL, most cameras' firmware) runs it, step by step:

1. RGB -> YCbCr, JFIF full range (ITU-R BT.601 weights, chroma offset 128), rounded to 8-bit samples;
2. optional 4:2:0 chroma subsampling: Cb and Cr averaged over 2x2 pixels;
3. the planes edge-replicated to a multiple of 16 pixels (whole MCUs), level-shifted by -128, and cut into
   8x8 blocks, each transformed by the orthonormal 8x8 DCT-II (`D @ B @ D.T`);
4. quantisation with the example tables of ITU-T T.81 Annex K (K.1 luminance, K.2 chrominance) scaled by the
   quality as the IJG library does (`jpeg_quality_scaling`: q < 50 -> 5000 / q, else 200 - 2q;
   table = (T * s + 50) // 100, clipped to [1, 255]), rounding to the nearest integer;

and the decoder: dequantisation, inverse DCT, +128 and rounding to 8 bits, chroma upsampled by libjpeg's
"fancy" triangle filter (bilinear with the chroma sample centred on its 2x2 pixels, weights 9/3/3/1 / 16),
YCbCr -> RGB, clipping to [0, 1] and rounding to 1/255. Entropy coding is lossless and left out. The
integer arithmetic of libjpeg's DCT (islow) differs from this float DCT by a fraction of a level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# ITU-T T.81 (1992) Annex K, Table K.1 / K.2, in natural (row = vertical frequency) order
LUMINANCE_TABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=np.float32)
CHROMINANCE_TABLE = np.full((8, 8), 99, dtype=np.float32)
CHROMINANCE_TABLE[:4, :4] = [
    [17, 18, 24, 47],
    [18, 21, 26, 66],
    [24, 26, 56, 99],
    [47, 66, 99, 99],
]


def dct_matrix(n: int = 8) -> np.ndarray:
    """The orthonormal DCT-II matrix: D[u, x] = c(u) cos((2x + 1) u pi / 2n), c(0) = sqrt(1/n), else sqrt(2/n)."""
    u = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    d = np.cos((2 * x + 1) * u * np.pi / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return d.astype(np.float32)


def quality_tables(quality: Any) -> np.ndarray:
    """NumPy reference of the IJG scaling: (..., 2, 8, 8) luminance and chrominance tables for integer qualities."""
    q = np.clip(np.asarray(quality, np.int64), 1, 100)[..., None, None, None]
    s = np.where(q < 50, 5000 // q, 200 - 2 * q)
    base = np.stack([LUMINANCE_TABLE, CHROMINANCE_TABLE]).astype(np.int64)
    return np.clip((base * s + 50) // 100, 1, 255).astype(np.float32)


def _tables(ops: Any, quality: Any) -> tuple[Any, Any]:
    """Per-image (N, 1, 1, 8, 8) luminance and chrominance tables (or (1, 1, 8, 8) for a scalar quality)."""
    q = ops.clip(ops.round(ops.cast(ops.convert_to_tensor(quality), "float32")), 1.0, 100.0)
    q = ops.reshape(q, (-1, 1, 1, 1, 1))
    # integer arithmetic in float32: all values are small integers, exact
    s = ops.where(q < 50.0, ops.floor(5000.0 / q), 200.0 - 2.0 * q)
    out = []
    for base in (LUMINANCE_TABLE, CHROMINANCE_TABLE):
        t = ops.floor((ops.convert_to_tensor(base) * s + 50.0) / 100.0)
        out.append(ops.clip(t, 1.0, 255.0))
    return out[0], out[1]


def _pad_edge(ops: Any, x: Any, axis: int, to: int) -> Any:
    """Pad axis `axis` of x (static length) up to `to` by repeating its last row/column (libjpeg's MCU padding)."""
    size = int(x.shape[axis])
    if to == size:
        return x
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(size - 1, size)
    return ops.concatenate([x, ops.repeat(x[tuple(index)], to - size, axis=axis)], axis=axis)


def _blocks(ops: Any, plane: Any) -> Any:
    """(N, H, W) -> (N, H/8, W/8, 8, 8)."""
    h, w = int(plane.shape[1]), int(plane.shape[2])
    b = ops.reshape(plane, (-1, h // 8, 8, w // 8, 8))
    return ops.transpose(b, (0, 1, 3, 2, 4))


def _unblocks(ops: Any, blocks: Any) -> Any:
    hb, wb = int(blocks.shape[1]), int(blocks.shape[2])
    return ops.reshape(ops.transpose(blocks, (0, 1, 3, 2, 4)), (-1, hb * 8, wb * 8))


def _code_plane(ops: Any, plane: Any, table: Any, d: Any) -> Any:
    """Level shift, block DCT, quantise/round, dequantise, inverse DCT, +128, 8-bit samples."""
    b = _blocks(ops, plane - 128.0)
    coef = ops.matmul(ops.matmul(d, b), ops.transpose(d))
    coef = ops.round(coef / table) * table
    rec = ops.matmul(ops.matmul(ops.transpose(d), coef), d)
    return ops.clip(ops.round(_unblocks(ops, rec) + 128.0), 0.0, 255.0)


def _upsample2(ops: Any, c: Any, axis: int) -> Any:
    """Double axis `axis` with the triangle filter: out[2i] = 3/4 c[i] + 1/4 c[i-1], out[2i+1] = 3/4 c[i] + 1/4
    c[i+1], edges replicated (libjpeg's h2v1/h2v2 fancy upsampling, without its integer rounding)."""
    n = int(c.shape[axis])

    def take(start, stop):
        index = [slice(None)] * len(c.shape)
        index[axis] = slice(start, stop)
        return c[tuple(index)]

    prev = ops.concatenate([take(0, 1), take(0, n - 1)], axis=axis)
    nxt = ops.concatenate([take(1, n), take(n - 1, n)], axis=axis)
    even = 0.75 * c + 0.25 * prev
    odd = 0.75 * c + 0.25 * nxt
    out = ops.stack([even, odd], axis=axis + 1)
    shape = list(c.shape)
    shape[0] = -1
    shape[axis] = 2 * n
    return ops.reshape(out, shape)


def jpeg_compress(images01: Any, quality: Any, *, subsample: bool = True) -> Any:
    """Encode and decode NHWC RGB images in [0, 1] as baseline JPEG at `quality` (1-100, a scalar or one per
    image, shape (N,)); `subsample` = 4:2:0 chroma (libjpeg's default for colour), else 4:4:4. Returns the
    decoded images, float32 in [0, 1], on 1/255 levels. Height and width must be known when traced.
    """
    from keras import ops

    x = ops.cast(ops.convert_to_tensor(images01), "float32")
    if len(x.shape) != 4 or x.shape[-1] != 3:
        raise ValueError(f"jpeg_compress needs NHWC RGB images, got shape {tuple(x.shape)}")
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError("jpeg_compress needs the image height and width known when the op is traced")
    h, w = int(h), int(w)
    hp, wp = -(-h // 16) * 16, -(-w // 16) * 16
    x = _pad_edge(ops, _pad_edge(ops, ops.clip(x, 0.0, 1.0) * 255.0, 1, hp), 2, wp)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128.0
    y, cb, cr = (ops.clip(ops.round(p), 0.0, 255.0) for p in (y, cb, cr))
    if subsample:
        cb, cr = (ops.round(ops.mean(ops.reshape(p, (-1, hp // 2, 2, wp // 2, 2)), axis=(2, 4))) for p in (cb, cr))

    d = ops.convert_to_tensor(dct_matrix())
    t_lum, t_chr = _tables(ops, quality)
    y = _code_plane(ops, y, t_lum, d)
    cb = _code_plane(ops, cb, t_chr, d)
    cr = _code_plane(ops, cr, t_chr, d)
    if subsample:  # the decoder upsamples the chroma of the image proper, its last real sample replicated
        hc, wc = -(-h // 2), -(-w // 2)
        cb, cr = (_upsample2(ops, _upsample2(ops, p[:, :hc, :wc], 1), 2) for p in (cb, cr))
    y, cb, cr = (p[:, :h, :w] for p in (y, cb, cr))
    cb, cr = cb - 128.0, cr - 128.0
    rgb = ops.stack([y + 1.402 * cr, y - 0.344136286 * cb - 0.714136286 * cr, y + 1.772 * cb], axis=-1)
    return ops.round(ops.clip(rgb, 0.0, 255.0)) / 255.0

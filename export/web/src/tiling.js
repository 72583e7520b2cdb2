// Tiling of an image of any size into the fixed-size windows a TFLite model takes, and feathered blending of
// the model's outputs back into one image.
//
// Why: an exported .tflite usually has a fixed input size (e.g. 256x256) because fixed shapes are what
// mobile/web delegates run fastest, but photos are larger. Tiles overlap so that each output pixel comes
// from a tile where it is away from the zero-padded tile border, and overlapping outputs are blended with
// linear ramps so no seams show. The image is first reflect-padded by `margin` on every side so that the
// photo's own border is not at a tile border either.
//
// The same scheme is written in Python in export/web/test/reference.py; the browser test compares the two
// pixel for pixel, so change both together.

/** Mirror index i into [0, n) (reflect without repeating the edge pixel, like numpy "reflect"). */
export function reflectIndex(i, n) {
  if (n === 1) return 0;
  const period = 2 * n - 2;
  let j = ((i % period) + period) % period;
  return j < n ? j : period - j;
}

/** Top-left offsets of windows of size `tile` covering [0, length) with at least `overlap` shared pixels. */
export function tileStarts(length, tile, overlap) {
  if (length <= tile) return [0];
  const stride = Math.max(1, tile - overlap);
  const starts = [];
  for (let s = 0; s + tile < length; s += stride) starts.push(s);
  starts.push(length - tile);
  return starts;
}

/**
 * Blend weight of pixel i (0..tile-1) of a window starting at `start` on an axis of `length` pixels:
 * a linear ramp over `overlap` pixels towards window edges that lie inside the image, flat (1) towards
 * the image's own edges, never 0 so that every pixel gets some weight.
 */
export function rampWeight(i, start, tile, length, overlap) {
  let w = 1;
  if (overlap > 0) {
    if (start > 0) w = Math.min(w, (i + 0.5) / overlap);
    if (start + tile < length) w = Math.min(w, (tile - i - 0.5) / overlap);
  }
  return Math.max(w, 1e-3);
}

/** The layout of a tiled run: padded size, margin, and window offsets. */
export function planTiles(height, width, tileH, tileW, overlap, margin) {
  const paddedH = Math.max(height + 2 * margin, tileH);
  const paddedW = Math.max(width + 2 * margin, tileW);
  const ys = tileStarts(paddedH, tileH, overlap);
  const xs = tileStarts(paddedW, tileW, overlap);
  return { paddedH, paddedW, margin, overlap, tileH, tileW, ys, xs, count: ys.length * xs.length };
}

/** Default overlap and margin for a tile size: 1/8 of the smaller tile side, margin half of that. */
export function defaultOverlap(tileH, tileW) {
  const overlap = Math.max(0, Math.round(Math.min(tileH, tileW) / 8));
  return { overlap, margin: Math.floor(overlap / 2) };
}

/**
 * Deblur an RGBA image (ImageData-like: {width, height, data}) window by window.
 *
 * runTile(Float32Array NHWC [1, tileH, tileW, 3]) -> Promise<Float32Array same shape> runs the model on
 * pixel values mapped linearly from [0, 255] to options.range ([0, 1] for `deblur-tf export` files, whose
 * graph maps to the generator's [-1, 1] itself); onProgress(done, total) is called after each window.
 * Returns {rgba: Uint8ClampedArray of the input's size, plan}.
 */
export async function deblurTiled(image, tileH, tileW, runTile, options = {}) {
  const { width, height, data } = image;
  const defaults = defaultOverlap(tileH, tileW);
  const overlap = options.overlap ?? defaults.overlap;
  const margin = options.margin ?? defaults.margin;
  const [lo, hi] = options.range ?? [0, 1];
  const scale = (hi - lo) / 255;
  const plan = planTiles(height, width, tileH, tileW, overlap, margin);
  const { paddedH, paddedW } = plan;
  // float32 accumulators: a 4096x2730 photo needs 180 MB instead of 360 MB, at ~1e-7 relative error
  const acc = new Float32Array(height * width * 3);
  const wsum = new Float32Array(height * width);
  const tile = new Float32Array(tileH * tileW * 3);
  const wy = new Float64Array(tileH);
  const wx = new Float64Array(tileW);
  let done = 0;
  for (const y0 of plan.ys) {
    for (let i = 0; i < tileH; i++) wy[i] = rampWeight(i, y0, tileH, paddedH, overlap);
    for (const x0 of plan.xs) {
      for (let i = 0; i < tileW; i++) wx[i] = rampWeight(i, x0, tileW, paddedW, overlap);
      // gather the window from the reflect-padded image (the padding is virtual: index arithmetic)
      for (let ty = 0; ty < tileH; ty++) {
        const sy = reflectIndex(y0 + ty - margin, height);
        for (let tx = 0; tx < tileW; tx++) {
          const sx = reflectIndex(x0 + tx - margin, width);
          const src = (sy * width + sx) * 4;
          const dst = (ty * tileW + tx) * 3;
          tile[dst] = data[src] * scale + lo;
          tile[dst + 1] = data[src + 1] * scale + lo;
          tile[dst + 2] = data[src + 2] * scale + lo;
        }
      }
      const out = await runTile(tile);
      // scatter back only the part of the window that falls on the real (unpadded) image
      for (let ty = 0; ty < tileH; ty++) {
        const iy = y0 + ty - margin;
        if (iy < 0 || iy >= height) continue;
        for (let tx = 0; tx < tileW; tx++) {
          const ix = x0 + tx - margin;
          if (ix < 0 || ix >= width) continue;
          const w = wy[ty] * wx[tx];
          const o = (ty * tileW + tx) * 3;
          const a = (iy * width + ix) * 3;
          acc[a] += w * out[o];
          acc[a + 1] += w * out[o + 1];
          acc[a + 2] += w * out[o + 2];
          wsum[iy * width + ix] += w;
        }
      }
      done += 1;
      if (options.onProgress) await options.onProgress(done, plan.count);
    }
  }
  const rgba = new Uint8ClampedArray(height * width * 4);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) {
      const v = (acc[p * 3 + c] / wsum[p] - lo) / (hi - lo);
      rgba[p * 4 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    rgba[p * 4 + 3] = 255;
  }
  return { rgba, plan };
}

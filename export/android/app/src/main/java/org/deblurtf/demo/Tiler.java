package org.deblurtf.demo;

/*
 * Tiling and feathered blending of a photo of any size through a fixed-size TFLite model, with no Android
 * imports, so that the JVM on a build machine can compile and test it (tests/test_android.py does, with
 * javac and java, against the Python implementation the project ships).
 *
 * The scheme is deblur_tf.inference.Deblurrer with fixed_tile=True (the one `deblur-tf deblur` uses), plus
 * one step that a fixed-size model needs and a Keras model does not:
 *
 *  1. reflect-pad the image at the bottom/right up to a multiple of the model's size multiple (nafnet: 16),
 *     and further up to the tile size where the image is smaller than a tile (a TFLite file takes one shape);
 *  2. along each axis, as few tiles of exactly the tile length as overlap by at least `overlap` pixels,
 *     their origins spread evenly and rounded to the multiple (a strided U-Net computes the same pixels in a
 *     tile as in the whole image only on its sampling grid), the last one flush with the end;
 *  3. each tile's weight along an axis is 0 for the outer overlap/4 pixels of an edge that has a neighbour
 *     (zero padding inside the network makes those unreliable), a linear ramp across the rest of the overlap,
 *     and 1 inside; image borders are not feathered. The 2-D weight is the product of the two axes;
 *  4. output = sum(weight * tile output) / sum(weight), cropped back to the photo and clipped to [0, 1].
 *
 * All numbers (tile size, overlap, multiple) come from deblur_contract.json, written by `deblur-tf export`.
 */
public final class Tiler {

    /** Runs the model on one tile: NHWC float RGB in [0, 1], tileH * tileW * 3 values in, same out. */
    public interface TileModel {
        void run(float[] input, float[] output) throws Exception;
    }

    /** Called after each tile with (done, total), for a progress bar. */
    public interface Progress {
        void update(int done, int total);
    }

    /** Tile origins along one axis of a padded image; every tile is `length` long. */
    public static final class Axis {
        public final int length;
        public final int[] starts;

        Axis(int length, int[] starts) {
            this.length = length;
            this.starts = starts;
        }
    }

    public final int tileH;
    public final int tileW;
    public final int overlap;
    public final int multiple;

    public Tiler(int tileH, int tileW, int overlap, int multiple) {
        if (multiple < 1) throw new IllegalArgumentException("size multiple must be >= 1, got " + multiple);
        if (tileH % multiple != 0 || tileW % multiple != 0) {
            throw new IllegalArgumentException("tile " + tileH + "x" + tileW + " is not a multiple of " + multiple);
        }
        if (overlap < 0 || 2 * overlap >= Math.min(tileH, tileW)) {
            throw new IllegalArgumentException("overlap " + overlap + " must be >= 0 and less than half the tile");
        }
        this.tileH = tileH;
        this.tileW = tileW;
        this.overlap = overlap;
        this.multiple = multiple;
    }

    /** numpy's "reflect" padding index: mirror without repeating the edge pixel, for any distance. */
    public static int reflect(int i, int n) {
        if (n == 1) return 0;
        int period = 2 * n - 2;
        int j = ((i % period) + period) % period;
        return j < n ? j : period - j;
    }

    /** Padded length of an axis: up to the multiple, and at least one tile. */
    public int paddedLength(int size, int tile) {
        int up = (size + multiple - 1) / multiple * multiple;
        return Math.max(up, tile);
    }

    /** Fixed-length tiles along an axis of `size` (already padded, >= tile): deblur_tf.inference._axis_tiles. */
    public static Axis axis(int size, int tile, int overlap, int multiple) {
        if (size <= tile) return new Axis(size, new int[] {0});
        int n = (int) Math.ceil((double) (size - overlap) / (tile - overlap));
        while (true) {
            int span = size - tile;
            int[] starts = new int[n];
            for (int i = 0; i < n - 1; i++) {
                // Python's round() (half to even) on i * span / (n - 1) / multiple
                starts[i] = (int) Math.rint((double) i * span / (n - 1) / multiple) * multiple;
            }
            starts[n - 1] = span;
            boolean ok = true;
            for (int i = 0; i + 1 < n; i++) {
                if (starts[i] + tile - starts[i + 1] < overlap) ok = false;
            }
            if (ok) return new Axis(tile, starts);
            n += 1; // rounding to the grid ate into an overlap: one tile more
        }
    }

    /** 1-D weights of a tile: dead margin of overlap/4, linear ramp over the rest of the overlap, then 1. */
    public static float[] feather(int length, int overlap, boolean rampStart, boolean rampEnd) {
        float[] w = new float[length];
        java.util.Arrays.fill(w, 1f);
        int margin = overlap / 4;
        int rampLen = Math.max(overlap - 2 * margin, 1);
        int n = Math.min(margin + rampLen, length / 2);
        float[] ramp = new float[n];
        for (int i = 0; i < n; i++) ramp[i] = i < margin ? 0f : (float) ((i - margin + 0.5) / rampLen);
        for (int i = 0; i < n; i++) {
            if (rampStart) w[i] = Math.min(w[i], ramp[i]);
            if (rampEnd) w[length - 1 - i] = Math.min(w[length - 1 - i], ramp[i]);
        }
        return w;
    }

    /** How many model calls an h x w photo takes. */
    public int tileCount(int h, int w) {
        return axis(paddedLength(h, tileH), tileH, overlap, multiple).starts.length
                * axis(paddedLength(w, tileW), tileW, overlap, multiple).starts.length;
    }

    /**
     * Deblur an h x w RGB image (float HWC in [0, 1], h * w * 3 values) with `model`; returns the same layout,
     * clipped to [0, 1]. Memory: the padded image is never built (reflection is index arithmetic); the
     * accumulators are (padded h) x (padded w) x 4 floats.
     */
    public float[] run(float[] rgb, int h, int w, TileModel model, Progress progress) throws Exception {
        if (rgb.length != h * w * 3) throw new IllegalArgumentException("expected " + (h * w * 3) + " values");
        int ph = paddedLength(h, tileH);
        int pw = paddedLength(w, tileW);
        Axis ay = axis(ph, tileH, overlap, multiple);
        Axis ax = axis(pw, tileW, overlap, multiple);
        float[] acc = new float[ph * pw * 3];
        float[] wsum = new float[ph * pw];
        float[] in = new float[tileH * tileW * 3];
        float[] out = new float[tileH * tileW * 3];
        int total = ay.starts.length * ax.starts.length;
        int done = 0;
        for (int y0 : ay.starts) {
            float[] wy = feather(tileH, overlap, y0 > 0, y0 + tileH < ph);
            for (int x0 : ax.starts) {
                float[] wx = feather(tileW, overlap, x0 > 0, x0 + tileW < pw);
                for (int ty = 0; ty < tileH; ty++) {
                    int sy = reflect(y0 + ty, h);
                    for (int tx = 0; tx < tileW; tx++) {
                        int sx = reflect(x0 + tx, w);
                        int s = (sy * w + sx) * 3;
                        int d = (ty * tileW + tx) * 3;
                        in[d] = rgb[s];
                        in[d + 1] = rgb[s + 1];
                        in[d + 2] = rgb[s + 2];
                    }
                }
                model.run(in, out);
                for (int ty = 0; ty < tileH; ty++) {
                    int row = (y0 + ty) * pw;
                    for (int tx = 0; tx < tileW; tx++) {
                        float wt = wy[ty] * wx[tx];
                        int p = row + x0 + tx;
                        int o = (ty * tileW + tx) * 3;
                        acc[p * 3] += out[o] * wt;
                        acc[p * 3 + 1] += out[o + 1] * wt;
                        acc[p * 3 + 2] += out[o + 2] * wt;
                        wsum[p] += wt;
                    }
                }
                done += 1;
                if (progress != null) progress.update(done, total);
            }
        }
        float[] result = new float[h * w * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = y * pw + x;
                float norm = Math.max(wsum[p], 1e-8f);
                for (int c = 0; c < 3; c++) {
                    float v = acc[p * 3 + c] / norm;
                    result[(y * w + x) * 3 + c] = Math.min(1f, Math.max(0f, v));
                }
            }
        }
        return result;
    }
}

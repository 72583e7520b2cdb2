package org.deblurtf.demo;

import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;

/*
 * JVM test of Tiler, with no test framework so that a bare JDK runs it (tests/test_android.py compiles it with
 * javac and runs it with java; the Gradle build does not need it).
 *
 *   java org.deblurtf.demo.TilerCheck selftest
 *       invariants that must hold for any layout: identity model gives the input back to 1e-6 (also for
 *       photos smaller than a tile and non-square tiles), every tile is a full tile inside the padded image,
 *       neighbours overlap by >= overlap, origins sit on the multiple, one model call per planned tile.
 *   java org.deblurtf.demo.TilerCheck run H W TILE_H TILE_W OVERLAP MULTIPLE in.f32 out.f32
 *       runs FakeModel (a tile-local 3x3 filter with zero padding, so seams show unless the blend is right)
 *       over an H x W x 3 little-endian float32 image; the Python test runs the same filter through
 *       deblur_tf.inference.Deblurrer and compares.
 */
public final class TilerCheck {
    private static int checks = 0;

    private static void check(boolean ok, String what) {
        checks++;
        if (!ok) throw new AssertionError(what);
    }

    /** 0.6 * x[c] + 0.4 * (3x3 mean of channel (c+1) % 3, zeros outside the tile). */
    static Tiler.TileModel fakeModel(int th, int tw) {
        return (in, out) -> {
            for (int y = 0; y < th; y++) {
                for (int x = 0; x < tw; x++) {
                    for (int c = 0; c < 3; c++) {
                        int cc = (c + 1) % 3;
                        float s = 0f;
                        for (int dy = -1; dy <= 1; dy++) {
                            for (int dx = -1; dx <= 1; dx++) {
                                int yy = y + dy, xx = x + dx;
                                if (yy >= 0 && yy < th && xx >= 0 && xx < tw) s += in[(yy * tw + xx) * 3 + cc];
                            }
                        }
                        out[(y * tw + x) * 3 + c] = 0.6f * in[(y * tw + x) * 3 + c] + 0.4f * (s / 9f);
                    }
                }
            }
        };
    }

    private static void selftest() throws Exception {
        java.util.Random rng = new java.util.Random(16);
        int[][] layouts = {{64, 64, 16, 16}, {64, 48, 8, 16}, {32, 32, 8, 8}, {256, 256, 32, 16}};
        int[][] sizes = {{1, 1}, {7, 300}, {100, 100}, {300, 257}, {64, 64}, {65, 129}, {480, 640}};
        for (int[] l : layouts) {
            Tiler t = new Tiler(l[0], l[1], l[2], l[3]);
            for (int[] s : sizes) {
                int h = s[0], w = s[1];
                String tag = h + "x" + w + " in " + l[0] + "x" + l[1] + "/" + l[2] + "/" + l[3];
                int ph = t.paddedLength(h, t.tileH), pw = t.paddedLength(w, t.tileW);
                check(ph >= h && pw >= w && ph % t.multiple == 0 && pw % t.multiple == 0, "padding " + tag);
                for (int axisNo = 0; axisNo < 2; axisNo++) {
                    int size = axisNo == 0 ? ph : pw, tile = axisNo == 0 ? t.tileH : t.tileW;
                    Tiler.Axis a = Tiler.axis(size, tile, t.overlap, t.multiple);
                    check(a.length == tile, "full tiles " + tag);
                    check(a.starts[0] == 0 && a.starts[a.starts.length - 1] + tile == size, "flush ends " + tag);
                    for (int i = 0; i < a.starts.length; i++) {
                        check(a.starts[i] % t.multiple == 0, "origin on the multiple " + tag);
                        if (i > 0) check(a.starts[i - 1] + tile - a.starts[i] >= t.overlap, "overlap " + tag);
                    }
                }
                float[] img = new float[h * w * 3];
                for (int i = 0; i < img.length; i++) img[i] = rng.nextInt(256) / 255f;
                int[] calls = {0};
                float[] out = t.run(img, h, w, (in, o) -> {
                    calls[0]++;
                    System.arraycopy(in, 0, o, 0, in.length);
                }, null);
                check(calls[0] == t.tileCount(h, w), "one call per tile " + tag);
                float worst = 0f;
                for (int i = 0; i < img.length; i++) worst = Math.max(worst, Math.abs(out[i] - img[i]));
                // float rounding of sum(w x) / sum(w) only: far below one 8-bit level (0.0039)
                check(worst <= 1e-6f, "identity model returns the input " + tag + " (max diff " + worst + ")");
            }
        }
        float[] f = Tiler.feather(64, 16, true, true);
        check(f[0] == 0f && f[3] == 0f && f[4] > 0f && f[31] == 1f && f[63] == 0f, "feather dead margin and ramp");
        check(Tiler.reflect(-1, 4) == 1 && Tiler.reflect(4, 4) == 2 && Tiler.reflect(9, 4) == 3, "reflect");
        System.out.println("TilerCheck selftest OK: " + checks + " checks");
    }

    private static void run(String[] a) throws Exception {
        int h = Integer.parseInt(a[1]), w = Integer.parseInt(a[2]);
        int th = Integer.parseInt(a[3]), tw = Integer.parseInt(a[4]);
        Tiler t = new Tiler(th, tw, Integer.parseInt(a[5]), Integer.parseInt(a[6]));
        ByteBuffer bin = ByteBuffer.wrap(Files.readAllBytes(Paths.get(a[7]))).order(ByteOrder.LITTLE_ENDIAN);
        float[] img = new float[h * w * 3];
        bin.asFloatBuffer().get(img);
        int[] calls = {0};
        Tiler.TileModel fake = fakeModel(th, tw);
        float[] out = t.run(img, h, w, (in, o) -> { calls[0]++; fake.run(in, o); }, null);
        ByteBuffer bout = ByteBuffer.allocate(out.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        bout.asFloatBuffer().put(out);
        try (FileOutputStream fo = new FileOutputStream(a[8])) {
            fo.write(bout.array());
        }
        System.out.println("TilerCheck run OK: " + h + "x" + w + ", " + calls[0] + " tiles");
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("selftest")) {
            selftest();
        } else if (args.length == 9 && args[0].equals("run")) {
            run(args);
        } else {
            System.err.println("usage: TilerCheck selftest | run H W TILE_H TILE_W OVERLAP MULTIPLE in.f32 out.f32");
            System.exit(2);
        }
    }
}

package com.mobileclipkd.core;

/**
 * Pillow's {@code Image.resize(size, BICUBIC)} on 8-bit RGB, bit for bit (Pillow {@code src/libImaging/Resample.c},
 * {@code ImagingResample}): separable convolution, one pass per dimension that changes, in Pillow's order
 * (see {@link Order}: horizontal first, except since Pillow 13 when the height shrinks much more); filter support scaled by the reduction factor when downsampling; cubic kernel with
 * a = -0.5; coefficients normalised to sum 1 then converted to fixed point with {@code PRECISION_BITS = 22}
 * (round half away from zero); accumulators start at 1 &lt;&lt; 21 (rounding) and are clipped to 0..255 after
 * EACH pass. This is what torchvision's {@code Resize} does to PIL images.
 */
public final class PillowResize {
    static final int PRECISION_BITS = 32 - 8 - 2;

    private PillowResize() {
    }

    static double bicubic(double x) {
        final double a = -0.5;
        if (x < 0.0) x = -x;
        if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
        return 0.0;
    }

    /** Coefficients of one axis: bounds[2*xx] = xmin, bounds[2*xx+1] = count; kk[xx*ksize + x] fixed point. */
    static final class Coeffs {
        final int ksize;
        final int[] bounds;
        final int[] kk;

        Coeffs(int ksize, int[] bounds, int[] kk) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.kk = kk;
        }
    }

    static Coeffs precompute(int inSize, float in0, float in1, int outSize) {
        final double supportBase = 2.0; // bicubic
        double scale = (double) (in1 - in0) / outSize;
        double filterscale = scale < 1.0 ? 1.0 : scale;
        double support = supportBase * filterscale;
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        double[] pre = new double[outSize * ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = in0 + (xx + 0.5) * scale;
            double ww = 0.0;
            double ss = 1.0 / filterscale;
            int xmin = (int) (center - support + 0.5); // C cast truncates toward zero
            if (xmin < 0) xmin = 0;
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++) {
                double w = bicubic((x + xmin - center + 0.5) * ss);
                pre[xx * ksize + x] = w;
                ww += w;
            }
            for (int x = 0; x < xmax; x++) if (ww != 0.0) pre[xx * ksize + x] /= ww;
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        int[] kk = new int[pre.length];
        for (int k = 0; k < pre.length; k++) {
            kk[k] = pre[k] < 0 ? (int) (-0.5 + pre[k] * (1 << PRECISION_BITS))
                               : (int) (0.5 + pre[k] * (1 << PRECISION_BITS));
        }
        return new Coeffs(ksize, bounds, kk);
    }

    static int clip8(int in) {
        int v = in >> PRECISION_BITS; // arithmetic shift, as Pillow's lookup index
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /** Pass order of the Pillow release being matched. */
    public enum Order {
        /** Pillow &lt;= 12: horizontal pass first, always. */
        LEGACY_HORIZONTAL_FIRST,
        /**
         * Pillow &gt;= 13: vertical pass first when the height shrinks by more than twice as many pixels as the
         * width ({@code (inH - outH) > 0 && (inH - outH) > (inW - outW) * 2}), else horizontal first.
         */
        PILLOW_13
    }

    /** Same as {@link #resize(int[], int, int, int, int, Order)} with {@link Order#PILLOW_13}. */
    public static int[] resize(int[] rgb, int inW, int inH, int outW, int outH) {
        return resize(rgb, inW, inH, outW, outH, Order.PILLOW_13);
    }

    /**
     * Resizes packed RGB (0xRRGGBB per int; any alpha byte is ignored) from inW x inH to outW x outH.
     * Returns packed 0xRRGGBB ints.
     */
    public static int[] resize(int[] rgb, int inW, int inH, int outW, int outH, Order order) {
        if (rgb.length < inW * inH) throw new IllegalArgumentException("pixel array shorter than width*height");
        if (outW <= 0 || outH <= 0) throw new IllegalArgumentException("output size must be positive");
        int[] img = new int[inW * inH];
        for (int k = 0; k < img.length; k++) img[k] = rgb[k] & 0xFFFFFF;
        if (outW == inW && outH == inH) return img; // Image.resize returns a copy
        boolean needH = outW != inW;
        boolean needV = outH != inH;
        boolean horizontalFirst = order == Order.LEGACY_HORIZONTAL_FIRST
                || !((inH - outH) > 0 && (inH - outH) > (inW - outW) * 2);
        Coeffs vert = needV || (needH && horizontalFirst) ? precompute(inH, 0f, (float) inH, outH) : null;
        Coeffs hor = needH ? precompute(inW, 0f, (float) inW, outW) : null;
        int w = inW, h = inH;
        if (horizontalFirst) {
            if (needH) {
                // only the source rows the vertical pass will read, as Pillow does
                int yFirst = vert.bounds[0];
                int yLast = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
                img = horizontal(img, w, yFirst, yLast - yFirst, hor, outW);
                w = outW;
                h = yLast - yFirst;
                int[] vb = vert.bounds.clone();
                for (int i = 0; i < outH; i++) vb[i * 2] -= yFirst;
                vert = new Coeffs(vert.ksize, vb, vert.kk);
            }
            if (needV) img = vertical(img, w, vert, outH);
        } else {
            if (needV) img = vertical(img, w, vert, outH);
            h = outH;
            if (needH) img = horizontal(img, w, 0, h, hor, outW);
        }
        return img;
    }

    private static int[] horizontal(int[] img, int w, int rowOffset, int rows, Coeffs hor, int outW) {
        int[] out = new int[outW * rows];
        final int half = 1 << (PRECISION_BITS - 1);
        for (int yy = 0; yy < rows; yy++) {
            int src = (yy + rowOffset) * w;
            for (int xx = 0; xx < outW; xx++) {
                int xmin = hor.bounds[xx * 2], xmax = hor.bounds[xx * 2 + 1], kb = xx * hor.ksize;
                int s0 = half, s1 = half, s2 = half;
                for (int x = 0; x < xmax; x++) {
                    int p = img[src + x + xmin], k = hor.kk[kb + x];
                    s0 += ((p >> 16) & 0xFF) * k;
                    s1 += ((p >> 8) & 0xFF) * k;
                    s2 += (p & 0xFF) * k;
                }
                out[yy * outW + xx] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2);
            }
        }
        return out;
    }

    private static int[] vertical(int[] img, int w, Coeffs vert, int outH) {
        int[] out = new int[w * outH];
        final int half = 1 << (PRECISION_BITS - 1);
        for (int yy = 0; yy < outH; yy++) {
            int ymin = vert.bounds[yy * 2], ymax = vert.bounds[yy * 2 + 1], kb = yy * vert.ksize;
            for (int xx = 0; xx < w; xx++) {
                int s0 = half, s1 = half, s2 = half;
                for (int y = 0; y < ymax; y++) {
                    int p = img[(y + ymin) * w + xx], k = vert.kk[kb + y];
                    s0 += ((p >> 16) & 0xFF) * k;
                    s1 += ((p >> 8) & 0xFF) * k;
                    s2 += (p & 0xFF) * k;
                }
                out[yy * w + xx] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2);
            }
        }
        return out;
    }
}

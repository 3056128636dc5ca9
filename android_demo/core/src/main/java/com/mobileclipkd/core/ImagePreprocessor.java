package com.mobileclipkd.core;

/**
 * CLIP eval preprocessing on an int ARGB array (Android {@code Bitmap.getPixels} layout, row-major), the same as
 * {@code mobileclip.image_transform(preprocess)} = torchvision {@code Resize(size, bicubic)} (shortest side, on a
 * PIL image: {@link PillowResize}) -&gt; {@code CenterCrop(size)} -&gt; {@code ToTensor()} -&gt;
 * {@code Normalize(mean, std)}, all in float32 like torch. Alpha is dropped (PIL {@code convert("RGB")}).
 */
public final class ImagePreprocessor {
    public final int imageSize;
    public final float[] mean;
    public final float[] std;
    public final boolean nhwc;
    public final PillowResize.Order resizeOrder;

    public ImagePreprocessor(int imageSize, double[] mean, double[] std, String layout) {
        this(imageSize, mean, std, layout, PillowResize.Order.PILLOW_13);
    }

    /** {@code resizeOrder}: the pass order of the Pillow release the model's Python side used. */
    public ImagePreprocessor(int imageSize, double[] mean, double[] std, String layout, PillowResize.Order resizeOrder) {
        this.resizeOrder = resizeOrder;
        if (imageSize <= 0) throw new IllegalArgumentException("image_size must be positive");
        if (mean.length != 3 || std.length != 3) throw new IllegalArgumentException("mean/std need 3 values");
        this.imageSize = imageSize;
        this.mean = new float[] {(float) mean[0], (float) mean[1], (float) mean[2]};
        this.std = new float[] {(float) std[0], (float) std[1], (float) std[2]};
        if (!"NCHW".equals(layout) && !"NHWC".equals(layout))
            throw new IllegalArgumentException("layout must be NCHW or NHWC, got " + layout);
        this.nhwc = "NHWC".equals(layout);
    }

    public static ImagePreprocessor fromManifest(Manifest.Preprocess p) {
        return new ImagePreprocessor(p.imageSize, p.mean, p.std, p.layout);
    }

    /** torchvision's {@code _compute_resized_output_size} for an int size: {width, height}. */
    public static int[] resizedSize(int w, int h, int size) {
        int shortSide = Math.min(w, h), longSide = Math.max(w, h);
        int newLong = (int) ((double) ((long) size * longSide) / shortSide);
        return w <= h ? new int[] {size, newLong} : new int[] {newLong, size};
    }

    /** Resize (shortest side) + centre crop: packed 0xRRGGBB of imageSize x imageSize. */
    public int[] resizeAndCrop(int[] argb, int width, int height) {
        int[] wh = resizedSize(width, height, imageSize);
        int[] resized = PillowResize.resize(argb, width, height, wh[0], wh[1], resizeOrder);
        int rw = wh[0], rh = wh[1];
        if (rw < imageSize || rh < imageSize) throw new IllegalStateException("resized image smaller than crop");
        // torchvision: crop_top = int(round((h - crop) / 2.0)), Python round = half to even (Math.rint)
        int top = (int) Math.rint((rh - imageSize) / 2.0);
        int left = (int) Math.rint((rw - imageSize) / 2.0);
        int[] out = new int[imageSize * imageSize];
        for (int y = 0; y < imageSize; y++)
            System.arraycopy(resized, (y + top) * rw + left, out, y * imageSize, imageSize);
        return out;
    }

    /** The model input, float32, NCHW (or NHWC when the manifest says so), batch of 1 flattened. */
    public float[] preprocess(int[] argb, int width, int height) {
        int[] rgb = resizeAndCrop(argb, width, height);
        int n = imageSize * imageSize;
        float[] out = new float[3 * n];
        for (int k = 0; k < n; k++) {
            int p = rgb[k];
            int[] c = {(p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF};
            for (int ch = 0; ch < 3; ch++) {
                float v = (float) c[ch] / 255f; // ToTensor: float32 division
                v = (v - mean[ch]) / std[ch]; // Normalize: float32 sub then div
                if (nhwc) out[k * 3 + ch] = v;
                else out[ch * n + k] = v;
            }
        }
        return out;
    }
}

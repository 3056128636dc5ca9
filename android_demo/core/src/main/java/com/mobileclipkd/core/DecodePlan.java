package com.mobileclipkd.core;

/**
 * The size a photo is decoded at, decided from its header before any pixel buffer exists: one rule for the
 * zero-shot picker, the camera and the library index, and the same rule as the iOS kit's {@code DecodePlan}.
 *
 * <p>The target has its short side at twice the model input (never upscaled; the remaining bicubic resize to the
 * model size is then Pillow's), the long side following the aspect, shrunk further when it would exceed
 * {@link #DEFAULT_MAX_PIXELS}: a 20000x3000 panorama at 224 px becomes 2987x448. Android decodes with
 * {@link #sampleSize}, the largest power of two that keeps the subsampled image at least the target, then scales
 * to the target; the subsampled buffer is also bounded by {@code maxPixels}.
 */
public final class DecodePlan {
    /** At most this many decoded pixels (4 bytes each: 64 MB) for one photo. */
    public static final int DEFAULT_MAX_PIXELS = 16_000_000;

    public final int sourceWidth, sourceHeight, width, height, sampleSize;

    private DecodePlan(int sourceWidth, int sourceHeight, int width, int height, int sampleSize) {
        this.sourceWidth = sourceWidth;
        this.sourceHeight = sourceHeight;
        this.width = width;
        this.height = height;
        this.sampleSize = sampleSize;
    }

    public static int shortSide(int imageSize) {
        return 2 * imageSize;
    }

    public static DecodePlan of(int width, int height, int imageSize) {
        return of(width, height, imageSize, DEFAULT_MAX_PIXELS);
    }

    /** The plan for a {@code width x height} photo; throws {@link IllegalArgumentException} (one line, the
     * photo is skipped) when it cannot be decoded within {@code maxPixels} at the model's size. */
    public static DecodePlan of(int width, int height, int imageSize, long maxPixels) {
        if (width <= 0 || height <= 0 || imageSize <= 0)
            throw new IllegalArgumentException("photo size " + width + "x" + height);
        int shortest = Math.min(width, height);
        double f = Math.min(1.0, (double) shortSide(imageSize) / shortest);
        boolean down = false;
        if ((double) width * f * height * f > maxPixels) {
            f = Math.sqrt(maxPixels / ((double) width * height));
            down = true;
        }
        int w = Math.max(1, (int) (down ? Math.floor(width * f) : Math.round(width * f)));
        int h = Math.max(1, (int) (down ? Math.floor(height * f) : Math.round(height * f)));
        if (Math.min(w, h) < Math.min(imageSize, shortest) || (long) w * h > maxPixels)
            throw new IllegalArgumentException("a " + width + "x" + height + " photo does not fit " + maxPixels
                    + " pixels at the model's " + imageSize + " px: skipped");
        int s = 1;
        while (width / (2 * s) >= w && height / (2 * s) >= h) s *= 2;
        while ((long) (width / s) * (height / s) > maxPixels) s *= 2; // only when the target is near maxPixels
        int sw = width / s, sh = height / s;
        return new DecodePlan(width, height, Math.min(w, sw), Math.min(h, sh), s);
    }

    /** Pixels of the largest buffer the decode allocates (the subsampled image). */
    public long maxDecodedPixels() {
        return (long) Math.max(width, sourceWidth / sampleSize) * Math.max(height, sourceHeight / sampleSize);
    }

    @Override
    public String toString() {
        return sourceWidth + "x" + sourceHeight + " -> 1/" + sampleSize + " -> " + width + "x" + height;
    }
}

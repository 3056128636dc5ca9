package com.mobileclipkd.demo;

import android.content.ContentResolver;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import java.io.IOException;
import java.io.InputStream;

/** Decoding photos for the image tower. */
final class Bitmaps {
    private Bitmaps() {
    }

    /**
     * Decodes {@code uri} as ARGB_8888, subsampled by a power of two while the shorter side stays at least
     * {@code 2 * minShortSide} (a 12 MP photo would otherwise need 48 MB of pixels). The remaining bicubic
     * resize to the model size is the Pillow-exact one in the core module; subsampling itself is Android's,
     * so results can differ slightly from Python on the full-size file (pass minShortSide = 0 for full size).
     */
    static Bitmap decode(ContentResolver resolver, Uri uri, int minShortSide) throws IOException {
        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        try (InputStream in = resolver.openInputStream(uri)) {
            BitmapFactory.decodeStream(in, null, bounds);
        }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw new IOException("not an image: " + uri);
        int sample = 1;
        int shortSide = Math.min(bounds.outWidth, bounds.outHeight);
        while (minShortSide > 0 && shortSide / (sample * 2) >= 2 * minShortSide) sample *= 2;
        BitmapFactory.Options opts = new BitmapFactory.Options();
        opts.inSampleSize = sample;
        opts.inPreferredConfig = Bitmap.Config.ARGB_8888;
        try (InputStream in = resolver.openInputStream(uri)) {
            Bitmap bmp = BitmapFactory.decodeStream(in, null, opts);
            if (bmp == null) throw new IOException("cannot decode " + uri);
            return bmp;
        }
    }

    static Bitmap decode(InputStream in) throws IOException {
        BitmapFactory.Options opts = new BitmapFactory.Options();
        opts.inPreferredConfig = Bitmap.Config.ARGB_8888;
        Bitmap bmp = BitmapFactory.decodeStream(in, null, opts);
        if (bmp == null) throw new IOException("cannot decode bundled photo");
        return bmp;
    }

    static Bitmap thumbnail(Bitmap src, int size) {
        int w = src.getWidth(), h = src.getHeight();
        float s = (float) size / Math.min(w, h);
        return Bitmap.createScaledBitmap(src, Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s)), true);
    }
}

package com.mobileclipkd.demo;

import android.content.ContentResolver;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import com.mobileclipkd.core.ExifOrientation;
import java.io.IOException;
import java.io.InputStream;

/** Decoding photos for the image tower. */
final class Bitmaps {
    private Bitmaps() {
    }

    /**
     * Decodes {@code uri} as ARGB_8888 with its EXIF orientation applied, subsampled by a power of two while the shorter side stays at least
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
        Bitmap bmp;
        try (InputStream in = resolver.openInputStream(uri)) {
            bmp = BitmapFactory.decodeStream(in, null, opts);
        }
        if (bmp == null) throw new IOException("cannot decode " + uri);
        int orientation;
        try (InputStream in = resolver.openInputStream(uri)) {
            orientation = ExifOrientation.read(in);
        }
        return oriented(bmp, orientation);
    }

    /** The photo as displayed: EXIF orientation applied exactly (core ExifOrientation, as Python and iOS). */
    static Bitmap oriented(Bitmap bmp, int orientation) {
        if (orientation <= 1) return bmp;
        int w = bmp.getWidth(), h = bmp.getHeight();
        int[] argb = new int[w * h];
        bmp.getPixels(argb, 0, w, 0, 0, w, h);
        ExifOrientation.Oriented o = ExifOrientation.apply(argb, w, h, orientation);
        return Bitmap.createBitmap(o.argb, o.width, o.height, Bitmap.Config.ARGB_8888);
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

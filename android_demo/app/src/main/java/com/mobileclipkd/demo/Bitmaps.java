package com.mobileclipkd.demo;

import android.content.ContentResolver;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import androidx.exifinterface.media.ExifInterface;
import com.mobileclipkd.core.DecodePlan;
import com.mobileclipkd.core.ExifOrientation;
import com.mobileclipkd.core.PhotoIndexer;
import java.io.IOException;
import java.io.InputStream;

/** Decoding photos for the image tower: bounded by the core's DecodePlan before any pixel buffer exists. */
final class Bitmaps {
    private Bitmaps() {
    }

    /** {width, height} as stored, from the header only. */
    static int[] size(ContentResolver resolver, Uri uri) throws IOException {
        BitmapFactory.Options bounds = new BitmapFactory.Options();
        bounds.inJustDecodeBounds = true;
        try (InputStream in = open(resolver, uri)) {
            BitmapFactory.decodeStream(in, null, bounds);
        }
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) throw new IOException("not an image: " + uri);
        return new int[] {bounds.outWidth, bounds.outHeight};
    }

    /**
     * Decodes {@code uri} as ARGB_8888 at the size {@link DecodePlan} gives for {@code imageSize} (short side 2x the
     * model input, at most 16 MP, planned from the header): subsampled by a power of two, scaled to the plan, then
     * the EXIF orientation applied. The remaining bicubic resize to the model size is the core's Pillow-exact one;
     * subsampling is Android's, so results differ slightly from Python reading the full-size file.
     */
    static Bitmap decode(ContentResolver resolver, Uri uri, int imageSize) throws IOException {
        int[] wh = size(resolver, uri);
        return decode(resolver, uri, DecodePlan.of(wh[0], wh[1], imageSize));
    }

    static Bitmap decode(ContentResolver resolver, Uri uri, DecodePlan plan) throws IOException {
        BitmapFactory.Options opts = new BitmapFactory.Options();
        opts.inSampleSize = plan.sampleSize;
        opts.inPreferredConfig = Bitmap.Config.ARGB_8888;
        Bitmap bmp;
        try (InputStream in = open(resolver, uri)) {
            bmp = BitmapFactory.decodeStream(in, null, opts);
        }
        if (bmp == null) throw new IOException("cannot decode " + uri);
        if (bmp.getWidth() != plan.width || bmp.getHeight() != plan.height)
            bmp = Bitmap.createScaledBitmap(bmp, plan.width, plan.height, true);
        return oriented(bmp, orientation(resolver, uri));
    }

    /** The same decode as pixels for the core's PhotoIndexer. */
    static PhotoIndexer.Pixels pixels(ContentResolver resolver, Uri uri, DecodePlan plan) throws IOException {
        Bitmap bmp = decode(resolver, uri, plan);
        int w = bmp.getWidth(), h = bmp.getHeight();
        int[] argb = new int[w * h];
        bmp.getPixels(argb, 0, w, 0, 0, w, h);
        return new PhotoIndexer.Pixels(argb, w, h);
    }

    /**
     * EXIF orientation of JPEG, HEIF/HEIC, WebP, PNG and DNG files (AndroidX ExifInterface; the platform's reads
     * JPEG only before API 28/30). A malformed block gives "normal" and the photo is still indexed.
     */
    static int orientation(ContentResolver resolver, Uri uri) {
        try (InputStream in = open(resolver, uri)) {
            return new ExifInterface(in).getAttributeInt(ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL);
        } catch (IOException | RuntimeException e) {
            android.util.Log.w("mobileclip", "no EXIF orientation for " + uri + ": " + e.getMessage());
            return ExifInterface.ORIENTATION_NORMAL;
        }
    }

    private static InputStream open(ContentResolver resolver, Uri uri) throws IOException {
        InputStream in = resolver.openInputStream(uri);
        if (in == null) throw new IOException("cannot open " + uri);
        return in;
    }

    /** The photo as displayed: EXIF orientation applied exactly (core ExifOrientation, as Python and iOS). */
    static Bitmap oriented(Bitmap bmp, int orientation) {
        if (orientation <= 1 || orientation > 8) return bmp;
        int w = bmp.getWidth(), h = bmp.getHeight();
        int[] argb = new int[w * h];
        bmp.getPixels(argb, 0, w, 0, 0, w, h);
        ExifOrientation.Oriented o = ExifOrientation.apply(argb, w, h, orientation);
        return Bitmap.createBitmap(o.argb, o.width, o.height, Bitmap.Config.ARGB_8888);
    }

    /** A bundled asset photo (no EXIF) at its plan size. */
    static Bitmap decode(InputStream in, DecodePlan plan) throws IOException {
        BitmapFactory.Options opts = new BitmapFactory.Options();
        opts.inSampleSize = plan.sampleSize;
        opts.inPreferredConfig = Bitmap.Config.ARGB_8888;
        Bitmap bmp = BitmapFactory.decodeStream(in, null, opts);
        if (bmp == null) throw new IOException("cannot decode bundled photo");
        if (bmp.getWidth() == plan.width && bmp.getHeight() == plan.height) return bmp;
        return Bitmap.createScaledBitmap(bmp, plan.width, plan.height, true);
    }

    static Bitmap thumbnail(Bitmap src, int size) {
        int w = src.getWidth(), h = src.getHeight();
        float s = (float) size / Math.min(w, h);
        return Bitmap.createScaledBitmap(src, Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s)), true);
    }
}

package com.mobileclipkd.demo;

import android.content.ContentResolver;
import android.content.ContentUris;
import android.content.res.AssetManager;
import android.database.Cursor;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import android.provider.MediaStore;
import com.mobileclipkd.core.DecodePlan;
import com.mobileclipkd.core.PhotoIndexer;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/** The photo libraries the search screen indexes: the gallery (MediaStore) or the bundled sample photos. */
final class Libraries {
    private Libraries() {
    }

    /** A library: what to index (ids + modification times), how to decode a photo and draw its thumbnail. */
    interface Library extends PhotoIndexer.Source {
        /** File name of its saved index. */
        String name();

        List<PhotoIndexer.Photo> list() throws IOException;

        Bitmap thumbnail(long id, int size) throws IOException;
    }

    /** Every photo MediaStore lets us see: all of them, or the user's selection (Android 14 partial access). */
    static final class Gallery implements Library {
        private final ContentResolver resolver;

        Gallery(ContentResolver resolver) {
            this.resolver = resolver;
        }

        @Override
        public String name() {
            return "gallery";
        }

        static Uri uri(long id) {
            return ContentUris.withAppendedId(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, id);
        }

        @Override
        public List<PhotoIndexer.Photo> list() {
            List<PhotoIndexer.Photo> out = new ArrayList<>();
            String[] projection = {MediaStore.Images.Media._ID, MediaStore.Images.Media.DATE_MODIFIED};
            try (Cursor c = resolver.query(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, projection, null, null,
                    MediaStore.Images.Media.DATE_ADDED + " DESC")) {
                while (c != null && c.moveToNext()) out.add(new PhotoIndexer.Photo(c.getLong(0), c.getLong(1)));
            }
            return out;
        }

        @Override
        public int[] size(PhotoIndexer.Photo photo) throws IOException {
            return Bitmaps.size(resolver, uri(photo.id));
        }

        @Override
        public PhotoIndexer.Pixels decode(PhotoIndexer.Photo photo, DecodePlan plan) throws IOException {
            return Bitmaps.pixels(resolver, uri(photo.id), plan);
        }

        @Override
        public Bitmap thumbnail(long id, int size) throws IOException {
            return Bitmaps.thumbnail(Bitmaps.decode(resolver, uri(id), size), size);
        }
    }

    /** The sample photos in assets/photos; the id is the position in the sorted file list. */
    static final class Bundled implements Library {
        private final AssetManager assets;
        private final String[] files;

        Bundled(AssetManager assets) throws IOException {
            this.assets = assets;
            String[] f = assets.list("photos");
            if (f == null || f.length == 0) throw new IOException("no photos in assets/photos");
            java.util.Arrays.sort(f);
            this.files = f;
        }

        @Override
        public String name() {
            return "bundled";
        }

        @Override
        public List<PhotoIndexer.Photo> list() {
            List<PhotoIndexer.Photo> out = new ArrayList<>();
            for (int i = 0; i < files.length; i++) out.add(new PhotoIndexer.Photo(i, 0));
            return out;
        }

        private InputStream open(long id) throws IOException {
            return assets.open("photos/" + files[(int) id]);
        }

        @Override
        public int[] size(PhotoIndexer.Photo photo) throws IOException {
            BitmapFactory.Options bounds = new BitmapFactory.Options();
            bounds.inJustDecodeBounds = true;
            try (InputStream in = open(photo.id)) {
                BitmapFactory.decodeStream(in, null, bounds);
            }
            return new int[] {bounds.outWidth, bounds.outHeight};
        }

        @Override
        public PhotoIndexer.Pixels decode(PhotoIndexer.Photo photo, DecodePlan plan) throws IOException {
            Bitmap bmp;
            try (InputStream in = open(photo.id)) {
                bmp = Bitmaps.decode(in, plan);
            }
            int w = bmp.getWidth(), h = bmp.getHeight();
            int[] argb = new int[w * h];
            bmp.getPixels(argb, 0, w, 0, 0, w, h);
            return new PhotoIndexer.Pixels(argb, w, h);
        }

        @Override
        public Bitmap thumbnail(long id, int size) throws IOException {
            int[] wh = size(new PhotoIndexer.Photo(id, 0));
            try (InputStream in = open(id)) {
                return Bitmaps.thumbnail(Bitmaps.decode(in, DecodePlan.of(wh[0], wh[1], size)), size);
            }
        }

        String fileName(long id) {
            return files[(int) id];
        }
    }
}

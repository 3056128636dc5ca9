package com.mobileclipkd.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Brings a {@link PhotoIndex} up to date with the photo library: drops photos that are gone, embeds the new and
 * the changed ones (id + modification time), reports "n / N" progress after each photo, stops at the next photo
 * once cancelled, and saves the index every {@link #SAVE_EVERY} new photos (at least a quarter of the index apart) and at the end (also when cancelled, so
 * the work done is kept). Photos are decoded with a {@link DecodePlan} made from the header alone, so no pixel
 * buffer larger than the plan allows is ever requested. Runs on the caller's (worker) thread; the image tower
 * runs on the {@link EncoderSession}'s thread.
 */
public final class PhotoIndexer {
    public static final int SAVE_EVERY = 200;

    /** A photo of the library: its stable id (MediaStore {@code _ID}) and modification time. */
    public static final class Photo {
        public final long id, modified;

        public Photo(long id, long modified) {
            this.id = id;
            this.modified = modified;
        }
    }

    /** Decoded pixels: packed ARGB, row-major. */
    public static final class Pixels {
        public final int[] argb;
        public final int width, height;

        public Pixels(int[] argb, int width, int height) {
            if (argb.length != width * height) throw new IllegalArgumentException("pixels do not match the size");
            this.argb = argb;
            this.width = width;
            this.height = height;
        }
    }

    /** Where the photos come from (the app: MediaStore + BitmapFactory; the tests: fakes). */
    public interface Source {
        /** {width, height} read from the header only (no pixels). */
        int[] size(Photo photo) throws IOException;

        /** The photo at {@code plan.width x plan.height} (EXIF orientation applied; it may swap the two). */
        Pixels decode(Photo photo, DecodePlan plan) throws IOException;
    }

    public interface Listener {
        void onProgress(int done, int total);

        /** A photo that could not be indexed (unreadable, too large, ...): it is left out, the run goes on. */
        default void onSkipped(Photo photo, String why) {
        }
    }

    /** What a run did. */
    public static final class Result {
        public final int indexed, skipped, removed;
        public final boolean cancelled;

        Result(int indexed, int skipped, int removed, boolean cancelled) {
            this.indexed = indexed;
            this.skipped = skipped;
            this.removed = removed;
            this.cancelled = cancelled;
        }

        @Override
        public String toString() {
            return indexed + " indexed, " + skipped + " skipped, " + removed + " removed" + (cancelled ? ", cancelled" : "");
        }
    }

    private final EncoderSession<? extends ClipRuntime> session;
    private final ImagePreprocessor preprocessor;
    private final Source source;
    private final AtomicBoolean cancelled = new AtomicBoolean();

    public PhotoIndexer(EncoderSession<? extends ClipRuntime> session, ImagePreprocessor preprocessor, Source source) {
        this.session = session;
        this.preprocessor = preprocessor;
        this.source = source;
    }

    /** Stops the run at the next photo (any thread). */
    public void cancel() {
        cancelled.set(true);
    }

    public boolean isCancelled() {
        return cancelled.get() || Thread.currentThread().isInterrupted();
    }

    /** Updates {@code index} to {@code library}; {@code store} may be null (nothing saved). A closed session
     * ({@link EncoderSession.ClosedException}) ends the run with that exception, after saving. */
    public Result run(List<Photo> library, PhotoIndex index, PhotoIndexStore store, Listener listener)
            throws IOException {
        Set<Long> ids = new HashSet<>();
        for (Photo p : library) ids.add(p.id);
        int removed = index.retainOnly(ids);
        List<Photo> todo = new ArrayList<>();
        for (Photo p : library) if (!index.isCurrent(p.id, p.modified)) todo.add(p);
        int done = 0, indexed = 0, skipped = 0, unsaved = removed > 0 ? 1 : 0;
        listener.onProgress(0, todo.size());
        try {
            for (Photo p : todo) {
                if (isCancelled()) break;
                String why = indexOne(p, index);
                if (why == null) {
                    indexed++;
                    unsaved++;
                } else {
                    skipped++;
                    listener.onSkipped(p, why);
                }
                listener.onProgress(++done, todo.size());
                // a save rewrites the whole file: every SAVE_EVERY new photos, and no more often than every
                // quarter of the index (linear total writes, as MobileCLIPKit's indexer); skipped photos add none
                if (store != null && unsaved >= Math.max(SAVE_EVERY, index.size() / 4)) {
                    store.save(index);
                    unsaved = 0;
                }
            }
        } finally {
            index.trimToSize();
            if (store != null && unsaved > 0) store.save(index);
        }
        return new Result(indexed, skipped, removed, isCancelled());
    }

    /** Null when indexed, else why not. */
    private String indexOne(Photo p, PhotoIndex index) {
        try {
            int[] wh = source.size(p);
            DecodePlan plan = DecodePlan.of(wh[0], wh[1], preprocessor.imageSize);
            Pixels px = source.decode(p, plan);
            if ((long) px.width * px.height > plan.maxDecodedPixels())
                return "decoder returned " + px.width + "x" + px.height + ", more than planned (" + plan + ")";
            float[] input = preprocessor.preprocess(px.argb, px.width, px.height);
            float[] embedding = session.call(rt -> rt.encodeImage(input));
            index.put(p.id, p.modified, embedding);
            return null;
        } catch (EncoderSession.ClosedException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "cancelled";
        } catch (OutOfMemoryError e) {
            return "out of memory";
        } catch (Exception e) {
            return e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }
}

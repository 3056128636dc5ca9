package com.mobileclipkd.core;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The photo library's image embeddings: one row per photo id with the photo's modification time, stored compactly
 * ({@link CompactEmbeddings}: int8 + 4-bit remainders + a scale; under 0.9 KiB a photo at 512 dimensions with
 * the id map), tied to
 * the model that made them by {@link #fingerprint}. Safe to search while an indexer updates it: every call sees
 * the index between two updates (a read-write lock), and hits carry photo ids, never positions in a list the
 * screen may have replaced.
 */
public final class PhotoIndex {
    /** One search result: the photo's id and its cosine with the query. */
    public static final class Hit {
        public final long id;
        public final float score;

        Hit(long id, float score) {
            this.id = id;
            this.score = score;
        }

        @Override
        public String toString() {
            return id + ":" + score;
        }
    }

    public final String fingerprint;
    public final int dim;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final CompactEmbeddings rows;
    private long[] ids;
    private long[] modified;
    private final Map<Long, Integer> rowOf = new HashMap<>();

    public PhotoIndex(String fingerprint, int dim) {
        this(fingerprint, dim, 16);
    }

    public PhotoIndex(String fingerprint, int dim, int capacity) {
        this.fingerprint = fingerprint;
        this.dim = dim;
        this.rows = new CompactEmbeddings(dim, capacity);
        this.ids = new long[Math.max(1, capacity)];
        this.modified = new long[Math.max(1, capacity)];
    }

    /** Frees the spare capacity of the arrays (after an indexing run; a loaded index has none). */
    public void trimToSize() {
        lock.writeLock().lock();
        try {
            rows.trimToSize();
            ids = Arrays.copyOf(ids, Math.max(1, rows.size()));
            modified = Arrays.copyOf(modified, ids.length);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** What the index depends on: the image tower file's checksum, backend, weights, preprocessing and size. */
    public static String fingerprint(Manifest manifest, Manifest.Model image) {
        Manifest.Preprocess p = manifest.preprocess;
        String s = String.join("|", manifest.modelName, image.backend, image.tower, image.quantization, image.file,
                image.sha256, Long.toString(image.sizeBytes), Integer.toString(manifest.embedDim),
                Integer.toString(p.imageSize), p.resize, p.interpolation, p.crop, Arrays.toString(p.mean),
                Arrays.toString(p.std), Double.toString(p.scale), p.channelOrder, p.layout);
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            StringBuilder b = new StringBuilder();
            for (byte x : d) b.append(String.format("%02x", x & 0xFF));
            return b.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 missing", e);
        }
    }

    public int size() {
        lock.readLock().lock();
        try {
            return rows.size();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** True when {@code id} is indexed with this modification time (nothing to do for it). */
    public boolean isCurrent(long id, long modifiedTime) {
        lock.readLock().lock();
        try {
            Integer r = rowOf.get(id);
            return r != null && modified[r] == modifiedTime;
        } finally {
            lock.readLock().unlock();
        }
    }

    public boolean contains(long id) {
        lock.readLock().lock();
        try {
            return rowOf.containsKey(id);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Adds photo {@code id} or replaces its embedding. */
    public void put(long id, long modifiedTime, float[] embedding) {
        lock.writeLock().lock();
        try {
            Integer r = rowOf.get(id);
            if (r != null) {
                rows.set(r, embedding);
                modified[r] = modifiedTime;
                return;
            }
            append(id, modifiedTime);
            rows.add(embedding);
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Appends a stored row (for {@link PhotoIndexStore}). */
    void putRaw(long id, long modifiedTime, byte[] codes, int offset, float scale) {
        if (rowOf.containsKey(id)) throw new IllegalArgumentException("photo " + id + " stored twice");
        append(id, modifiedTime);
        rows.addRaw(codes, offset, scale);
    }

    private void append(long id, long modifiedTime) {
        int row = rows.size();
        if (row == ids.length) {
            ids = Arrays.copyOf(ids, row + Math.max(16, row >> 1));
            modified = Arrays.copyOf(modified, ids.length);
        }
        ids[row] = id;
        modified[row] = modifiedTime;
        rowOf.put(id, row);
    }

    public boolean remove(long id) {
        lock.writeLock().lock();
        try {
            Integer r = rowOf.remove(id);
            if (r == null) return false;
            int last = rows.size() - 1;
            rows.removeSwap(r);
            if (r != last) {
                ids[r] = ids[last];
                modified[r] = modified[last];
                rowOf.put(ids[r], r);
            }
            return true;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Removes every photo whose id is not in {@code keep}; returns how many. */
    public int retainOnly(Set<Long> keep) {
        List<Long> gone = new ArrayList<>();
        lock.readLock().lock();
        try {
            for (Long id : rowOf.keySet()) if (!keep.contains(id)) gone.add(id);
        } finally {
            lock.readLock().unlock();
        }
        for (long id : gone) remove(id);
        return gone.size();
    }

    public Set<Long> ids() {
        lock.readLock().lock();
        try {
            return new HashSet<>(rowOf.keySet());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The {@code k} photos closest to {@code query} (a text embedding), best first; ties by position. */
    public List<Hit> search(float[] query, int k) {
        lock.readLock().lock();
        try {
            float[] scores = new float[Math.min(k, rows.size())];
            int[] top = rows.topK(query, k, scores);
            List<Hit> hits = new ArrayList<>(top.length);
            for (int i = 0; i < top.length; i++) hits.add(new Hit(ids[top[i]], scores[i]));
            return hits;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Runs {@code reader} with the index frozen (what {@link PhotoIndexStore#save} writes). */
    void read(Reader reader) throws java.io.IOException {
        lock.readLock().lock();
        try {
            reader.read(rows.size(), ids, modified, rows);
        } finally {
            lock.readLock().unlock();
        }
    }

    interface Reader {
        void read(int n, long[] ids, long[] modified, CompactEmbeddings rows) throws java.io.IOException;
    }

    /** Heap bytes per photo held by the arrays (codes, scale, id, time), the id map's entries excluded. */
    public int arrayBytesPerPhoto() {
        return rows.bytesPerRow() + 2 * Long.BYTES;
    }
}

package com.mobileclipkd.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/** Fakes of the runtime and the photo source for the core's concurrency and index tests. */
final class Fakes {
    private Fakes() {
    }

    /** Clustered unit-ish vectors: {@code topics} centres plus noise, like image embeddings of a photo library. */
    static float[][] clustered(int n, int dim, int topics, long seed, int[] topicOut) {
        Random r = new Random(seed);
        float[][] centres = centres(topics, dim, seed);
        float[][] out = new float[n][dim];
        for (int i = 0; i < n; i++) {
            int t = r.nextInt(topics);
            if (topicOut != null) topicOut[i] = t;
            for (int j = 0; j < dim; j++) out[i][j] = centres[t][j] + (float) r.nextGaussian();
        }
        return out;
    }

    static float[][] centres(int topics, int dim, long seed) {
        Random r = new Random(seed ^ 0x5DEECE66DL);
        float[][] c = new float[topics][dim];
        for (float[] row : c) for (int j = 0; j < dim; j++) row[j] = (float) r.nextGaussian();
        return c;
    }

    /** A runtime that records misuse: two calls at once, a call after close, close during a call. */
    static final class Runtime implements ClipRuntime {
        final int dim;
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        final AtomicInteger imageCalls = new AtomicInteger();
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        volatile CountDownLatch block; // a call waits on it when set
        volatile CountDownLatch entered = new CountDownLatch(1);
        volatile boolean closed;
        volatile String misuse;

        Runtime(int dim) {
            this.dim = dim;
        }

        private void enter() throws InterruptedException {
            if (closed) misuse = "call after close (use-after-free)";
            int now = inFlight.incrementAndGet();
            maxInFlight.accumulateAndGet(now, Math::max);
            entered.countDown();
            CountDownLatch b = block;
            if (b != null && !b.await(20, TimeUnit.SECONDS)) misuse = "blocked call never released";
        }

        final List<float[]> imageEmbeddings = Collections.synchronizedList(new ArrayList<>());

        /** Embedding of the photo's colour (first pixel, NCHW, {@link #tinyPreprocessor}), recorded in call order. */
        @Override
        public float[] encodeImage(float[] pixels) throws Exception {
            enter();
            try {
                imageCalls.incrementAndGet();
                int n = pixels.length / 3, key = 0;
                for (int c = 0; c < 3; c++) key = key << 8 | (int) Math.round((pixels[c * n] * 0.25 + 0.5) * 255);
                float[] e = embeddingOf(key, dim);
                imageEmbeddings.add(e);
                return e;
            } finally {
                inFlight.decrementAndGet();
                events.add("run");
            }
        }

        @Override
        public float[] encodeText(int[] ids) throws Exception {
            enter();
            try {
                return embeddingOf(ids[1], dim);
            } finally {
                inFlight.decrementAndGet();
                events.add("run");
            }
        }

        @Override
        public void close() {
            if (inFlight.get() != 0) misuse = "close during a running call (use-after-free)";
            closed = true;
            events.add("close");
        }
    }

    static float[] embeddingOf(long key, int dim) {
        Random r = new Random(key);
        float[] v = new float[dim];
        for (int j = 0; j < dim; j++) v[j] = (float) r.nextGaussian();
        return v;
    }

    /** Photos of a given size whose pixels are a flat colour made from the id; records the largest buffer. */
    static final class Source implements PhotoIndexer.Source {
        final int width, height;
        final AtomicLong maxPixels = new AtomicLong();
        final AtomicInteger decodes = new AtomicInteger();
        volatile long failId = Long.MIN_VALUE;

        Source(int width, int height) {
            this.width = width;
            this.height = height;
        }

        @Override
        public int[] size(PhotoIndexer.Photo photo) throws IOException {
            if (photo.id == failId) throw new IOException("unreadable photo " + photo.id);
            return new int[] {width, height};
        }

        @Override
        public PhotoIndexer.Pixels decode(PhotoIndexer.Photo photo, DecodePlan plan) {
            decodes.incrementAndGet();
            maxPixels.accumulateAndGet(plan.maxDecodedPixels(), Math::max);
            int[] argb = new int[plan.width * plan.height];
            java.util.Arrays.fill(argb, 0xFF000000 | (int) ((photo.id * 2654435761L + photo.modified) & 0xFFFFFF));
            return new PhotoIndexer.Pixels(argb, plan.width, plan.height);
        }
    }

    static List<PhotoIndexer.Photo> library(long firstId, int n, long modified) {
        List<PhotoIndexer.Photo> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(new PhotoIndexer.Photo(firstId + i, modified));
        return out;
    }

    static ImagePreprocessor tinyPreprocessor() {
        return new ImagePreprocessor(4, new double[] {0.5, 0.5, 0.5}, new double[] {0.25, 0.25, 0.25}, "NCHW");
    }

    static final PhotoIndexer.Listener QUIET = (done, total) -> { };
}

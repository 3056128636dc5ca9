package com.mobileclipkd.demo;

import android.graphics.Bitmap;
import com.mobileclipkd.core.ClipRuntime;
import com.mobileclipkd.core.ClipTokenizer;
import com.mobileclipkd.core.EncoderSession;
import com.mobileclipkd.core.ImagePreprocessor;
import com.mobileclipkd.core.LatencyStats;
import com.mobileclipkd.core.Manifest;
import com.mobileclipkd.core.ModelInput;
import com.mobileclipkd.core.PhotoIndex;
import com.mobileclipkd.core.TextCleaner;
import java.io.Closeable;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * An opened export: manifest, tokenizer, preprocessing, and the two towers on one runtime inside a core
 * {@link EncoderSession} (one thread owns the runtime: screens, the indexer and a model switch never call it at
 * the same time, and closing waits for the running call). Everything but the runtime calls lives in the core.
 */
final class ClipSession implements Closeable {
    /** CPU threads for BOTH runtimes, so the in-app latency comparison is even. */
    static final int THREADS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    /** The session shared by the screens (opened by MainActivity; replaced and closed on a model switch). */
    static volatile ClipSession current;

    final Manifest manifest;
    final File folder;
    final String backend;
    final String quantization;
    final ClipTokenizer tokenizer;
    final ImagePreprocessor preprocessor;
    /** The decode size rule's input, computed once: every photo is planned from it (core DecodePlan). */
    final int imageSize;
    /** What the photo index depends on (model file checksum, backend, weights, preprocessing). */
    final String indexFingerprint;
    final LatencyStats imageLatency = new LatencyStats();
    final LatencyStats textLatency = new LatencyStats();
    final LatencyStats preprocessLatency = new LatencyStats();
    final EncoderSession<Towers> runtime;

    /** Both towers behind the core's runtime interface; only the session's thread calls them. */
    static final class Towers implements ClipRuntime {
        private final Encoder image, text;
        private final Manifest.Model imageEntry, textEntry;

        Towers(Manifest manifest, File folder, String backend, String quantization) {
            imageEntry = entry(manifest, backend, "image", quantization);
            textEntry = entry(manifest, backend, "text", quantization);
            image = open(folder, backend, imageEntry);
            Encoder t;
            try {
                t = open(folder, backend, textEntry);
            } catch (RuntimeException | Error e) {
                image.close();
                throw e;
            }
            text = t;
        }

        @Override
        public float[] encodeImage(float[] pixels) {
            return image.encodeImage(ModelInput.image(imageEntry, pixels));
        }

        @Override
        public float[] encodeText(int[] ids) {
            return text.encodeText(ModelInput.text(textEntry, ids));
        }

        @Override
        public void close() {
            try {
                image.close();
            } finally {
                text.close();
            }
        }
    }

    private ClipSession(Manifest manifest, File folder, String backend, String quantization) throws Exception {
        this.manifest = manifest;
        this.folder = folder;
        this.backend = backend;
        this.quantization = quantization;
        Manifest.Tokenizer t = manifest.tokenizer;
        try (InputStream v = new FileInputStream(new File(folder, t.vocab));
             InputStream m = new FileInputStream(new File(folder, t.merges))) {
            this.tokenizer = ClipTokenizer.load(v, m, TextCleaner.fromResources(), t.contextLength);
        }
        this.preprocessor = ImagePreprocessor.fromManifest(manifest.preprocess);
        this.imageSize = preprocessor.imageSize;
        this.indexFingerprint = PhotoIndex.fingerprint(manifest, entry(manifest, backend, "image", quantization));
        this.runtime = EncoderSession.open(backend + "-" + quantization,
                () -> new Towers(manifest, folder, backend, quantization));
        try {
            runtime.awaitLoaded(); // a missing file or a native-library Error is reported here, once
        } catch (Exception | Error e) {
            runtime.close();
            throw e;
        }
    }

    static ClipSession open(File manifestFile, String backend, String quantization) throws Exception {
        Manifest manifest = Manifest.read(manifestFile.toPath());
        return new ClipSession(manifest, manifestFile.getParentFile(), backend, quantization);
    }

    private static Manifest.Model entry(Manifest manifest, String backend, String tower, String quantization) {
        Manifest.Model entry = manifest.find(backend, tower, quantization);
        if (entry == null)
            throw new IllegalArgumentException("manifest has no " + backend + " " + tower + " model (" + quantization
                    + "); export it with python -m export." + ("tflite".equals(backend) ? "tflite" : backend));
        return entry;
    }

    private static Encoder open(File folder, String backend, Manifest.Model entry) {
        File file = new File(folder, entry.file);
        switch (backend) {
            case "executorch":
                return new ExecuTorchEncoder(file, entry, THREADS);
            case "tflite":
                return new LiteRtEncoder(file, entry, THREADS);
            default:
                throw new IllegalArgumentException("backend " + backend + " does not run on Android");
        }
    }

    /** Preprocess (core, Pillow-exact) on the caller's thread + image tower on the session's thread. */
    float[] embed(Bitmap bitmap) throws Exception {
        int w = bitmap.getWidth(), h = bitmap.getHeight();
        int[] argb = new int[w * h];
        bitmap.getPixels(argb, 0, w, 0, 0, w, h);
        return embed(argb, w, h);
    }

    float[] embed(int[] argb, int w, int h) throws Exception {
        long t0 = System.nanoTime();
        float[] input = preprocessor.preprocess(argb, w, h);
        long t1 = System.nanoTime();
        float[] e = runtime.call(rt -> rt.encodeImage(input));
        preprocessLatency.add((t1 - t0) / 1e6);
        imageLatency.add((System.nanoTime() - t1) / 1e6);
        return e;
    }

    /** Tokenizer (core) + text tower. */
    float[] embed(String caption) throws Exception {
        int[] ids = tokenizer.tokenize(caption);
        long t0 = System.nanoTime();
        float[] e = runtime.call(rt -> rt.encodeText(ids));
        textLatency.add((System.nanoTime() - t0) / 1e6);
        return e;
    }

    String describe() {
        return manifest.modelName + " · " + backend + " · " + quantization + " · " + imageSize
                + " px · dim " + manifest.embedDim;
    }

    /** Waits for the running call, then closes the runtime; later calls fail with a clear message. */
    @Override
    public void close() {
        runtime.close();
    }

    /** One line for the screen, for any failure a worker catches (an Error included). */
    static String message(Throwable t) {
        if (t instanceof OutOfMemoryError) return "out of memory: " + t.getMessage();
        if (t instanceof ExceptionInInitializerError || t instanceof UnsatisfiedLinkError)
            return "the runtime's native library failed to load: " + t;
        String m = t.getMessage();
        return m == null || m.isEmpty() ? t.getClass().getSimpleName() : m;
    }
}

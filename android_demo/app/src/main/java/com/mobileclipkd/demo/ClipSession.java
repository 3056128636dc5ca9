package com.mobileclipkd.demo;

import android.graphics.Bitmap;
import com.mobileclipkd.core.ClipTokenizer;
import com.mobileclipkd.core.ImagePreprocessor;
import com.mobileclipkd.core.LatencyStats;
import com.mobileclipkd.core.Manifest;
import com.mobileclipkd.core.ModelInput;
import com.mobileclipkd.core.TextCleaner;
import java.io.Closeable;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * An opened export: manifest, tokenizer, preprocessing and the two towers on one runtime, with latency stats.
 * Everything but the runtime calls lives in the plain-Java core module (tested against Python's golden fixtures).
 */
final class ClipSession implements Closeable {
    /** CPU threads for BOTH runtimes, so the in-app latency comparison is even. */
    static final int THREADS = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    /** The session shared by the screens (opened by MainActivity). */
    static volatile ClipSession current;

    final Manifest manifest;
    final File folder;
    final String backend;
    final String quantization;
    final ClipTokenizer tokenizer;
    final ImagePreprocessor preprocessor;
    final LatencyStats imageLatency = new LatencyStats();
    final LatencyStats textLatency = new LatencyStats();
    final LatencyStats preprocessLatency = new LatencyStats();
    private final Encoder image;
    private final Encoder text;
    private final Manifest.Model imageEntry;
    private final Manifest.Model textEntry;

    private ClipSession(Manifest manifest, File folder, String backend, String quantization) throws IOException {
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
        this.imageEntry = manifest.find(backend, "image", quantization);
        this.textEntry = manifest.find(backend, "text", quantization);
        this.image = open(manifest, folder, backend, "image", quantization);
        Encoder textEncoder;
        try {
            textEncoder = open(manifest, folder, backend, "text", quantization);
        } catch (RuntimeException e) {
            image.close();
            throw e;
        }
        this.text = textEncoder;
    }

    static ClipSession open(File manifestFile, String backend, String quantization) throws IOException {
        Manifest manifest = Manifest.read(manifestFile.toPath());
        return new ClipSession(manifest, manifestFile.getParentFile(), backend, quantization);
    }

    private static Encoder open(Manifest manifest, File folder, String backend, String tower, String quantization) {
        Manifest.Model entry = manifest.find(backend, tower, quantization);
        if (entry == null)
            throw new IllegalArgumentException("manifest has no " + backend + " " + tower + " model (" + quantization
                    + "); export it with python -m export." + ("tflite".equals(backend) ? "tflite" : backend));
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

    /** Preprocess (core, Pillow-exact) + image tower. */
    float[] embed(Bitmap bitmap) {
        int w = bitmap.getWidth(), h = bitmap.getHeight();
        int[] argb = new int[w * h];
        bitmap.getPixels(argb, 0, w, 0, 0, w, h);
        long t0 = System.nanoTime();
        float[] input = preprocessor.preprocess(argb, w, h);
        long t1 = System.nanoTime();
        float[] e = image.encodeImage(ModelInput.image(imageEntry, input));
        long t2 = System.nanoTime();
        preprocessLatency.add((t1 - t0) / 1e6);
        imageLatency.add((t2 - t1) / 1e6);
        return e;
    }

    /** Tokenizer (core) + text tower. */
    float[] embed(String caption) {
        int[] ids = tokenizer.tokenize(caption);
        long t0 = System.nanoTime();
        float[] e = text.encodeText(ModelInput.text(textEntry, ids));
        textLatency.add((System.nanoTime() - t0) / 1e6);
        return e;
    }

    String describe() {
        return manifest.modelName + " · " + backend + " · " + quantization + " · " + manifest.preprocess.imageSize
                + " px · dim " + manifest.embedDim;
    }

    @Override
    public void close() {
        image.close();
        text.close();
    }
}

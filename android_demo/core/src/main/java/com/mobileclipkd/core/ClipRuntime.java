package com.mobileclipkd.core;

/**
 * The two exported towers on one runtime (ExecuTorch or LiteRT in the app, a fake in the tests). Not thread-safe:
 * only an {@link EncoderSession} calls it, on its own thread.
 */
public interface ClipRuntime extends AutoCloseable {
    /** Image tower: the preprocessed pixels ({@link ImagePreprocessor#preprocess}) to one embedding. */
    float[] encodeImage(float[] pixels) throws Exception;

    /** Text tower: token ids ({@link ClipTokenizer#tokenize}) to one embedding. */
    float[] encodeText(int[] ids) throws Exception;
}

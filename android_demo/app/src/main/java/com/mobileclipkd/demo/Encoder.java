package com.mobileclipkd.demo;

import java.io.Closeable;

/** One exported tower (image or text) behind a runtime: batch of 1 in, one embedding out. */
interface Encoder extends Closeable {
    /** Image tower: {@code pixels} is the preprocessed float32 tensor in the manifest's layout. */
    float[] encodeImage(float[] pixels);

    /** Text tower: {@code ids} are the 77 token ids (int32). */
    float[] encodeText(int[] ids);

    @Override
    void close();
}

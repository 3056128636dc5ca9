package com.mobileclipkd.demo;

import com.mobileclipkd.core.ModelInput;
import java.io.Closeable;

/** One exported tower (image or text) behind a runtime: batch of 1 in, one embedding out. */
interface Encoder extends Closeable {
    /** Image tower: the preprocessed float32 NCHW tensor with the manifest's name and shape. */
    float[] encodeImage(ModelInput pixels);

    /** Text tower: the token ids (int32) with the manifest's name and shape. */
    float[] encodeText(ModelInput ids);

    @Override
    void close();
}

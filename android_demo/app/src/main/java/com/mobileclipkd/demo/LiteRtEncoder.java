package com.mobileclipkd.demo;

import com.mobileclipkd.core.Manifest;
import com.mobileclipkd.core.ModelInput;
import java.io.File;
import java.nio.ByteBuffer;
import org.tensorflow.lite.Interpreter;

/** LiteRT runtime (com.google.ai.edge.litert): the Interpreter API on a .tflite flatbuffer, CPU (XNNPACK). */
final class LiteRtEncoder implements Encoder {
    private final Interpreter interpreter;
    private final int embedDim;

    LiteRtEncoder(File tflite, Manifest.Model entry, int threads) {
        if (!tflite.isFile()) throw new IllegalArgumentException("LiteRT model not found: " + tflite);
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(threads);
        this.interpreter = new Interpreter(tflite, options);
        int[] out = entry.outputs.get(0).shape;
        this.embedDim = out[out.length - 1];
    }

    @Override
    public float[] encodeImage(ModelInput pixels) {
        return run(pixels.buffer());
    }

    @Override
    public float[] encodeText(ModelInput ids) {
        return run(ids.buffer());
    }

    private float[] run(ByteBuffer in) {
        float[][] out = new float[1][embedDim];
        interpreter.run(in, out);
        return out[0];
    }

    @Override
    public void close() {
        interpreter.close();
    }
}

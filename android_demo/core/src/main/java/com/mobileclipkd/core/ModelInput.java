package com.mobileclipkd.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The exact buffer the app hands a runtime for one tower: the manifest entry's input name, shape and dtype, and
 * the values in that shape's row-major order (image: NCHW float32; text: int32 ids), native byte order.
 * ExecuTorchEncoder and LiteRtEncoder both build their inputs here; tests/export/test_conformance.py runs the exported
 * models on the bytes this class writes.
 */
public final class ModelInput {
    public final String name;
    public final long[] shape;
    public final String dtype;
    public final float[] floats;
    public final int[] ints;

    private ModelInput(Manifest.Model entry, float[] floats, int[] ints) {
        Manifest.Tensor t = entry.inputs.get(0);
        this.name = t.name;
        this.dtype = t.dtype;
        this.shape = new long[t.shape.length];
        long n = 1;
        for (int i = 0; i < shape.length; i++) n *= shape[i] = t.shape[i];
        this.floats = floats;
        this.ints = ints;
        String want = floats != null ? "float32" : "int32";
        int len = floats != null ? floats.length : ints.length;
        if (!want.equals(dtype))
            throw new IllegalArgumentException(entry.tower + " model takes " + dtype + " " + name + ", the app has " + want);
        if (len != n) throw new IllegalArgumentException(entry.tower + " model takes " + n + " values, the app has " + len);
    }

    public static ModelInput image(Manifest.Model entry, float[] pixels) {
        return new ModelInput(entry, pixels, null);
    }

    public static ModelInput text(Manifest.Model entry, int[] ids) {
        return new ModelInput(entry, null, ids);
    }

    /** A direct buffer in the platform's byte order (what LiteRT's Interpreter reads). */
    public ByteBuffer buffer() {
        int n = floats != null ? floats.length : ints.length;
        ByteBuffer b = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.nativeOrder());
        if (floats != null) b.asFloatBuffer().put(floats);
        else b.asIntBuffer().put(ints);
        return b;
    }
}

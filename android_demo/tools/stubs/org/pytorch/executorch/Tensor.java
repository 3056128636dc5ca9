// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package org.pytorch.executorch;

public abstract class Tensor {
    public static Tensor fromBlob(float[] data, long[] shape) { return null; }
    public static Tensor fromBlob(int[] data, long[] shape) { return null; }
    public float[] getDataAsFloatArray() { return null; }
}

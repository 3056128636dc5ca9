// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package org.pytorch.executorch;

public class EValue {
    public static EValue from(Tensor tensor) { return null; }
    public Tensor toTensor() { return null; }
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package org.pytorch.executorch;

public class Module {
    public static Module load(String modelPath) { return null; }
    public EValue[] forward(EValue... inputs) { return null; }
    public void destroy() {}
}

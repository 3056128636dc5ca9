// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package org.pytorch.executorch;

public class Module {
    public static final int LOAD_MODE_MMAP = 1;
    public static Module load(String modelPath) { return null; }
    public static Module load(String modelPath, int loadMode, int numThreads) { return null; }
    public EValue[] forward(EValue... inputs) { return null; }
    public void destroy() {}
}

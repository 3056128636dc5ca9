// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package org.tensorflow.lite;

public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options setNumThreads(int numThreads) { return this; }
    }
    public Interpreter(java.io.File modelFile, Options options) {}
    public void run(Object input, Object output) {}
    public void close() {}
}

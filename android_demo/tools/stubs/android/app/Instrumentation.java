// Compile-only stub of the real API (signature subset used by the instrumented tests). Not shipped.
package android.app;

public class Instrumentation {
    public android.content.Context getContext() { return null; }
    public android.content.Context getTargetContext() { return null; }
}

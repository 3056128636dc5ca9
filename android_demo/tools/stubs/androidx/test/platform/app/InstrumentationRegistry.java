// Compile-only stub of the real API (signature subset used by the instrumented tests). Not shipped.
package androidx.test.platform.app;

public final class InstrumentationRegistry {
    public static android.app.Instrumentation getInstrumentation() { return null; }
}

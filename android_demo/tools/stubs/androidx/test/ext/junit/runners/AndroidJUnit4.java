// Compile-only stub of the real API (signature subset used by the instrumented tests). Not shipped.
package androidx.test.ext.junit.runners;

public final class AndroidJUnit4 extends org.junit.runner.Runner {
    public AndroidJUnit4(Class<?> klass) {}
    public org.junit.runner.Description getDescription() { return null; }
    public void run(org.junit.runner.notification.RunNotifier notifier) {}
}

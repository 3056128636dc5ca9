// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.util;

public final class Log {
    public static int w(String tag, String msg) { return 0; }
    public static int i(String tag, String msg) { return 0; }
}

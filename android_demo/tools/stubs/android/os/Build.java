// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.os;

public class Build {
    public static class VERSION {
        public static final int SDK_INT = 0;
    }
}

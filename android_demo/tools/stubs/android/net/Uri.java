// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.net;

public abstract class Uri {
    public abstract String getLastPathSegment();
}

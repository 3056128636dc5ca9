// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.net;

public abstract class Uri implements android.os.Parcelable {
    public static Uri fromFile(java.io.File file) { return null; }
    public abstract String getLastPathSegment();
}

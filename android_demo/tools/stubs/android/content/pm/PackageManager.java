// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content.pm;

public abstract class PackageManager {
    public static final int PERMISSION_GRANTED = 0;
    public static class NameNotFoundException extends Exception {}
    public abstract PackageInfo getPackageInfo(String packageName, int flags) throws NameNotFoundException;
}

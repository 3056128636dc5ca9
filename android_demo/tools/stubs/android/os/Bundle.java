// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.os;

public final class Bundle {
    public Object get(String key) { return null; }
    public String getString(String key) { return null; }
    public void putString(String key, String value) {}
}

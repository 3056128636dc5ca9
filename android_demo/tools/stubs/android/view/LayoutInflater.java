// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.view;

public abstract class LayoutInflater {
    public static LayoutInflater from(android.content.Context context) { return null; }
    public View inflate(int resource, ViewGroup root, boolean attachToRoot) { return null; }
}

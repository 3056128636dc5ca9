// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public class Toast {
    public static final int LENGTH_SHORT = 0;
    public static final int LENGTH_LONG = 1;
    public static Toast makeText(android.content.Context context, CharSequence text, int duration) { return null; }
    public static Toast makeText(android.content.Context context, int resId, int duration) { return null; }
    public void show() {}
}

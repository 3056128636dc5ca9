// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public class TextView extends android.view.View {
    public final void setText(CharSequence text) {}
    public final void setText(int resid) {}
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.view;

public abstract class ViewGroup extends View {
    public void removeAllViews() {}
    public void addView(View child) {}
}

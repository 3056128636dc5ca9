// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public abstract class BaseAdapter implements ListAdapter, SpinnerAdapter {
    public void notifyDataSetChanged() {}
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public abstract class AdapterView<T extends Adapter> extends android.view.ViewGroup {
    public abstract void setAdapter(T adapter);
    public Object getSelectedItem() { return null; }
}

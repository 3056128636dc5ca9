// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public class ArrayAdapter<T> extends BaseAdapter {
    public ArrayAdapter(android.content.Context context, int resource, java.util.List<T> objects) {}
    public int getCount() { return 0; }
    public T getItem(int position) { return null; }
    public long getItemId(int position) { return position; }
    public android.view.View getView(int position, android.view.View convertView, android.view.ViewGroup parent) { return null; }
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.view;

public class View {
    public static final int VISIBLE = 0;
    public static final int GONE = 8;
    public interface OnClickListener { void onClick(View v); }
    public void setOnClickListener(OnClickListener l) {}
    public final <T extends View> T findViewById(int id) { return null; }
    public void setVisibility(int visibility) {}
    public void setEnabled(boolean enabled) {}
    public boolean isEnabled() { return true; }
}

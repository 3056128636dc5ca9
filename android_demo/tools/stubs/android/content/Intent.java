// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content;

public class Intent {
    public static final String ACTION_GET_CONTENT = "android.intent.action.GET_CONTENT";
    public Intent(String action) {}
    public Intent(Context packageContext, Class<?> cls) {}
    public static final int FLAG_GRANT_WRITE_URI_PERMISSION = 2;
    public Intent setType(String type) { return this; }
    public Intent putExtra(String name, android.os.Parcelable value) { return this; }
    public Intent addFlags(int flags) { return this; }
    public static Intent createChooser(Intent target, CharSequence title) { return target; }
    public android.net.Uri getData() { return null; }
    public android.os.Bundle getExtras() { return null; }
    public ComponentName resolveActivity(android.content.pm.PackageManager pm) { return null; }
}

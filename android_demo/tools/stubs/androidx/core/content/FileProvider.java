// Compile-only stub of androidx.core (signature subset used by the demo app). Not shipped.
package androidx.core.content;

public class FileProvider {
    public static android.net.Uri getUriForFile(android.content.Context context, String authority, java.io.File file) { return null; }
}

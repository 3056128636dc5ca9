// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content;

public abstract class ContentResolver {
    public final java.io.InputStream openInputStream(android.net.Uri uri) throws java.io.FileNotFoundException { return null; }
    public final android.database.Cursor query(android.net.Uri uri, String[] projection, String selection,
            String[] selectionArgs, String sortOrder) { return null; }
}

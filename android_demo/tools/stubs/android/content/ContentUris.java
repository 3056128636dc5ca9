// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content;

public class ContentUris {
    public static android.net.Uri withAppendedId(android.net.Uri contentUri, long id) { return contentUri; }
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.database;

public interface Cursor extends java.io.Closeable {
    boolean moveToNext();
    long getLong(int columnIndex);
    void close();
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.graphics;

public class BitmapFactory {
    public static class Options {
        public boolean inJustDecodeBounds;
        public int inSampleSize;
        public int outWidth;
        public int outHeight;
        public Bitmap.Config inPreferredConfig;
    }
    public static Bitmap decodeStream(java.io.InputStream is, Rect outPadding, Options opts) { return null; }
    public static Bitmap decodeStream(java.io.InputStream is) { return null; }
}

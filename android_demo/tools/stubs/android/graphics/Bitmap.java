// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.graphics;

public final class Bitmap {
    public enum Config { ARGB_8888, RGB_565 }
    public int getWidth() { return 0; }
    public int getHeight() { return 0; }
    public void getPixels(int[] pixels, int offset, int stride, int x, int y, int width, int height) {}
    public static Bitmap createBitmap(int[] colors, int width, int height, Config config) { return null; }
    public static Bitmap createScaledBitmap(Bitmap src, int dstWidth, int dstHeight, boolean filter) { return src; }
}

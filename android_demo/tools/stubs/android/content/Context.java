// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content;

public abstract class Context {
    public abstract android.content.res.AssetManager getAssets();
    public abstract ContentResolver getContentResolver();
    public abstract android.content.pm.PackageManager getPackageManager();
    public abstract java.io.File getFilesDir();
    public abstract java.io.File getCacheDir();
    public abstract String getPackageName();
    public abstract java.io.File getExternalFilesDir(String type);
    public final String getString(int resId) { return null; }
    public final String getString(int resId, Object... args) { return null; }
    public abstract int checkSelfPermission(String permission);
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.app;

public class Activity extends android.content.Context {
    public static final int RESULT_OK = -1;
    protected void onCreate(android.os.Bundle savedInstanceState) {}
    protected void onDestroy() {}
    protected void onSaveInstanceState(android.os.Bundle outState) {}
    protected void onActivityResult(int requestCode, int resultCode, android.content.Intent data) {}
    public void onRequestPermissionsResult(int requestCode, String[] permissions, int[] grantResults) {}
    public void setContentView(int layoutResID) {}
    public <T extends android.view.View> T findViewById(int id) { return null; }
    public void runOnUiThread(Runnable action) {}
    public void startActivity(android.content.Intent intent) {}
    public void startActivityForResult(android.content.Intent intent, int requestCode) {}
    public final void requestPermissions(String[] permissions, int requestCode) {}
    public void finish() {}
    public void setTitle(CharSequence title) {}
    public android.view.LayoutInflater getLayoutInflater() { return null; }
    public android.content.res.AssetManager getAssets() { return null; }
    public android.content.ContentResolver getContentResolver() { return null; }
    public android.content.pm.PackageManager getPackageManager() { return null; }
    public java.io.File getFilesDir() { return null; }
    public java.io.File getCacheDir() { return null; }
    public String getPackageName() { return null; }
    public java.io.File getExternalFilesDir(String type) { return null; }
    public int checkSelfPermission(String permission) { return 0; }
}

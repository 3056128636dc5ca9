// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public class ProgressBar extends android.view.View {
    public void setMax(int max) {}
    public void setProgress(int progress) {}
}

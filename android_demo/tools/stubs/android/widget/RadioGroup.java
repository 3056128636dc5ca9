// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.widget;

public class RadioGroup extends LinearLayout {
    public int getCheckedRadioButtonId() { return 0; }
}

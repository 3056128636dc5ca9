// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android;

public final class R {
    public static final class layout {
        public static final int simple_spinner_dropdown_item = 0x01090009;
    }
}

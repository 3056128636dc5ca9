// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.os;

public interface Parcelable {
}

// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.content;

public final class ComponentName {}

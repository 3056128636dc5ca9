// Compile-only stub of the real API (signature subset used by the demo app). Not shipped.
package android.provider;

public final class MediaStore {
    public static final String ACTION_IMAGE_CAPTURE = "android.media.action.IMAGE_CAPTURE";
    public static final String EXTRA_OUTPUT = "output";
    public static final class Images {
        public static final class Media {
            public static final android.net.Uri EXTERNAL_CONTENT_URI = null;
            public static final String _ID = "_id";
            public static final String DATE_ADDED = "date_added";
            public static final String DATE_MODIFIED = "date_modified";
        }
    }
}

package com.mobileclipkd.demo;

import android.Manifest;
import android.app.Activity;
import android.content.pm.PackageManager;
import android.graphics.Bitmap;
import android.os.Build;
import android.os.Bundle;
import android.view.View;
import android.view.ViewGroup;
import android.widget.BaseAdapter;
import android.widget.EditText;
import android.widget.GridView;
import android.widget.ImageView;
import android.widget.ProgressBar;
import android.widget.TextView;
import android.widget.Toast;
import com.mobileclipkd.core.PhotoIndex;
import com.mobileclipkd.core.PhotoIndexStore;
import com.mobileclipkd.core.PhotoIndexer;
import java.io.File;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Text search over a photo library. The core's PhotoIndexer keeps a saved index up to date (only new and changed
 * photos run the image tower), shows "n / N" and can be cancelled; a query runs at once on its own thread over
 * the photos indexed so far (a consistent snapshot) and is re-ranked as more arrive. Hits carry photo ids:
 * thumbnails are looked up by id, so a smaller re-index never points a hit at a missing row.
 */
public class SearchActivity extends Activity {
    private static final int TOP_K = 24, PERMISSION = 7, THUMB = 192, REFRESH_EVERY = 100;
    /** One index run at a time in the process: a screen recreated by a rotation waits for the cancelled run of
     * the old one to save and return before loading the saved index. */
    private static final Object INDEX_LOCK = new Object();
    private final ExecutorService indexWorker = Executors.newSingleThreadExecutor();
    private final ExecutorService queryWorker = Executors.newSingleThreadExecutor();
    private final ExecutorService thumbWorker = Executors.newSingleThreadExecutor();
    private final List<PhotoIndex.Hit> hits = new ArrayList<>();
    private final Set<Long> loading = new HashSet<>();
    private final Map<Long, Bitmap> thumbs = new LinkedHashMap<Long, Bitmap>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, Bitmap> eldest) {
            return size() > 4 * TOP_K;
        }
    };
    private ClipSession session;
    private volatile PhotoIndex index;
    private volatile Libraries.Library library;
    private volatile PhotoIndexer indexer;
    private volatile float[] queryEmbedding;
    private volatile boolean destroyed;
    private ProgressBar progress;
    private TextView status, latency;
    private View cancel, selectMore;
    private EditText query;
    private ResultAdapter adapter;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        session = ClipSession.current;
        if (session == null) {
            finish();
            return;
        }
        setContentView(R.layout.activity_search);
        setTitle(getString(R.string.search_title) + " · " + session.backend);
        progress = findViewById(R.id.progress);
        status = findViewById(R.id.index_status);
        latency = findViewById(R.id.latency);
        query = findViewById(R.id.query);
        cancel = findViewById(R.id.cancel_index);
        selectMore = findViewById(R.id.select_more);
        adapter = new ResultAdapter();
        ((GridView) findViewById(R.id.results)).setAdapter(adapter);
        findViewById(R.id.index_bundled).setOnClickListener(v -> indexBundled());
        findViewById(R.id.index_gallery).setOnClickListener(v -> indexGalleryWithPermission());
        findViewById(R.id.search).setOnClickListener(v -> search());
        cancel.setOnClickListener(v -> cancelIndexing());
        selectMore.setOnClickListener(v -> requestPermissions(galleryPermissions(), PERMISSION));
    }

    // ---- gallery access: full, or the user's selection on Android 14+ (READ_MEDIA_VISUAL_USER_SELECTED) ----

    private static String[] galleryPermissions() {
        if (Build.VERSION.SDK_INT >= 34)
            return new String[] {Manifest.permission.READ_MEDIA_IMAGES, Manifest.permission.READ_MEDIA_VISUAL_USER_SELECTED};
        if (Build.VERSION.SDK_INT >= 33) return new String[] {Manifest.permission.READ_MEDIA_IMAGES};
        return new String[] {Manifest.permission.READ_EXTERNAL_STORAGE};
    }

    private boolean granted(String permission) {
        return checkSelfPermission(permission) == PackageManager.PERMISSION_GRANTED;
    }

    /** 2: every photo, 1: only the photos the user selected (Android 14+), 0: none. */
    private int galleryAccess() {
        String[] p = galleryPermissions();
        if (granted(p[0])) return 2;
        return p.length > 1 && granted(p[1]) ? 1 : 0;
    }

    private void indexGalleryWithPermission() {
        if (galleryAccess() > 0) indexGallery();
        else requestPermissions(galleryPermissions(), PERMISSION);
    }

    @Override
    public void onRequestPermissionsResult(int code, String[] permissions, int[] results) {
        super.onRequestPermissionsResult(code, permissions, results);
        if (code != PERMISSION) return;
        if (galleryAccess() > 0) indexGallery(); // after "select more": the new selection is indexed
        else Toast.makeText(this, R.string.permission_denied, Toast.LENGTH_LONG).show();
    }

    private void indexGallery() {
        int access = galleryAccess();
        selectMore.setVisibility(access == 1 ? View.VISIBLE : View.GONE);
        if (access == 1) Toast.makeText(this, R.string.partial_access, Toast.LENGTH_LONG).show();
        startIndex(new Libraries.Gallery(getContentResolver()));
    }

    private void indexBundled() {
        try {
            startIndex(new Libraries.Bundled(getAssets()));
        } catch (Exception | Error e) {
            fail(e);
        }
    }

    // ---- indexing -----------------------------------------------------------------------------------------

    private void cancelIndexing() {
        PhotoIndexer running = indexer;
        if (running != null) running.cancel(); // stops at the next photo; the work done is saved
    }

    private void startIndex(Libraries.Library lib) {
        cancelIndexing();
        hits.clear();
        adapter.notifyDataSetChanged();
        showIndexing(true);
        indexWorker.execute(() -> { // runs after the cancelled run has saved and returned
            synchronized (INDEX_LOCK) {
                runIndex(lib);
            }
        });
    }

    private void runIndex(Libraries.Library lib) {
        if (destroyed) return; // this screen went away while an older run was finishing
        try {
            File file = new File(new File(getFilesDir(), "index"), lib.name() + ".idx");
            PhotoIndexStore store = new PhotoIndexStore(file.toPath());
            PhotoIndexStore.Loaded loaded = store.load(session.indexFingerprint, session.manifest.embedDim);
            List<PhotoIndexer.Photo> photos = lib.list();
            PhotoIndexer ix = new PhotoIndexer(session.runtime, session.preprocessor, lib);
            indexer = ix;
            library = lib;
            index = loaded.index;
            runOnUiThread(() -> status.setText(loaded.note));
            PhotoIndexer.Result r = ix.run(photos, loaded.index, store, new Progress(loaded.index));
            runOnUiThread(() -> finished(loaded.index, r));
        } catch (Exception | Error e) { // an Error (native library, out of memory) must not kill the worker
            fail(e);
        } finally {
            indexer = null;
        }
    }

    /** "n / N" on the screen; the current query is ranked again every few photos (results as they arrive). */
    private final class Progress implements PhotoIndexer.Listener {
        private final PhotoIndex target;

        Progress(PhotoIndex target) {
            this.target = target;
        }

        @Override
        public void onProgress(int done, int total) {
            runOnUiThread(() -> {
                progress.setMax(Math.max(1, total));
                progress.setProgress(done);
                status.setText(getString(R.string.progress_format, done, total, target.size()));
            });
            float[] q = queryEmbedding;
            if (q != null && done % REFRESH_EVERY == 0 && done > 0) queryWorker.execute(() -> rank(target, q));
        }

        @Override
        public void onSkipped(PhotoIndexer.Photo photo, String why) {
            android.util.Log.w("mobileclip", "photo " + photo.id + " not indexed: " + why);
        }
    }

    private void showIndexing(boolean on) {
        progress.setVisibility(on ? View.VISIBLE : View.GONE);
        cancel.setVisibility(on ? View.VISIBLE : View.GONE);
    }

    private void finished(PhotoIndex idx, PhotoIndexer.Result r) {
        showIndexing(false);
        status.setText(getString(R.string.indexed_format, idx.size(), r.toString(), session.imageLatency.summary()));
        float[] q = queryEmbedding;
        if (q != null) queryWorker.execute(() -> rank(idx, q));
    }

    // ---- search: its own thread, never behind the index loop -----------------------------------------------

    private void search() {
        String q = query.getText().toString().trim();
        PhotoIndex idx = index;
        if (q.isEmpty() || idx == null || idx.size() == 0) {
            Toast.makeText(this, R.string.nothing_indexed, Toast.LENGTH_SHORT).show();
            return;
        }
        queryWorker.execute(() -> {
            try {
                float[] t = session.embed(q);
                queryEmbedding = t;
                rank(idx, t);
            } catch (Exception | Error e) {
                fail(e);
            }
        });
    }

    /** Top-k over the photos indexed so far (one consistent snapshot of the index). */
    private void rank(PhotoIndex idx, float[] t) {
        long t0 = System.nanoTime();
        List<PhotoIndex.Hit> top = idx.search(t, TOP_K);
        double ms = (System.nanoTime() - t0) / 1e6;
        int n = idx.size();
        runOnUiThread(() -> {
            if (idx != index) return; // another library was opened meanwhile
            hits.clear();
            hits.addAll(top);
            adapter.notifyDataSetChanged();
            latency.setText(getString(R.string.latency_format, "text tower", session.textLatency.last(),
                    session.textLatency.summary()) + String.format("\nsearch over %d photos: %.2f ms", n, ms));
        });
    }

    private void fail(Throwable e) {
        String m = ClipSession.message(e);
        runOnUiThread(() -> {
            showIndexing(false);
            Toast.makeText(this, m, Toast.LENGTH_LONG).show();
        });
    }

    private void loadThumbnail(long id) {
        Libraries.Library lib = library;
        if (lib == null || !loading.add(id)) return;
        thumbWorker.execute(() -> {
            Bitmap b = null;
            try {
                b = lib.thumbnail(id, THUMB);
            } catch (Exception | OutOfMemoryError e) { // a deleted or unreadable photo: no thumbnail
                android.util.Log.w("mobileclip", "no thumbnail for " + id + ": " + e.getMessage());
            }
            Bitmap shown = b;
            runOnUiThread(() -> {
                loading.remove(id);
                if (shown != null && lib == library) thumbs.put(id, shown);
                adapter.notifyDataSetChanged();
            });
        });
    }

    private final class ResultAdapter extends BaseAdapter {
        @Override
        public int getCount() {
            return hits.size();
        }

        @Override
        public Object getItem(int position) {
            return hits.get(position);
        }

        @Override
        public long getItemId(int position) {
            return hits.get(position).id;
        }

        @Override
        public View getView(int position, View convertView, ViewGroup parent) {
            View v = convertView != null ? convertView
                    : getLayoutInflater().inflate(R.layout.item_result, parent, false);
            PhotoIndex.Hit h = hits.get(position);
            Bitmap thumb = thumbs.get(h.id);
            if (thumb == null) loadThumbnail(h.id);
            ((ImageView) v.findViewById(R.id.thumb)).setImageBitmap(thumb);
            ((TextView) v.findViewById(R.id.caption)).setText(String.format("#%d cos=%.3f", position + 1, h.score));
            return v;
        }
    }

    @Override
    protected void onDestroy() {
        destroyed = true;
        cancelIndexing(); // the loop stops at the next photo instead of running on, orphaned, after Back/rotation
        indexWorker.shutdown();
        queryWorker.shutdownNow();
        thumbWorker.shutdownNow();
        super.onDestroy();
    }
}

package com.mobileclipkd.demo;

import android.Manifest;
import android.app.Activity;
import android.content.ContentUris;
import android.content.pm.PackageManager;
import android.database.Cursor;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.provider.MediaStore;
import android.view.View;
import android.view.ViewGroup;
import android.widget.BaseAdapter;
import android.widget.EditText;
import android.widget.GridView;
import android.widget.ImageView;
import android.widget.ProgressBar;
import android.widget.TextView;
import android.widget.Toast;
import com.mobileclipkd.core.Ranking;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Text search over photos: index bundled photos (assets/photos) or the gallery with the image tower, then query. */
public class SearchActivity extends Activity {
    private static final int MAX_GALLERY = 300, TOP_K = 24, PERMISSION = 7;
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final List<float[]> embeddings = new ArrayList<>();
    private final List<Bitmap> thumbs = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    private final List<Ranking.Hit> hits = new ArrayList<>();
    private ClipSession session;
    private ProgressBar progress;
    private TextView latency;
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
        latency = findViewById(R.id.latency);
        query = findViewById(R.id.query);
        adapter = new ResultAdapter();
        ((GridView) findViewById(R.id.results)).setAdapter(adapter);
        findViewById(R.id.index_bundled).setOnClickListener(v -> indexBundled());
        findViewById(R.id.index_gallery).setOnClickListener(v -> indexGalleryWithPermission());
        findViewById(R.id.search).setOnClickListener(v -> search());
    }

    private String galleryPermission() {
        return Build.VERSION.SDK_INT >= 33 ? Manifest.permission.READ_MEDIA_IMAGES
                                           : Manifest.permission.READ_EXTERNAL_STORAGE;
    }

    private void indexGalleryWithPermission() {
        if (checkSelfPermission(galleryPermission()) == PackageManager.PERMISSION_GRANTED) indexGallery();
        else requestPermissions(new String[] {galleryPermission()}, PERMISSION);
    }

    @Override
    public void onRequestPermissionsResult(int code, String[] permissions, int[] results) {
        super.onRequestPermissionsResult(code, permissions, results);
        if (code != PERMISSION) return;
        if (results.length > 0 && results[0] == PackageManager.PERMISSION_GRANTED) indexGallery();
        else Toast.makeText(this, R.string.permission_denied, Toast.LENGTH_LONG).show();
    }

    private void clearIndex() {
        embeddings.clear();
        thumbs.clear();
        names.clear();
        hits.clear();
        adapter.notifyDataSetChanged();
    }

    private void indexBundled() {
        clearIndex();
        worker.execute(() -> {
            try {
                String[] files = getAssets().list("photos");
                if (files == null || files.length == 0) throw new IllegalStateException("no photos in assets/photos");
                startProgress(files.length);
                for (String f : files) {
                    Bitmap bmp;
                    try (InputStream in = getAssets().open("photos/" + f)) {
                        bmp = Bitmaps.decode(in);
                    }
                    add(f, bmp);
                }
                finishIndex();
            } catch (Exception e) {
                fail(e);
            }
        });
    }

    private void indexGallery() {
        clearIndex();
        worker.execute(() -> {
            List<Uri> uris = new ArrayList<>();
            String[] projection = {MediaStore.Images.Media._ID};
            try (Cursor c = getContentResolver().query(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, projection, null,
                    null, MediaStore.Images.Media.DATE_ADDED + " DESC")) {
                while (c != null && c.moveToNext() && uris.size() < MAX_GALLERY)
                    uris.add(ContentUris.withAppendedId(MediaStore.Images.Media.EXTERNAL_CONTENT_URI, c.getLong(0)));
            }
            startProgress(uris.size());
            for (Uri uri : uris) {
                try {
                    add(uri.getLastPathSegment(), Bitmaps.decode(getContentResolver(), uri, session.preprocessor.imageSize));
                } catch (Exception e) {
                    android.util.Log.w("mobileclip", "skipped " + uri + ": " + e.getMessage());
                }
            }
            finishIndex();
        });
    }

    private void startProgress(int n) {
        runOnUiThread(() -> {
            progress.setMax(n);
            progress.setProgress(0);
            progress.setVisibility(View.VISIBLE);
        });
    }

    private void add(String name, Bitmap bmp) {
        float[] e = session.embed(bmp);
        Bitmap thumb = Bitmaps.thumbnail(bmp, 192);
        runOnUiThread(() -> {
            embeddings.add(e);
            thumbs.add(thumb);
            names.add(name);
            progress.setProgress(embeddings.size());
        });
    }

    private void finishIndex() {
        runOnUiThread(() -> {
            progress.setVisibility(View.GONE);
            latency.setText(getString(R.string.indexed_format, embeddings.size(), session.imageLatency.summary()));
        });
    }

    private void search() {
        String q = query.getText().toString().trim();
        if (q.isEmpty() || embeddings.isEmpty()) return;
        List<float[]> gallery = new ArrayList<>(embeddings);
        worker.execute(() -> {
            try {
                float[] t = session.embed(q);
                long t0 = System.nanoTime();
                List<Ranking.Hit> top = Ranking.topK(t, gallery, TOP_K, session.manifest.logitScale);
                double rankMs = (System.nanoTime() - t0) / 1e6;
                runOnUiThread(() -> {
                    hits.clear();
                    hits.addAll(top);
                    adapter.notifyDataSetChanged();
                    latency.setText(getString(R.string.latency_format, "text tower", session.textLatency.last(),
                            session.textLatency.summary()) + String.format("\nranking %d photos: %.2f ms",
                            gallery.size(), rankMs));
                });
            } catch (Exception e) {
                fail(e);
            }
        });
    }

    private void fail(Exception e) {
        runOnUiThread(() -> {
            progress.setVisibility(View.GONE);
            Toast.makeText(this, e.getMessage(), Toast.LENGTH_LONG).show();
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
            return hits.get(position).index;
        }

        @Override
        public View getView(int position, View convertView, ViewGroup parent) {
            View v = convertView != null ? convertView
                    : getLayoutInflater().inflate(R.layout.item_result, parent, false);
            Ranking.Hit h = hits.get(position);
            ((ImageView) v.findViewById(R.id.thumb)).setImageBitmap(thumbs.get(h.index));
            ((TextView) v.findViewById(R.id.caption)).setText(
                    String.format("#%d cos=%.3f\n%s", position + 1, h.score, names.get(h.index)));
            return v;
        }
    }

    @Override
    protected void onDestroy() {
        worker.shutdown();
        super.onDestroy();
    }
}

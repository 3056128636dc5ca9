package com.mobileclipkd.demo;

import android.app.Activity;
import android.content.Intent;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Bundle;
import android.provider.MediaStore;
import android.view.LayoutInflater;
import android.view.View;
import android.widget.EditText;
import android.widget.ImageView;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.TextView;
import android.widget.Toast;
import androidx.core.content.FileProvider;
import com.mobileclipkd.core.LatencyStats;
import com.mobileclipkd.core.Patterns;
import com.mobileclipkd.core.Ranking;
import java.io.File;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Zero-shot: a photo (picked or captured) against typed or preset labels; ranked labels, scores and latency. */
public class ZeroShotActivity extends Activity {
    private static final int PICK = 1, CAPTURE = 2;
    private static final String STATE_CAPTURE = "capture";
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private final Map<String, float[]> textCache = new HashMap<>();
    private ClipSession session;
    private Bitmap photo;
    private File capture;
    private ImageView photoView;
    private EditText labels, template;
    private TextView latency;
    private LinearLayout results;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        session = ClipSession.current;
        if (session == null) {
            finish();
            return;
        }
        setContentView(R.layout.activity_zero_shot);
        setTitle(getString(R.string.zero_shot_title) + " · " + session.backend);
        photoView = findViewById(R.id.photo);
        labels = findViewById(R.id.labels);
        template = findViewById(R.id.template);
        latency = findViewById(R.id.latency);
        results = findViewById(R.id.results);
        findViewById(R.id.pick_photo).setOnClickListener(v -> {
            Intent i = new Intent(Intent.ACTION_GET_CONTENT).setType("image/*");
            startActivityForResult(Intent.createChooser(i, getString(R.string.pick_photo)), PICK);
        });
        findViewById(R.id.take_photo).setOnClickListener(v -> takePhoto());
        findViewById(R.id.classify).setOnClickListener(v -> classify());
        // the camera app often runs while this screen is destroyed (memory, rotation): keep where it writes
        String saved = savedInstanceState == null ? null : savedInstanceState.getString(STATE_CAPTURE);
        if (saved != null) capture = new File(saved);
    }

    @Override
    protected void onSaveInstanceState(Bundle out) {
        super.onSaveInstanceState(out);
        if (capture != null) out.putString(STATE_CAPTURE, capture.getPath());
    }

    /** Full-resolution capture: the camera app writes into cache/captures through our FileProvider. */
    private void takePhoto() {
        Intent i = new Intent(MediaStore.ACTION_IMAGE_CAPTURE);
        if (i.resolveActivity(getPackageManager()) == null) { // needs the <queries> entry on Android 11+
            Toast.makeText(this, "no camera app", Toast.LENGTH_SHORT).show();
            return;
        }
        File dir = new File(getCacheDir(), "captures");
        if (!dir.isDirectory() && !dir.mkdirs()) {
            Toast.makeText(this, "cannot create " + dir, Toast.LENGTH_LONG).show();
            return;
        }
        capture = new File(dir, "capture.jpg");
        Uri uri = FileProvider.getUriForFile(this, getPackageName() + ".fileprovider", capture);
        i.putExtra(MediaStore.EXTRA_OUTPUT, uri);
        i.addFlags(Intent.FLAG_GRANT_WRITE_URI_PERMISSION);
        startActivityForResult(i, CAPTURE);
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        if (resultCode != RESULT_OK) return;
        Uri uri = requestCode == CAPTURE && capture != null ? Uri.fromFile(capture)
                : data != null ? data.getData() : null;
        if (uri == null) return;
        File captured = requestCode == CAPTURE ? capture : null;
        int imageSize = session.imageSize; // the one decode rule (core DecodePlan), as the index and iOS use
        worker.execute(() -> { // decoding a 12-48 MP photo takes long: never on the UI thread
            try {
                Bitmap decoded = Bitmaps.decode(getContentResolver(), uri, imageSize); // planned, EXIF applied
                runOnUiThread(() -> {
                    photo = decoded;
                    photoView.setImageBitmap(photo);
                    classify();
                });
            } catch (Exception | Error e) { // OutOfMemoryError included: the worker must survive
                String m = ClipSession.message(e);
                runOnUiThread(() -> Toast.makeText(this, m, Toast.LENGTH_LONG).show());
            } finally {
                if (captured != null && !captured.delete()) captured.deleteOnExit();
            }
        });
    }

    static List<String> parseLabels(String text) {
        List<String> out = new ArrayList<>();
        for (String part : Patterns.LABEL_SEPARATOR.split(text)) {
            String s = part.trim();
            if (!s.isEmpty() && !out.contains(s)) out.add(s);
        }
        return out;
    }

    private void classify() {
        if (photo == null) {
            Toast.makeText(this, R.string.pick_photo, Toast.LENGTH_SHORT).show();
            return;
        }
        List<String> names = parseLabels(labels.getText().toString());
        if (names.isEmpty()) return;
        String tpl = template.getText().toString().contains("{}") ? template.getText().toString() : "{}";
        Bitmap image = photo;
        worker.execute(() -> {
            try {
                List<float[]> textEmb = new ArrayList<>();
                for (String name : names) {
                    String prompt = tpl.replace("{}", name);
                    float[] e = textCache.get(prompt);
                    if (e == null) textCache.put(prompt, e = session.embed(prompt));
                    textEmb.add(e);
                }
                float[] img = session.embed(image);
                List<Ranking.Hit> hits = Ranking.topK(img, textEmb, names.size(), session.manifest.logitScale);
                runOnUiThread(() -> show(names, hits));
            } catch (Exception | Error e) { // a closed session (model switched) or a runtime Error: one message
                String m = ClipSession.message(e);
                runOnUiThread(() -> Toast.makeText(this, m, Toast.LENGTH_LONG).show());
            }
        });
    }

    private void show(List<String> names, List<Ranking.Hit> hits) {
        results.removeAllViews();
        LayoutInflater inflater = LayoutInflater.from(this);
        for (Ranking.Hit h : hits) {
            View row = inflater.inflate(R.layout.item_label, results, false);
            ((TextView) row.findViewById(R.id.label)).setText(
                    String.format("%-20s p=%5.1f%%  cos=%.3f", names.get(h.index), 100 * h.probability, h.score));
            ((ProgressBar) row.findViewById(R.id.bar)).setProgress((int) Math.round(1000 * h.probability));
            results.addView(row);
        }
        latency.setText(line("preprocess", session.preprocessLatency) + "\n" + line("image tower", session.imageLatency)
                + "\n" + line("text tower", session.textLatency));
    }

    private String line(String what, LatencyStats s) {
        return getString(R.string.latency_format, what, s.last(), s.summary());
    }

    @Override
    protected void onDestroy() {
        worker.shutdown();
        super.onDestroy();
    }
}

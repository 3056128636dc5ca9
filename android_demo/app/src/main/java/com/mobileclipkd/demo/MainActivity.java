package com.mobileclipkd.demo;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.RadioButton;
import android.widget.RadioGroup;
import android.widget.Spinner;
import android.widget.TextView;
import android.widget.Toast;
import com.mobileclipkd.core.Manifest;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Finds manifest.json, lets the user choose runtime (ExecuTorch / LiteRT) and weights, opens the two screens. */
public class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private File manifestFile;
    private Manifest manifest;
    private TextView details;
    private Spinner quantization;
    private RadioGroup backendGroup;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        TextView source = findViewById(R.id.model_source);
        details = findViewById(R.id.model_details);
        quantization = findViewById(R.id.quantization);
        backendGroup = findViewById(R.id.backend_group);
        Button zeroShot = findViewById(R.id.open_zero_shot);
        Button search = findViewById(R.id.open_search);
        zeroShot.setEnabled(false);
        search.setEnabled(false);
        source.setText(R.string.looking_for_models);
        // copying bundled models (tens of MB) and parsing the manifest: off the UI thread (no ANR)
        worker.execute(() -> {
            try {
                File found = ModelLocator.find(this);
                Manifest parsed = found == null ? null : Manifest.read(found.toPath());
                runOnUiThread(() -> showModels(source, zeroShot, search, found, parsed));
            } catch (Exception | Error e) {
                String m = ClipSession.message(e);
                runOnUiThread(() -> source.setText(getString(R.string.model_source, m)));
            }
        });
    }

    private void showModels(TextView source, Button zeroShot, Button search, File found, Manifest parsed) {
        if (found == null) {
            source.setText(R.string.no_models);
            return;
        }
        manifestFile = found;
        manifest = parsed;
        zeroShot.setEnabled(true);
        search.setEnabled(true);
        source.setText(getString(R.string.model_source, manifestFile.getParent()));
        List<String> quants = new ArrayList<>();
        StringBuilder b = new StringBuilder();
        b.append(manifest.modelName).append("  embed_dim=").append(manifest.embedDim)
                .append("  image_size=").append(manifest.preprocess.imageSize).append('\n');
        for (Manifest.Model m : manifest.models) {
            if (!quants.contains(m.quantization)) quants.add(m.quantization);
            b.append(String.format("%-10s %-5s %-5s %6.1f MB  %s%n", m.backend, m.tower, m.quantization,
                    m.sizeBytes / 1e6, m.verified() ? "verified" : "NOT verified"));
        }
        details.setText(b.toString());
        quantization.setAdapter(new ArrayAdapter<>(this, android.R.layout.simple_spinner_dropdown_item, quants));
        RadioButton et = findViewById(R.id.backend_executorch);
        RadioButton lt = findViewById(R.id.backend_tflite);
        et.setEnabled(manifest.backends(quants.isEmpty() ? "int8" : quants.get(0)).contains("executorch")
                || manifest.find("executorch", "image", "fp32") != null);
        lt.setEnabled(manifest.backends(quants.isEmpty() ? "int8" : quants.get(0)).contains("tflite")
                || manifest.find("tflite", "image", "fp32") != null);
        (et.isEnabled() ? et : lt).setChecked(true);
        zeroShot.setOnClickListener(v -> openThen(ZeroShotActivity.class));
        search.setOnClickListener(v -> openThen(SearchActivity.class));
    }

    private String selectedBackend() {
        return backendGroup.getCheckedRadioButtonId() == R.id.backend_tflite ? "tflite" : "executorch";
    }

    /** Opens (or reuses) the session for the chosen runtime off the UI thread, then starts {@code screen}. */
    private void openThen(Class<? extends Activity> screen) {
        String backend = selectedBackend();
        Object q = quantization.getSelectedItem();
        String quant = q == null ? "int8" : q.toString();
        worker.execute(() -> {
            try {
                ClipSession s = ClipSession.current;
                if (s == null || !s.backend.equals(backend) || !s.quantization.equals(quant)) {
                    long t0 = System.nanoTime();
                    ClipSession opened = ClipSession.open(manifestFile, backend, quant);
                    double ms = (System.nanoTime() - t0) / 1e6;
                    ClipSession.current = opened;
                    // the old runtime closes after its running call; screens still holding it get a clear error
                    if (s != null) s.close();
                    runOnUiThread(() -> Toast.makeText(this, String.format("%s loaded in %.0f ms", backend, ms),
                            Toast.LENGTH_SHORT).show());
                }
                runOnUiThread(() -> startActivity(new Intent(this, screen)));
            } catch (Exception | Error e) { // ExceptionInInitializerError / UnsatisfiedLinkError of a runtime
                String m = ClipSession.message(e);
                runOnUiThread(() -> Toast.makeText(this, m, Toast.LENGTH_LONG).show());
            }
        });
    }

    @Override
    protected void onDestroy() {
        worker.shutdown();
        super.onDestroy();
    }
}

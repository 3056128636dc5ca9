package com.mobileclipkd.demo;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import android.content.Context;
import android.content.res.AssetManager;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import androidx.exifinterface.media.ExifInterface;
import androidx.test.ext.junit.runners.AndroidJUnit4;
import androidx.test.platform.app.InstrumentationRegistry;
import com.mobileclipkd.core.ClipTokenizer;
import com.mobileclipkd.core.ExifOrientation;
import com.mobileclipkd.core.ImagePreprocessor;
import com.mobileclipkd.core.Json;
import com.mobileclipkd.core.Patterns;
import com.mobileclipkd.core.PhotoIndex;
import com.mobileclipkd.core.PhotoIndexStore;
import com.mobileclipkd.core.PillowResize;
import com.mobileclipkd.core.TextCleaner;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.Test;
import org.junit.runner.RunWith;

/**
 * The shared golden fixtures (repository {@code golden/}, packed as this test APK's assets) on the phone's own
 * runtime: Android's ICU-based regex, ART's float maths, the platform's PNG/JPEG decoders and file system.
 * {@code ./gradlew :app:connectedDebugAndroidTest} (docs/phone_testing.md).
 */
@RunWith(AndroidJUnit4.class)
public class DeviceGoldenTest {
    static AssetManager assets() {
        return InstrumentationRegistry.getInstrumentation().getContext().getAssets();
    }

    static byte[] read(String name) throws IOException {
        try (InputStream in = assets().open(name)) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
            return b.toByteArray();
        }
    }

    static Map<String, Object> json(String name) throws IOException {
        return Json.object(Json.parse(new String(read(name), "UTF-8")), name);
    }

    /** Every core pattern compiles on Android's engine (the desktop JVM accepted a flag Android rejects). */
    @Test
    public void everyPatternCompilesOnAndroid() {
        for (Map.Entry<String, String> e : Patterns.all().entrySet())
            assertEquals(e.getKey(), 0, Pattern.compile(e.getValue()).flags());
        assertEquals("[a, ., b, 1, 2]", pieces(Patterns.PRE_TOKENIZER, "a\u00a0.\u3000b 12"));
    }

    private static String pieces(Pattern p, String text) {
        List<String> out = new ArrayList<>();
        java.util.regex.Matcher m = p.matcher(text);
        while (m.find()) out.add(m.group());
        return out.toString();
    }

    @Test
    public void tokenizerMatchesPythonOnEveryGoldenCaption() throws Exception {
        ClipTokenizer tok;
        try (InputStream v = assets().open("tokenizer/vocab.json"); InputStream m = assets().open("tokenizer/merges.txt")) {
            tok = ClipTokenizer.load(v, m, TextCleaner.fromResources(), 77);
        }
        List<String> failures = new ArrayList<>();
        List<Object> cases = Json.array(json("captions.json").get("cases"), "cases");
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            int[] want = Json.ints(c.get("ids"), "ids");
            int[] got = tok.tokenize((String) c.get("text"));
            if (!Arrays.equals(want, got)) failures.add(c.get("name") + ": " + Arrays.toString(got));
        }
        assertTrue(failures.size() + " of " + cases.size() + " captions differ:\n" + failures, failures.isEmpty());
    }

    /** Preprocessing from Python's decoded pixels (.rgb: ART maths only) and from the platform's decoders. */
    @Test
    public void preprocessingMatchesPython() throws Exception {
        Map<String, Object> g = json("preprocess.json");
        Map<String, Object> cfg = Json.object(g.get("preprocess"), "preprocess");
        int major = Integer.parseInt(((String) g.get("pillow_version")).split("\\.")[0]);
        ImagePreprocessor pre = new ImagePreprocessor(((Number) cfg.get("image_size")).intValue(),
                Json.doubles(cfg.get("mean"), "mean"), Json.doubles(cfg.get("std"), "std"), (String) cfg.get("layout"),
                major >= 13 ? PillowResize.Order.PILLOW_13 : PillowResize.Order.LEGACY_HORIZONTAL_FIRST);
        double tol = ((Number) g.get("tolerance")).doubleValue();
        List<String> failures = new ArrayList<>();
        for (Object o : Json.array(g.get("cases"), "cases")) {
            Map<String, Object> c = Json.object(o, "case");
            double[] want = Json.doubles(c.get("tensor"), "tensor");
            int[] size = Json.ints(c.get("stored_size"), "stored_size");
            byte[] rgb = read((String) c.get("rgb"));
            int[] argb = new int[size[0] * size[1]];
            for (int k = 0; k < argb.length; k++)
                argb[k] = 0xFF000000 | (rgb[3 * k] & 0xFF) << 16 | (rgb[3 * k + 1] & 0xFF) << 8 | (rgb[3 * k + 2] & 0xFF);
            check(failures, c.get("name") + " (python pixels)", oriented(pre, argb, size[0], size[1], c), want, tol);
            Bitmap bmp;
            try (InputStream in = assets().open((String) c.get("file"))) {
                bmp = BitmapFactory.decodeStream(in);
            }
            int w = bmp.getWidth(), h = bmp.getHeight();
            int[] px = new int[w * h];
            bmp.getPixels(px, 0, w, 0, 0, w, h);
            check(failures, c.get("name") + " (Android decoder)", oriented(pre, px, w, h, c), want, tol);
        }
        assertTrue(String.join("\n", failures), failures.isEmpty());
    }

    private static float[] oriented(ImagePreprocessor pre, int[] argb, int w, int h, Map<String, Object> c)
            throws IOException {
        int orientation;
        try (InputStream in = assets().open((String) c.get("file"))) {
            orientation = new ExifInterface(in).getAttributeInt(ExifInterface.TAG_ORIENTATION,
                    ExifInterface.ORIENTATION_NORMAL);
        }
        if (c.containsKey("exif_orientation"))
            assertEquals(((Number) c.get("exif_orientation")).intValue(), orientation);
        ExifOrientation.Oriented o = ExifOrientation.apply(argb, w, h, orientation);
        return pre.preprocess(o.argb, o.width, o.height);
    }

    private static void check(List<String> failures, String what, float[] got, double[] want, double tol) {
        double max = got.length == want.length ? 0 : Double.POSITIVE_INFINITY;
        for (int k = 0; k < Math.min(got.length, want.length); k++) max = Math.max(max, Math.abs(got[k] - want[k]));
        android.util.Log.i("mobileclip", what + ": max |device - python| = " + max);
        if (!(max <= tol)) failures.add(what + " max abs err " + max);
    }

    /** The index file's atomic save (temp + fsync + rename) and CRC on the phone's file system. */
    @Test
    public void photoIndexSavesAndLoadsOnDeviceStorage() throws Exception {
        Context ctx = InstrumentationRegistry.getInstrumentation().getTargetContext();
        PhotoIndexStore store = new PhotoIndexStore(new java.io.File(ctx.getCacheDir(), "golden-test.idx").toPath());
        PhotoIndex index = new PhotoIndex("device-test", 512);
        java.util.Random r = new java.util.Random(1);
        for (int i = 0; i < 2000; i++) {
            float[] v = new float[512];
            for (int j = 0; j < v.length; j++) v[j] = (float) r.nextGaussian();
            index.put(i, i, v);
        }
        store.save(index);
        PhotoIndexStore.Loaded loaded = store.load("device-test", 512);
        assertTrue(loaded.note, loaded.reused);
        assertEquals(2000, loaded.index.size());
        float[] q = new float[512];
        q[3] = 1;
        assertEquals(index.search(q, 10).toString(), loaded.index.search(q, 10).toString());
    }
}

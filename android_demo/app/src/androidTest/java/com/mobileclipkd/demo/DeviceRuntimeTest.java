package com.mobileclipkd.demo;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import android.content.Context;
import androidx.test.ext.junit.runners.AndroidJUnit4;
import androidx.test.platform.app.InstrumentationRegistry;
import com.mobileclipkd.core.Json;
import com.mobileclipkd.core.Manifest;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Assume;
import org.junit.Test;
import org.junit.runner.RunWith;

/**
 * Both runtimes on the phone, on the golden inputs: the export pushed with adb (android_demo/README.md) is
 * opened with ExecuTorch and with LiteRT through the app's own ClipSession; every golden caption and image gives
 * a finite embedding of the manifest's size, and at fp32 the two runtimes agree (cosine >= 0.999, the desktop
 * conformance threshold). Skipped, with the reason, when no export was pushed.
 */
@RunWith(AndroidJUnit4.class)
public class DeviceRuntimeTest {
    @Test
    public void bothRuntimesAgreeOnGoldenInputs() throws Exception {
        Context ctx = InstrumentationRegistry.getInstrumentation().getTargetContext();
        File manifestFile = ModelLocator.find(ctx);
        Assume.assumeTrue("no export pushed to files/models (see docs/phone_testing.md)", manifestFile != null);
        Manifest manifest = Manifest.read(manifestFile.toPath());
        List<String> captions = new ArrayList<>();
        for (Object o : Json.array(DeviceGoldenTest.json("captions.json").get("cases"), "cases"))
            captions.add((String) Json.object(o, "case").get("text"));
        List<float[]> first = null;
        int runtimes = 0;
        for (String backend : new String[] {"executorch", "tflite"}) {
            if (manifest.find(backend, "image", "fp32") == null) continue;
            List<float[]> out = new ArrayList<>();
            try (ClipSession s = ClipSession.open(manifestFile, backend, "fp32")) {
                for (String c : captions) out.add(s.embed(c));
                for (Object o : Json.array(DeviceGoldenTest.json("preprocess.json").get("cases"), "cases"))
                    out.add(s.embed(imagePixels(Json.object(o, "case"), s), s.imageSize, s.imageSize));
            }
            for (float[] e : out) {
                assertEquals(manifest.embedDim, e.length);
                for (float x : e) assertTrue(backend + " gave a non-finite value", Float.isFinite(x));
            }
            if (first != null)
                for (int i = 0; i < out.size(); i++)
                    assertTrue("executorch vs tflite, input " + i, cosine(first.get(i), out.get(i)) >= 0.999);
            first = out;
            runtimes++;
        }
        Assume.assumeTrue("the pushed export has no fp32 model of both runtimes", runtimes == 2);
    }

    /** A golden image scaled to the model size (any pixels do: both runtimes get the same buffer). */
    private static int[] imagePixels(Map<String, Object> c, ClipSession s) throws Exception {
        int[] size = Json.ints(c.get("stored_size"), "stored_size");
        byte[] rgb = DeviceGoldenTest.read((String) c.get("rgb"));
        int n = s.imageSize * s.imageSize;
        int[] argb = new int[n];
        for (int k = 0; k < n; k++) {
            int src = (k % (size[0] * size[1])) * 3;
            argb[k] = 0xFF000000 | (rgb[src] & 0xFF) << 16 | (rgb[src + 1] & 0xFF) << 8 | (rgb[src + 2] & 0xFF);
        }
        return argb;
    }

    static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }
}

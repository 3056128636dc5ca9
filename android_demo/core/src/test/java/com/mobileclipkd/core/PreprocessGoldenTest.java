package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.Test;

public class PreprocessGoldenTest {
    @Test
    public void goldenImagesMatchTorchvisionWithin1e5() throws Exception {
        Map<String, Object> g = Golden.json("preprocess.json");
        Map<String, Object> cfg = Json.object(g.get("preprocess"), "preprocess");
        ImagePreprocessor pre = new ImagePreprocessor(((Number) cfg.get("image_size")).intValue(),
                Json.doubles(cfg.get("mean"), "mean"), Json.doubles(cfg.get("std"), "std"), (String) cfg.get("layout"),
                orderFor((String) g.get("pillow_version")));
        double tol = ((Number) g.get("tolerance")).doubleValue();
        assertTrue(tol <= 1e-5);
        List<Object> cases = Json.array(g.get("cases"), "cases");
        assertTrue("expected several golden images", cases.size() >= 5);
        List<String> failures = new ArrayList<>();
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            // the app's photo path: decode, EXIF orientation (ExifOrientation), preprocess
            float[] got = Conformance.pixels(Golden.dir().resolve((String) c.get("file")), pre);
            BufferedImage img = ImageIO.read(Golden.dir().resolve((String) c.get("file")).toFile());
            int w = img.getWidth(), h = img.getHeight();
            if (c.containsKey("exif_orientation")) {
                try (java.io.InputStream in = java.nio.file.Files.newInputStream(Golden.dir().resolve((String) c.get("file")))) {
                    assertEquals(((Number) c.get("exif_orientation")).intValue(), ExifOrientation.read(in));
                }
                if (((Number) c.get("exif_orientation")).intValue() >= 5) { int t = w; w = h; h = t; }
            }
            assertEquals(((Number) c.get("width")).intValue(), w);
            double[] want = Json.doubles(c.get("tensor"), "tensor");
            assertEquals(want.length, got.length);
            double maxErr = 0;
            for (int k = 0; k < got.length; k++) maxErr = Math.max(maxErr, Math.abs(got[k] - want[k]));
            System.out.printf("PreprocessGoldenTest: %-18s %3dx%-3d max |java - python| = %.3g%n", c.get("name"), w, h, maxErr);
            if (!(maxErr <= tol)) failures.add(c.get("name") + " max abs err " + maxErr);
        }
        assertTrue(String.join("\n", failures), failures.isEmpty());
    }

    /** The fixtures record the Pillow release that made them; the resize pass order changed in Pillow 13. */
    static PillowResize.Order orderFor(String pillowVersion) {
        int major = Integer.parseInt(pillowVersion.split("\\.")[0]);
        return major >= 13 ? PillowResize.Order.PILLOW_13 : PillowResize.Order.LEGACY_HORIZONTAL_FIRST;
    }

    @Test
    public void resizedSizeFollowsTorchvision() {
        assertEquals(48, ImagePreprocessor.resizedSize(96, 64, 32)[0]);
        assertEquals(32, ImagePreprocessor.resizedSize(96, 64, 32)[1]);
        assertEquals(79, ImagePreprocessor.resizedSize(31, 77, 32)[1]); // int(32*77/31) = 79
    }
}

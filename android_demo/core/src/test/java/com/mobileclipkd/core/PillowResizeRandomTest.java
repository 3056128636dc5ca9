package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.junit.Assume;
import org.junit.Test;

/**
 * {@link PillowResize} against Pillow itself on random images and sizes (up-, down-, mixed scaling, both pass
 * orders). The cases file is written by tests/apps/test_android_core.py with the installed Pillow: per case, big-endian
 * ints inW, inH, outW, outH, then inW*inH*3 RGB bytes, then outW*outH*3 bytes of {@code Image.resize(BICUBIC)}.
 */
public class PillowResizeRandomTest {
    @Test
    public void matchesPillowBitForBit() throws Exception {
        String p = System.getProperty("resize.cases");
        Assume.assumeTrue("resize.cases not set (written by tests/apps/test_android_core.py)", p != null);
        PillowResize.Order order = PreprocessGoldenTest.orderFor(System.getProperty("pillow.version", "13"));
        int n = 0;
        List<String> failures = new ArrayList<>();
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(Paths.get(p))))) {
            while (true) {
                int w, h, ow, oh;
                try {
                    w = in.readInt();
                } catch (EOFException end) {
                    break;
                }
                h = in.readInt();
                ow = in.readInt();
                oh = in.readInt();
                int[] src = new int[w * h];
                for (int k = 0; k < src.length; k++)
                    src[k] = 0xFF000000 | (in.readUnsignedByte() << 16) | (in.readUnsignedByte() << 8) | in.readUnsignedByte();
                int[] got = PillowResize.resize(src, w, h, ow, oh, order);
                int diff = 0;
                for (int k = 0; k < ow * oh; k++) {
                    int want = (in.readUnsignedByte() << 16) | (in.readUnsignedByte() << 8) | in.readUnsignedByte();
                    if (got[k] != want) diff++;
                }
                n++;
                if (diff > 0) failures.add(w + "x" + h + " -> " + ow + "x" + oh + ": " + diff + " pixels differ");
            }
        }
        assertTrue("no cases read", n > 0);
        assertTrue(failures.size() + " of " + n + " resizes differ from Pillow:\n" + String.join("\n", failures),
                failures.isEmpty());
        int expected = Integer.parseInt(System.getProperty("resize.count", "-1"));
        if (expected >= 0) assertEquals(expected, n);
        System.out.println("PillowResizeRandomTest: " + n + " random resizes identical to Pillow");
    }
}

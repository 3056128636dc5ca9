package com.mobileclipkd.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.io.ByteArrayInputStream;
import org.junit.Test;

public class ExifOrientationTest {
    private static final int W = 3, H = 2;
    private static final int[] PX = {1, 2, 3, 4, 5, 6}; // row-major 3x2

    private static int[] apply(int[] px, int w, int h, int o) {
        return ExifOrientation.apply(px, w, h, o).argb;
    }

    @Test
    public void orientationsMatchPillowExifTranspose() {
        // PIL.ImageOps.exif_transpose on the 3x2 image [[1,2,3],[4,5,6]]
        assertArrayEquals(PX, apply(PX, W, H, 1));
        assertArrayEquals(new int[]{3, 2, 1, 6, 5, 4}, apply(PX, W, H, 2));
        assertArrayEquals(new int[]{6, 5, 4, 3, 2, 1}, apply(PX, W, H, 3));
        assertArrayEquals(new int[]{4, 5, 6, 1, 2, 3}, apply(PX, W, H, 4));
        assertArrayEquals(new int[]{1, 4, 2, 5, 3, 6}, apply(PX, W, H, 5));
        assertArrayEquals(new int[]{4, 1, 5, 2, 6, 3}, apply(PX, W, H, 6));
        assertArrayEquals(new int[]{6, 3, 5, 2, 4, 1}, apply(PX, W, H, 7));
        assertArrayEquals(new int[]{3, 6, 2, 5, 1, 4}, apply(PX, W, H, 8));
        assertEquals(2, ExifOrientation.apply(PX, W, H, 6).width);
    }

    @Test
    public void notAJpegIsOrientationOne() throws Exception {
        assertEquals(1, ExifOrientation.read(new ByteArrayInputStream(new byte[]{(byte) 0x89, 'P', 'N', 'G'})));
        assertEquals(1, ExifOrientation.read(new ByteArrayInputStream(new byte[0])));
    }
}

package com.mobileclipkd.core;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;

/**
 * The one photo policy (as Python's {@code ImageOps.exif_transpose} and the iOS app): apply the EXIF orientation
 * before preprocessing. {@link #read} finds the orientation tag of a JPEG (1 when absent or not a JPEG);
 * {@link #apply} turns stored ARGB pixels into displayed ones, exactly (no resampling).
 */
public final class ExifOrientation {
    private ExifOrientation() {
    }

    /** Pixels after {@link #apply}. */
    public static final class Oriented {
        public final int[] argb;
        public final int width;
        public final int height;

        Oriented(int[] argb, int width, int height) {
            this.argb = argb;
            this.width = width;
            this.height = height;
        }
    }

    /** The EXIF orientation (1..8) of a JPEG stream; 1 when the stream is not a JPEG or has no such tag. */
    public static int read(InputStream stream) throws IOException {
        DataInputStream in = new DataInputStream(stream);
        try {
            if (in.readUnsignedShort() != 0xFFD8) return 1;
            while (true) {
                int marker = in.readUnsignedShort();
                if ((marker & 0xFF00) != 0xFF00 || marker == 0xFFDA || marker == 0xFFD9) return 1;
                int length = in.readUnsignedShort() - 2;
                byte[] segment = new byte[Math.max(0, length)];
                in.readFully(segment);
                if (marker == 0xFFE1 && length > 14 && new String(segment, 0, 4, "ISO-8859-1").equals("Exif")) {
                    return fromTiff(segment, 6);
                }
            }
        } catch (EOFException e) {
            return 1;
        }
    }

    private static int fromTiff(byte[] b, int t) {
        boolean little = b[t] == 'I';
        int ifd = t + u32(b, t + 4, little);
        if (ifd + 2 > b.length) return 1;
        int n = u16(b, ifd, little);
        for (int i = 0; i < n; i++) {
            int e = ifd + 2 + 12 * i;
            if (e + 12 > b.length) return 1;
            if (u16(b, e, little) == 0x0112) {
                int v = u16(b, e + 8, little);
                return v >= 1 && v <= 8 ? v : 1;
            }
        }
        return 1;
    }

    private static int u16(byte[] b, int i, boolean little) {
        int a = b[i] & 0xFF, c = b[i + 1] & 0xFF;
        return little ? a | c << 8 : a << 8 | c;
    }

    private static int u32(byte[] b, int i, boolean little) {
        return little ? u16(b, i, true) | u16(b, i + 2, true) << 16 : u16(b, i, false) << 16 | u16(b, i + 2, false);
    }

    /** Stored {@code w x h} pixels -> displayed pixels for EXIF {@code orientation} (as PIL's exif_transpose). */
    public static Oriented apply(int[] argb, int w, int h, int orientation) {
        if (orientation <= 1 || orientation > 8) return new Oriented(argb, w, h);
        boolean swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        int[] out = new int[argb.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx, sy;
                switch (orientation) {
                    case 2: sx = w - 1 - x; sy = y; break;          // mirror horizontally
                    case 3: sx = w - 1 - x; sy = h - 1 - y; break;  // rotate 180
                    case 4: sx = x; sy = h - 1 - y; break;          // mirror vertically
                    case 5: sx = y; sy = x; break;                  // transpose
                    case 6: sx = y; sy = h - 1 - x; break;          // rotate 90 clockwise
                    case 7: sx = w - 1 - y; sy = h - 1 - x; break;  // transverse
                    default: sx = w - 1 - y; sy = x; break;         // 8: rotate 90 counter-clockwise
                }
                out[y * ow + x] = argb[sy * w + sx];
            }
        }
        return new Oriented(out, ow, oh);
    }
}

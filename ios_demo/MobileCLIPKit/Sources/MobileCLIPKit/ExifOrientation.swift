// The one photo policy, as Python's ImageOps.exif_transpose and the Android app's ExifOrientation:
// apply the EXIF orientation (1...8) to the stored pixels before preprocessing, exactly (no resampling).
public enum ExifOrientation {
    /// Stored `width x height` pixels (0xRRGGBB) -> displayed pixels and their size.
    public static func apply(_ px: [UInt32], width w: Int, height h: Int, orientation: Int)
        -> (rgb: [UInt32], width: Int, height: Int) {
        guard orientation >= 2 && orientation <= 8 else { return (px, w, h) }
        let swap = orientation >= 5
        let ow = swap ? h : w, oh = swap ? w : h
        var out = [UInt32](repeating: 0, count: px.count)
        for y in 0..<oh {
            for x in 0..<ow {
                let (sx, sy): (Int, Int)
                switch orientation {
                case 2: (sx, sy) = (w - 1 - x, y)
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                case 4: (sx, sy) = (x, h - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, h - 1 - x)
                case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                default: (sx, sy) = (w - 1 - y, x)
                }
                out[y * ow + x] = px[sy * w + sx]
            }
        }
        return (out, ow, oh)
    }
}

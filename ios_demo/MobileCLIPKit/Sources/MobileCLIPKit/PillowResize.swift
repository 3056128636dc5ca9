import Foundation

/// Pillow's `Image.resize(size, BICUBIC)` on 8-bit RGB, bit for bit (Pillow `src/libImaging/Resample.c`): what
/// torchvision's `Resize` does to PIL images. Separable fixed-point convolution (22 fractional bits), one pass per
/// dimension that changes, clipped to 0...255 after each pass; the pass order follows the Pillow release.
public enum PillowResize {
    static let precisionBits: Int32 = 32 - 8 - 2

    public enum Order {
        /// Pillow <= 12: horizontal pass first, always.
        case legacyHorizontalFirst
        /// Pillow >= 13: vertical first when `(inH - outH) > 0 && (inH - outH) > (inW - outW) * 2`.
        case pillow13
    }

    static func bicubic(_ xIn: Double) -> Double {
        let a = -0.5
        let x = xIn < 0 ? -xIn : xIn
        if x < 1.0 { return ((a + 2.0) * x - (a + 3.0)) * x * x + 1 }
        if x < 2.0 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0.0
    }

    struct Coeffs {
        let ksize: Int
        var bounds: [Int]
        let kk: [Int32]
    }

    static func precompute(inSize: Int, in0: Float, in1: Float, outSize: Int) -> Coeffs {
        let scale = Double(in1 - in0) / Double(outSize)
        let filterscale = scale < 1.0 ? 1.0 : scale
        let support = 2.0 * filterscale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var bounds = [Int](repeating: 0, count: outSize * 2)
        var pre = [Double](repeating: 0, count: outSize * ksize)
        for xx in 0..<outSize {
            let center = Double(in0) + (Double(xx) + 0.5) * scale
            var ww = 0.0
            let ss = 1.0 / filterscale
            var xmin = Int(center - support + 0.5) // truncation toward zero, like the C cast
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            xmax -= xmin
            for x in 0..<max(xmax, 0) {
                let w = bicubic((Double(x + xmin) - center + 0.5) * ss)
                pre[xx * ksize + x] = w
                ww += w
            }
            if ww != 0.0 { for x in 0..<max(xmax, 0) { pre[xx * ksize + x] /= ww } }
            bounds[xx * 2] = xmin
            bounds[xx * 2 + 1] = xmax
        }
        let one = Double(Int32(1) << precisionBits)
        let kk = pre.map { v -> Int32 in v < 0 ? Int32(-0.5 + v * one) : Int32(0.5 + v * one) }
        return Coeffs(ksize: ksize, bounds: bounds, kk: kk)
    }

    @inline(__always) static func clip8(_ v: Int32) -> UInt32 {
        let s = v >> precisionBits
        return s < 0 ? 0 : (s > 255 ? 255 : UInt32(s))
    }

    /// Resizes packed 0x00RRGGBB pixels (alpha ignored) from inW x inH to outW x outH.
    public static func resize(_ rgb: [UInt32], inW: Int, inH: Int, outW: Int, outH: Int,
                              order: Order = .pillow13) -> [UInt32] {
        precondition(rgb.count >= inW * inH && outW > 0 && outH > 0)
        var img = rgb.prefix(inW * inH).map { $0 & 0xFFFFFF }
        if outW == inW && outH == inH { return img }
        let needH = outW != inW, needV = outH != inH
        let horizontalFirst = order == .legacyHorizontalFirst || !((inH - outH) > 0 && (inH - outH) > (inW - outW) * 2)
        var vert = (needV || (needH && horizontalFirst)) ? precompute(inSize: inH, in0: 0, in1: Float(inH), outSize: outH) : nil
        let hor = needH ? precompute(inSize: inW, in0: 0, in1: Float(inW), outSize: outW) : nil
        var w = inW
        if horizontalFirst {
            if needH, var v = vert, let h = hor {
                let yFirst = v.bounds[0]
                let yLast = v.bounds[outH * 2 - 2] + v.bounds[outH * 2 - 1]
                img = horizontal(img, w: w, rowOffset: yFirst, rows: yLast - yFirst, h, outW: outW)
                w = outW
                for i in 0..<outH { v.bounds[i * 2] -= yFirst }
                vert = v
            }
            if needV, let v = vert { img = vertical(img, w: w, v, outH: outH) }
        } else {
            if needV, let v = vert { img = vertical(img, w: w, v, outH: outH) }
            if needH, let h = hor { img = horizontal(img, w: w, rowOffset: 0, rows: outH, h, outW: outW) }
        }
        return img
    }

    private static func horizontal(_ img: [UInt32], w: Int, rowOffset: Int, rows: Int, _ c: Coeffs, outW: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: outW * rows)
        let half: Int32 = 1 << (precisionBits - 1)
        for yy in 0..<rows {
            let src = (yy + rowOffset) * w
            for xx in 0..<outW {
                let xmin = c.bounds[xx * 2], xmax = c.bounds[xx * 2 + 1], kb = xx * c.ksize
                var s0 = half, s1 = half, s2 = half
                for x in 0..<xmax {
                    let p = img[src + x + xmin], k = c.kk[kb + x]
                    s0 = s0 &+ Int32((p >> 16) & 0xFF) &* k
                    s1 = s1 &+ Int32((p >> 8) & 0xFF) &* k
                    s2 = s2 &+ Int32(p & 0xFF) &* k
                }
                out[yy * outW + xx] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2)
            }
        }
        return out
    }

    private static func vertical(_ img: [UInt32], w: Int, _ c: Coeffs, outH: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: w * outH)
        let half: Int32 = 1 << (precisionBits - 1)
        for yy in 0..<outH {
            let ymin = c.bounds[yy * 2], ymax = c.bounds[yy * 2 + 1], kb = yy * c.ksize
            for xx in 0..<w {
                var s0 = half, s1 = half, s2 = half
                for y in 0..<ymax {
                    let p = img[(y + ymin) * w + xx], k = c.kk[kb + y]
                    s0 = s0 &+ Int32((p >> 16) & 0xFF) &* k
                    s1 = s1 &+ Int32((p >> 8) & 0xFF) &* k
                    s2 = s2 &+ Int32(p & 0xFF) &* k
                }
                out[yy * w + xx] = (clip8(s0) << 16) | (clip8(s1) << 8) | clip8(s2)
            }
        }
        return out
    }
}

import Foundation
#if canImport(CoreGraphics)
import CoreGraphics
#endif
#if canImport(CoreVideo)
import CoreVideo
#endif
#if canImport(CoreML)
import CoreML
#endif

/// CLIP eval preprocessing, identical to `mobileclip.image_transform(preprocess)` (torchvision Resize(size,
/// bicubic) on a PIL image -> CenterCrop -> ToTensor -> Normalize, float32): Pillow-exact resize of the shortest
/// side, center crop with Python's round-half-even offset, /255, (x - mean) / std. Input: packed 0x00RRGGBB.
public struct ImagePreprocessor {
    public let imageSize: Int
    public let mean: [Float]
    public let std: [Float]
    public let nhwc: Bool
    public let resizeOrder: PillowResize.Order

    public init(imageSize: Int, mean: [Double], std: [Double], layout: String = "NCHW",
                resizeOrder: PillowResize.Order = .pillow13) throws {
        guard imageSize > 0, mean.count == 3, std.count == 3 else {
            throw MobileCLIPError.badManifest("preprocess needs image_size > 0 and 3 mean/std values")
        }
        guard layout == "NCHW" || layout == "NHWC" else { throw MobileCLIPError.badManifest("layout \(layout)") }
        self.imageSize = imageSize
        self.mean = mean.map { Float($0) }
        self.std = std.map { Float($0) }
        self.nhwc = layout == "NHWC"
        self.resizeOrder = resizeOrder
    }

    public init(manifest p: ExportManifest.Preprocess) throws {
        guard p.resize == "shortest_side", p.interpolation == "bicubic", p.crop == "center" else {
            throw MobileCLIPError.badManifest("unsupported preprocessing \(p.resize)/\(p.interpolation)/\(p.crop)")
        }
        try self.init(imageSize: p.imageSize, mean: p.mean, std: p.std, layout: p.layout ?? "NCHW")
    }

    /// torchvision's `_compute_resized_output_size` for an int size: (width, height).
    public static func resizedSize(width w: Int, height h: Int, size: Int) -> (Int, Int) {
        let short = min(w, h), long = max(w, h)
        let newLong = Int(Double(size * long) / Double(short))
        return w <= h ? (size, newLong) : (newLong, size)
    }

    /// Resize + center crop: imageSize x imageSize packed RGB.
    public func resizeAndCrop(_ rgb: [UInt32], width: Int, height: Int) -> [UInt32] {
        let (rw, rh) = ImagePreprocessor.resizedSize(width: width, height: height, size: imageSize)
        let resized = PillowResize.resize(rgb, inW: width, inH: height, outW: rw, outH: rh, order: resizeOrder)
        let top = Int((Double(rh - imageSize) / 2.0).rounded(.toNearestOrEven))
        let left = Int((Double(rw - imageSize) / 2.0).rounded(.toNearestOrEven))
        var out = [UInt32](repeating: 0, count: imageSize * imageSize)
        for y in 0..<imageSize {
            for x in 0..<imageSize { out[y * imageSize + x] = resized[(y + top) * rw + x + left] }
        }
        return out
    }

    /// The model input as float32 (batch of 1, manifest layout), flattened.
    public func preprocess(_ rgb: [UInt32], width: Int, height: Int) -> [Float] {
        let px = resizeAndCrop(rgb, width: width, height: height)
        let n = imageSize * imageSize
        var out = [Float](repeating: 0, count: 3 * n)
        for k in 0..<n {
            let p = px[k]
            let c: [UInt32] = [(p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF]
            for ch in 0..<3 {
                var v = Float(c[ch]) / Float(255)
                v = (v - mean[ch]) / std[ch]
                if nhwc { out[k * 3 + ch] = v } else { out[ch * n + k] = v }
            }
        }
        return out
    }

    /// Packed RGB from RGBA bytes (alpha dropped, as PIL's convert("RGB")).
    public static func packRGBA(_ bytes: [UInt8], width: Int, height: Int) -> [UInt32] {
        (0..<(width * height)).map { i in
            (UInt32(bytes[4 * i]) << 16) | (UInt32(bytes[4 * i + 1]) << 8) | UInt32(bytes[4 * i + 2])
        }
    }

    #if canImport(CoreGraphics)
    /// Packed RGB of a CGImage. 8-bit RGB/RGBA images with straight (non-premultiplied) or no alpha are read
    /// byte for byte, alpha dropped like PIL's convert("RGB"); anything else is drawn into an 8-bit RGB context
    /// in the image's own RGB colour space (exact for opaque images).
    public static func pixels(of image: CGImage) throws -> (rgb: [UInt32], width: Int, height: Int) {
        let w = image.width, h = image.height
        let alpha = image.alphaInfo
        let rawOK = image.bitsPerComponent == 8 && image.colorSpace?.model == .rgb
            && image.bitmapInfo.intersection(.byteOrderMask).rawValue == 0
            && ((image.bitsPerPixel == 24 && alpha == .none)
                || (image.bitsPerPixel == 32 && [.last, .noneSkipLast, .first, .noneSkipFirst].contains(alpha)))
        if rawOK, let data = image.dataProvider?.data, let base = CFDataGetBytePtr(data) {
            let bpp = image.bitsPerPixel / 8, stride = image.bytesPerRow
            let off = (alpha == .first || alpha == .noneSkipFirst) ? 1 : 0
            var out = [UInt32](repeating: 0, count: w * h)
            for y in 0..<h {
                for x in 0..<w {
                    let o = y * stride + x * bpp + off
                    out[y * w + x] = (UInt32(base[o]) << 16) | (UInt32(base[o + 1]) << 8) | UInt32(base[o + 2])
                }
            }
            return (out, w, h)
        }
        var bytes = [UInt8](repeating: 0, count: w * h * 4)
        let space = image.colorSpace?.model == .rgb ? image.colorSpace! : CGColorSpace(name: CGColorSpace.sRGB)!
        let drawn: Bool = bytes.withUnsafeMutableBytes { buf in
            guard let ctx = CGContext(data: buf.baseAddress, width: w, height: h, bitsPerComponent: 8,
                                      bytesPerRow: w * 4, space: space,
                                      bitmapInfo: CGImageAlphaInfo.noneSkipLast.rawValue) else { return false }
            ctx.interpolationQuality = .none
            ctx.draw(image, in: CGRect(x: 0, y: 0, width: w, height: h))
            return true
        }
        guard drawn else { throw MobileCLIPError.badImage("cannot create a bitmap context") }
        return (packRGBA(bytes, width: w, height: h), w, h)
    }
    #endif

    #if canImport(CoreML)
    /// The preprocessed tensor as an MLMultiArray of shape [1, 3, S, S] (or [1, S, S, 3] for NHWC).
    public func multiArray(_ rgb: [UInt32], width: Int, height: Int) throws -> MLMultiArray {
        let values = preprocess(rgb, width: width, height: height)
        let s = NSNumber(value: imageSize)
        let shape: [NSNumber] = nhwc ? [1, s, s, 3] : [1, 3, s, s]
        let array = try MLMultiArray(shape: shape, dataType: .float32)
        let ptr = array.dataPointer.bindMemory(to: Float.self, capacity: values.count)
        for i in 0..<values.count { ptr[i] = values[i] }
        return array
    }
    #endif

    #if canImport(CoreVideo)
    /// The resized + center-cropped photo (not normalised) as a 32BGRA CVPixelBuffer, for models exported with an
    /// image input whose scale/bias does the normalisation inside the model.
    public func pixelBuffer(_ rgb: [UInt32], width: Int, height: Int) throws -> CVPixelBuffer {
        let px = resizeAndCrop(rgb, width: width, height: height)
        var buffer: CVPixelBuffer?
        let status = CVPixelBufferCreate(kCFAllocatorDefault, imageSize, imageSize, kCVPixelFormatType_32BGRA, nil, &buffer)
        guard status == kCVReturnSuccess, let pb = buffer else { throw MobileCLIPError.runtime("CVPixelBufferCreate \(status)") }
        CVPixelBufferLockBaseAddress(pb, [])
        defer { CVPixelBufferUnlockBaseAddress(pb, []) }
        let base = CVPixelBufferGetBaseAddress(pb)!.assumingMemoryBound(to: UInt8.self)
        let stride = CVPixelBufferGetBytesPerRow(pb)
        for y in 0..<imageSize {
            for x in 0..<imageSize {
                let p = px[y * imageSize + x], o = y * stride + x * 4
                base[o] = UInt8(p & 0xFF)
                base[o + 1] = UInt8((p >> 8) & 0xFF)
                base[o + 2] = UInt8((p >> 16) & 0xFF)
                base[o + 3] = 255
            }
        }
        return pb
    }
    #endif
}

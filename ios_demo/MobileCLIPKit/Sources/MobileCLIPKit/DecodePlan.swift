import Foundation

/// The size a photo is decoded at, decided from its header before any pixel buffer exists; one rule for the
/// zero-shot picker, the camera and the library index (and the same rule as Android's core).
public enum DecodePlan {
    /// Photos are decoded with their short side at twice the model input (never upscaled): the remaining
    /// bicubic resize to the model size is then Pillow-exact.
    public static func shortSide(imageSize: Int) -> Int { 2 * imageSize }

    /// At most this many decoded pixels (4 bytes each: 64 MB) for one photo.
    public static let defaultMaxPixels = 16_000_000

    /// The decoded size of a `width` x `height` photo: scaled so its short side is `shortSide(imageSize:)`
    /// (the long side follows the aspect, so a 20000x3000 panorama at 224 is 2987x448), further down when the
    /// result would exceed `maxPixels`; a photo that cannot fit without its short side falling below the
    /// model input throws before anything is decoded.
    public static func size(width: Int, height: Int, imageSize: Int,
                            maxPixels: Int = defaultMaxPixels) throws -> (width: Int, height: Int) {
        guard width > 0, height > 0, imageSize > 0 else {
            throw MobileCLIPError.badImage("photo size \(width)x\(height)")
        }
        let short = min(width, height)
        var f = min(1.0, Double(shortSide(imageSize: imageSize)) / Double(short))
        var rule = FloatingPointRoundingRule.toNearestOrAwayFromZero
        if Double(width) * f * Double(height) * f > Double(maxPixels) {
            f = (Double(maxPixels) / (Double(width) * Double(height))).squareRoot()
            rule = .down
        }
        let w = max(1, Int((Double(width) * f).rounded(rule))), h = max(1, Int((Double(height) * f).rounded(rule)))
        guard min(w, h) >= min(imageSize, short), w * h <= maxPixels else {
            throw MobileCLIPError.badImage("a \(width)x\(height) photo does not fit \(maxPixels) pixels at the model's "
                + "\(imageSize) px: skipped")
        }
        return (w, h)
    }
}

#if canImport(ImageIO) && canImport(CoreGraphics)
import CoreGraphics
import Foundation
import ImageIO

/// Decodes a photo for the image tower with bounded memory: ImageIO downsamples at decode (a 48 MP photo never
/// exists in memory at full size) while the short side stays at least `2 * minShortSide`, then the EXIF
/// orientation is applied exactly (ExifOrientation, the policy shared with Python and Android).
public enum PhotoDecoder {
    public static func pixels(data: Data, minShortSide: Int) throws -> (rgb: [UInt32], width: Int, height: Int) {
        guard let src = CGImageSourceCreateWithData(data as CFData, [kCGImageSourceShouldCache: false] as CFDictionary),
              let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any],
              let w = props[kCGImagePropertyPixelWidth] as? Int, let h = props[kCGImagePropertyPixelHeight] as? Int
        else { throw MobileCLIPError.badImage("not a decodable image") }
        let orientation = (props[kCGImagePropertyOrientation] as? Int) ?? 1
        let maxSide = maxPixelSize(width: w, height: h, minShortSide: minShortSide)
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: false,  // orientation: ExifOrientation below
            kCGImageSourceShouldCacheImmediately: true,
            kCGImageSourceThumbnailMaxPixelSize: maxSide,
        ]
        guard let image = CGImageSourceCreateThumbnailAtIndex(src, 0, options as CFDictionary) else {
            throw MobileCLIPError.badImage("cannot decode the photo")
        }
        let (rgb, pw, ph) = try ImagePreprocessor.pixels(of: image)
        return ExifOrientation.apply(rgb, width: pw, height: ph, orientation: orientation)
    }

    /// The long side to decode at: the whole photo when small, else scaled so the short side is >= 2 * minShortSide.
    public static func maxPixelSize(width: Int, height: Int, minShortSide: Int) -> Int {
        let short = min(width, height), long = max(width, height)
        guard minShortSide > 0, short > 2 * minShortSide else { return long }
        return Int((Double(long) * Double(2 * minShortSide) / Double(short)).rounded(.up))
    }
}
#endif

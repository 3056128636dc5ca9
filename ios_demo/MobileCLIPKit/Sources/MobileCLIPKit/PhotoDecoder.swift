#if canImport(ImageIO) && canImport(CoreGraphics)
import CoreGraphics
import Foundation
import ImageIO

/// Decodes a photo for the image tower with bounded memory: the size comes from the header first, ImageIO
/// then decodes directly at `DecodePlan.size` (a 48 MP photo or a panorama never exists in memory at full
/// size), and the EXIF orientation is applied exactly (ExifOrientation, the policy shared with Python and
/// Android).
public enum PhotoDecoder {
    public static func pixels(data: Data, imageSize: Int) throws -> (rgb: [UInt32], width: Int, height: Int) {
        guard let src = CGImageSourceCreateWithData(data as CFData, [kCGImageSourceShouldCache: false] as CFDictionary),
              let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any],
              let w = props[kCGImagePropertyPixelWidth] as? Int, let h = props[kCGImagePropertyPixelHeight] as? Int
        else { throw MobileCLIPError.badImage("not a decodable image") }
        let orientation = (props[kCGImagePropertyOrientation] as? Int) ?? 1
        let planned = try DecodePlan.size(width: w, height: h, imageSize: imageSize)
        let maxSide = max(planned.width, planned.height)
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
}
#endif

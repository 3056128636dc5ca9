import Foundation
import XCTest
@testable import MobileCLIPKit

/// The Swift side of the model-boundary conformance check: with MOBILECLIP_CONFORMANCE_OUT set (by
/// tests/apps/test_swift_package.py), writes the exact buffers the app hands Core ML for the golden EXIF photo
/// (raw-RGB fixture -> ExifOrientation -> ImagePreprocessor: NCHW float32) and the conformance captions
/// (ClipTokenizer: int32 ids), little-endian; Python compares them with its own inputs.
final class ConformanceTests: XCTestCase {
    func testWriteInputBuffers() throws {
        guard let outPath = ProcessInfo.processInfo.environment["MOBILECLIP_CONFORMANCE_OUT"] else {
            throw XCTSkip("MOBILECLIP_CONFORMANCE_OUT not set: nothing to write")
        }
        let out = URL(fileURLWithPath: outPath)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let g = try Golden.json("preprocess.json")
        let cfg = try XCTUnwrap(g["preprocess"] as? [String: Any])
        let pre = try ImagePreprocessor(imageSize: try XCTUnwrap(cfg["image_size"] as? Int),
                                        mean: try XCTUnwrap(cfg["mean"] as? [Double]),
                                        std: try XCTUnwrap(cfg["std"] as? [Double]),
                                        layout: (cfg["layout"] as? String) ?? "NCHW", resizeOrder: .pillow13)
        let cases = try XCTUnwrap(g["cases"] as? [[String: Any]])
        let c = try XCTUnwrap(cases.first { $0["exif_orientation"] != nil })
        let bytes = [UInt8](try Data(contentsOf: Golden.dir.appendingPathComponent(try XCTUnwrap(c["rgb"] as? String))))
        let stored = try XCTUnwrap(c["stored_size"] as? [Int])
        var px = [UInt32](repeating: 0, count: stored[0] * stored[1])
        for i in 0..<px.count {
            px[i] = (UInt32(bytes[3 * i]) << 16) | (UInt32(bytes[3 * i + 1]) << 8) | UInt32(bytes[3 * i + 2])
        }
        let o = ExifOrientation.apply(px, width: stored[0], height: stored[1],
                                      orientation: try XCTUnwrap(c["exif_orientation"] as? Int))
        let pixels = pre.preprocess(o.rgb, width: o.width, height: o.height)
        try Data(pixels.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            .write(to: out.appendingPathComponent("pixels.f32"))
        let captions = try String(contentsOf: out.appendingPathComponent("captions.txt"), encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        let ids = try captions.flatMap { try Golden.tokenizer.tokenize($0) }
        try Data(ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
            .write(to: out.appendingPathComponent("ids.i32"))
    }
}

import Foundation
import XCTest
@testable import MobileCLIPKit
#if canImport(ImageIO)
import ImageIO
#endif

/// The shared golden fixtures at the repository root (`python -m mobileclip.golden`), the same files the
/// Android core's JUnit tests read.
enum Golden {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../../golden").standardizedFileURL

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: dir.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The preprocessor that `preprocess.json` was made with (its settings and Pillow's resize order).
    static func preprocessor(_ g: [String: Any]) throws -> ImagePreprocessor {
        let cfg = try XCTUnwrap(g["preprocess"] as? [String: Any])
        let pillowMajor = Int(((g["pillow_version"] as? String) ?? "13").split(separator: ".")[0]) ?? 13
        return try ImagePreprocessor(imageSize: try XCTUnwrap(cfg["image_size"] as? Int),
                                     mean: try XCTUnwrap(cfg["mean"] as? [Double]),
                                     std: try XCTUnwrap(cfg["std"] as? [Double]),
                                     layout: (cfg["layout"] as? String) ?? "NCHW",
                                     resizeOrder: pillowMajor >= 13 ? .pillow13 : .legacyHorizontalFirst)
    }

    /// A preprocess.json case's raw RGB fixture (as stored) with its EXIF orientation applied: no decoder needed.
    static func uprightPixels(_ c: [String: Any]) throws -> (rgb: [UInt32], width: Int, height: Int) {
        let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent(try XCTUnwrap(c["rgb"] as? String))))
        let stored = try XCTUnwrap(c["stored_size"] as? [Int])
        var px = [UInt32](repeating: 0, count: stored[0] * stored[1])
        for i in 0..<px.count {
            px[i] = (UInt32(bytes[3 * i]) << 16) | (UInt32(bytes[3 * i + 1]) << 8) | UInt32(bytes[3 * i + 2])
        }
        return ExifOrientation.apply(px, width: stored[0], height: stored[1], orientation: (c["exif_orientation"] as? Int) ?? 1)
    }

    static let tokenizer: ClipTokenizer = {
        try! ClipTokenizer(vocabURL: dir.appendingPathComponent("tokenizer/vocab.json"),
                           mergesURL: dir.appendingPathComponent("tokenizer/merges.txt"))
    }()
}

final class TokenizerGoldenTests: XCTestCase {
    func testEveryGoldenCaptionMatchesPython() throws {
        let cases = try XCTUnwrap(Golden.json("captions.json")["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        var failures: [String] = []
        for c in cases {
            let text = try XCTUnwrap(c["text"] as? String)
            let want = try XCTUnwrap(c["ids"] as? [Int]).map { Int32($0) }
            let got = try Golden.tokenizer.tokenize(text)
            if got != want { failures.append("\(c["name"] ?? "?"): python \(want) swift \(got)") }
        }
        XCTAssert(failures.isEmpty, "\(failures.count) captions differ:\n" + failures.joined(separator: "\n"))
    }

    func testSpecialIds() throws {
        XCTAssertEqual(Golden.tokenizer.sotTokenId, 49406)
        XCTAssertEqual(Golden.tokenizer.eotTokenId, 49407)
        XCTAssertEqual(Array(try Golden.tokenizer.tokenize("a photo of a cat.").prefix(9)),
                       [49406, 320, 1125, 539, 320, 2368, 269, 49407, 0])
    }
}

final class PreprocessGoldenTests: XCTestCase {
    /// Raw decoded RGB fixtures (golden/images/*.rgb, as stored) + the EXIF orientation: runs without ImageIO.
    func testRawRGBFixturesMatchTorchvision() throws {
        let g = try Golden.json("preprocess.json")
        let pre = try Golden.preprocessor(g)
        let tol = try XCTUnwrap(g["tolerance"] as? Double)
        let cases = try XCTUnwrap(g["cases"] as? [[String: Any]])
        XCTAssertTrue(cases.contains { $0["exif_orientation"] != nil }, "the golden EXIF photo is missing")
        for c in cases {
            let o = try Golden.uprightPixels(c)
            XCTAssertEqual(o.width, try XCTUnwrap(c["width"] as? Int))
            let got = pre.preprocess(o.rgb, width: o.width, height: o.height)
            let want = try XCTUnwrap(c["tensor"] as? [Double])
            XCTAssertEqual(got.count, want.count)
            let maxErr = zip(got, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(maxErr, tol, "\(c["name"] ?? "?"): max abs err \(maxErr)")
        }
    }

    /// The app's decoding path (ImageIO + the EXIF orientation property) on the PNG/JPEG files themselves.
    func testGoldenImagesMatchTorchvision() throws {
        #if canImport(ImageIO) && canImport(CoreGraphics)
        let g = try Golden.json("preprocess.json")
        let pre = try Golden.preprocessor(g)
        let tol = try XCTUnwrap(g["tolerance"] as? Double)
        let cases = try XCTUnwrap(g["cases"] as? [[String: Any]])
        for c in cases {
            let url = Golden.dir.appendingPathComponent(try XCTUnwrap(c["file"] as? String))
            let src = try XCTUnwrap(CGImageSourceCreateWithURL(url as CFURL, nil))
            let image = try XCTUnwrap(CGImageSourceCreateImageAtIndex(src, 0, nil))
            let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any]
            let orientation = (props?[kCGImagePropertyOrientation] as? Int) ?? 1
            XCTAssertEqual(orientation, (c["exif_orientation"] as? Int) ?? 1)
            let (rgb, w, h) = try ImagePreprocessor.pixels(of: image)
            let o = ExifOrientation.apply(rgb, width: w, height: h, orientation: orientation)
            let got = pre.preprocess(o.rgb, width: o.width, height: o.height)
            let want = try XCTUnwrap(c["tensor"] as? [Double])
            XCTAssertEqual(got.count, want.count)
            let maxErr = zip(got, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(maxErr, tol, "\(c["name"] ?? "?"): max abs err \(maxErr)")
        }
        #else
        throw XCTSkip("PNG/JPEG decoding needs ImageIO (Apple platforms); testRawRGBFixturesMatchTorchvision covers it")
        #endif
    }

    func testResizedSize() {
        XCTAssertTrue(ImagePreprocessor.resizedSize(width: 96, height: 64, size: 32) == (48, 32))
        XCTAssertTrue(ImagePreprocessor.resizedSize(width: 31, height: 77, size: 32) == (32, 79))
    }
}

final class RankingGoldenTests: XCTestCase {
    func testRankingMatchesPython() throws {
        let g = try Golden.json("ranking.json")
        let tol = try XCTUnwrap(g["tolerance"] as? Double)
        for c in try XCTUnwrap(g["cases"] as? [[String: Any]]) {
            let query = try XCTUnwrap(c["query"] as? [Double]).map { Float($0) }
            let gallery = try XCTUnwrap(c["gallery"] as? [[Double]]).map { $0.map { Float($0) } }
            let k = try XCTUnwrap(c["k"] as? Int)
            let hits = Ranking.topK(query, gallery, k: k, logitScale: try XCTUnwrap(c["logit_scale"] as? Double))
            let order = try XCTUnwrap(c["top_k"] as? [Int])
            let scores = try XCTUnwrap(c["scores"] as? [Double])
            let probs = try XCTUnwrap(c["probabilities"] as? [Double])
            XCTAssertEqual(hits.map(\.index), order, "\(c["name"] ?? "?")")
            for (r, h) in hits.enumerated() {
                XCTAssertEqual(h.score, scores[r], accuracy: tol)
                XCTAssertEqual(h.probability, probs[r], accuracy: tol)
            }
        }
    }
}

final class ManifestTests: XCTestCase {
    func testGoldenSampleManifest() throws {
        let m = try ExportManifest.load(Golden.dir.appendingPathComponent("manifest.json"))
        XCTAssertEqual(m.embedDim, 512)
        XCTAssertEqual(m.preprocess.imageSize, 224)
        XCTAssertEqual(m.tokenizer.contextLength, 77)
        XCTAssertNotNil(m.model(backend: "coreml", tower: "image", quantization: "int8"))
        XCTAssertEqual(m.coreMLQuantizations, ["int8"])
        XCTAssertEqual(m.model(backend: "coreml", tower: "text", quantization: "int8")?.inputs.first?.dtype, "int32")
        XCTAssertTrue(FileManager.default.fileExists(atPath: Golden.dir.appendingPathComponent(m.tokenizer.vocab).path))
    }

    func testBadManifestIsRejected() {
        XCTAssertThrowsError(try ExportManifest.decode(Data("{\"format\": \"x\"}".utf8)))
        XCTAssertThrowsError(try ExportManifest.decode(Data("not json".utf8)))
    }
}

final class LatencyStatsTests: XCTestCase {
    func testPercentiles() {
        let s = LatencyStats()
        for v in [4.0, 1, 3, 2, 10] { s.add(v) }
        XCTAssertEqual(s.mean, 4.0)
        XCTAssertEqual(s.percentile(50), 3.0)
        XCTAssertEqual(s.percentile(90)!, 7.6, accuracy: 1e-12)
    }
}

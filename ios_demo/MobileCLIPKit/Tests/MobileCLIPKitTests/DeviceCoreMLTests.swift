#if canImport(CoreML)
import CoreML
import Foundation
import XCTest
@testable import MobileCLIPKit

/// Core ML on the simulator or a Mac (`xcodebuild test`, docs/phone_testing.md): an export folder named by
/// MOBILECLIP_EXPORT (with xcodebuild: TEST_RUNNER_MOBILECLIP_EXPORT) is opened through the app's ClipSession
/// inside an EncoderSession; every golden caption and golden image gives a finite embedding of the manifest's
/// size, and the CPU-only run agrees with the default compute units (GPU / Neural Engine, fp16) at cosine
/// >= 0.99, and int8 with fp32 at >= the manifest's verified minimum. Skipped, with the reason, without an export.
final class DeviceCoreMLTests: XCTestCase {
    func exportFolder() throws -> URL {
        guard let path = ProcessInfo.processInfo.environment["MOBILECLIP_EXPORT"], !path.isEmpty else {
            throw XCTSkip("MOBILECLIP_EXPORT is not set (an export folder with manifest.json and coreml/)")
        }
        return URL(fileURLWithPath: path)
    }

    func embeddings(_ folder: URL, _ quantization: String, _ units: ComputeUnits) async throws -> [[Float]] {
        let session = try await EncoderSession<ClipSession>.open(name: "\(quantization) \(units.rawValue)") {
            try await ClipSession.open(folder: folder, quantization: quantization, computeUnits: units)
        }
        let captions = try XCTUnwrap(Golden.json("captions.json")["cases"] as? [[String: Any]])
            .compactMap { $0["text"] as? String }
        let images = try XCTUnwrap(Golden.json("preprocess.json")["cases"] as? [[String: Any]])
            .map { try Golden.uprightPixels($0) }
        var out: [[Float]] = []
        for c in captions { out.append(try await session.run { try $0.embedText(c) }) }
        for p in images { out.append(try await session.run { try $0.embedImage(rgb: p.rgb, width: p.width, height: p.height) }) }
        await session.close()
        return out
    }

    static func cosine(_ a: [Float], _ b: [Float]) -> Double { Ranking.cosine(a, [b])[0] }

    func testGoldenInputsOnCoreML() async throws {
        let folder = try exportFolder()
        let m = try ExportManifest.load(folder.appendingPathComponent("manifest.json"))
        let quants = m.coreMLQuantizations
        XCTAssertFalse(quants.isEmpty, "the export has no Core ML towers")
        var cpu: [String: [[Float]]] = [:]
        for q in quants {
            let a = try await embeddings(folder, q, .cpuOnly)
            let b = try await embeddings(folder, q, .all)
            for e in a + b {
                XCTAssertEqual(e.count, m.embedDim)
                XCTAssertTrue(e.allSatisfy(\.isFinite))
            }
            for (x, y) in zip(a, b) { XCTAssertGreaterThanOrEqual(Self.cosine(x, y), 0.99, "\(q): cpuOnly vs all") }
            cpu[q] = a
        }
        if let fp32 = cpu["fp32"], let int8 = cpu["int8"] {
            let floor = m.model(backend: "coreml", tower: "image", quantization: "int8")?.verification?.cosineMin ?? 0.9
            for (x, y) in zip(fp32, int8) { XCTAssertGreaterThanOrEqual(Self.cosine(x, y), min(floor, 0.99) - 0.01) }
        }
    }
}
#endif

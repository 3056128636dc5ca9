import CoreGraphics
import Foundation
import MobileCLIPKit
import SwiftUI
import UIKit

/// Loads the exported Core ML student from the app bundle (folder reference "models" holding manifest.json,
/// tokenizer/ and coreml/*.mlpackage; compiled once into CompiledModelCache) and shares it with every screen
/// through one EncoderSession: all inference runs on that session's queue, one call at a time; a reload
/// closes the old session, which waits for its running call and refuses the work queued behind it.
@MainActor
final class DemoModel: ObservableObject {
    @Published var status = "Loading…"
    @Published private(set) var clip: ClipSession?  // manifest and latency statistics, for display
    @Published private(set) var session: EncoderSession<ClipSession>?
    @Published var computeUnits: ComputeUnits = .all
    @Published var quantization = "int8"
    @Published var quantizations: [String] = []
    private var loading: Task<Void, Never>?

    static var modelsFolder: URL? {
        Bundle.main.url(forResource: "models", withExtension: nil)
    }

    func load() {
        guard let folder = DemoModel.modelsFolder,
              FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) else {
            status = "No models/manifest.json in the app bundle: add the export folder (see README)."
            return
        }
        if let m = try? ExportManifest.load(folder.appendingPathComponent("manifest.json")) {
            quantizations = m.coreMLQuantizations
            if !quantizations.contains(quantization), let q = quantizations.first { quantization = q }
        }
        let units = computeUnits, quant = quantization, old = session
        status = "Loading Core ML models (\(quant), \(units.rawValue))…"
        session = nil
        clip = nil
        loading?.cancel()
        loading = Task {
            await old?.close()  // waits for its running call; the screens see "session closed" for queued work
            let t0 = Date()
            do {
                let s = try await ClipSession.open(folder: folder, quantization: quant, computeUnits: units)
                try? CompiledModelCache.prune(keep: Self.cacheKeys(s.manifest))
                guard !Task.isCancelled else { return }
                let ms = Date().timeIntervalSince(t0) * 1000
                clip = s
                session = EncoderSession(runtime: s, name: "Core ML \(quant)")
                status = String(format: "%@ · coreml %@ · %@ · loaded in %.0f ms",
                                s.manifest.sourceCheckpoint?.modelName ?? "model", quant, units.rawValue, ms)
            } catch {
                status = "Could not load the models: \(error)"
            }
        }
    }

    /// The compiled-model cache keys of every Core ML model in the manifest (the other weights stay compiled).
    private static func cacheKeys(_ m: ExportManifest) -> Set<String> {
        Set(m.models.filter { $0.backend == "coreml" }.map {
            $0.sha256 ?? URL(fileURLWithPath: $0.file).deletingPathExtension().lastPathComponent
        })
    }

    /// The model input size (photos are decoded at `DecodePlan.size` for it).
    var imageSize: Int { clip?.manifest.preprocess.imageSize ?? 224 }
    var embedDim: Int { clip?.manifest.embedDim ?? 0 }

    /// What a saved photo index must match (another model or weights: the library is indexed again).
    var indexFingerprint: String? {
        try? clip?.manifest.indexFingerprint(backend: "coreml", quantization: quantization)
    }
}

extension UIImage {
    /// The EXIF orientation value (1...8) of this image's `imageOrientation`.
    var exifOrientation: Int {
        switch imageOrientation {
        case .up: return 1
        case .upMirrored: return 2
        case .down: return 3
        case .downMirrored: return 4
        case .leftMirrored: return 5
        case .right: return 6
        case .rightMirrored: return 7
        case .left: return 8
        @unknown default: return 1
        }
    }

    /// The displayed size in pixels.
    var pixelSize: (width: Int, height: Int) {
        (Int((size.width * scale).rounded()), Int((size.height * scale).rounded()))
    }

    /// Packed RGB pixels of the photo, upright: the stored bitmap with the orientation applied by ExifOrientation
    /// (the policy shared with Python and Android; exact, no redraw).
    func rgbPixels() throws -> (rgb: [UInt32], width: Int, height: Int) {
        guard let cg = cgImage else { throw MobileCLIPError.badImage("photo has no bitmap") }
        let (rgb, w, h) = try ImagePreprocessor.pixels(of: cg)
        return ExifOrientation.apply(rgb, width: w, height: h, orientation: exifOrientation)
    }

    /// A copy at `target` pixels (from `DecodePlan.size`; never larger than the photo; keeps the orientation).
    func downsampled(to target: (width: Int, height: Int)) -> UIImage {
        let px = pixelSize
        guard target.width < px.width || target.height < px.height else { return self }
        return preparingThumbnail(of: CGSize(width: target.width, height: target.height)) ?? self
    }

    /// The pixels the image tower gets for a photo already in memory (camera, bundled samples): downsampled
    /// to the one decode size (`DecodePlan`), then upright.
    func modelPixels(imageSize: Int) throws -> (rgb: [UInt32], width: Int, height: Int) {
        let px = pixelSize
        let target = try DecodePlan.size(width: px.width, height: px.height, imageSize: imageSize)
        return try downsampled(to: target).rgbPixels()
    }
}

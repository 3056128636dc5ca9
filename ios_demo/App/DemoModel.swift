import CoreGraphics
import Foundation
import MobileCLIPKit
import SwiftUI
import UIKit

/// Loads the exported Core ML student from the app bundle (folder reference "models" holding manifest.json,
/// tokenizer/ and coreml/*.mlpackage; compiled once into a permanent cache) and runs it off the main thread.
@MainActor
final class DemoModel: ObservableObject {
    @Published var status = "Loading…"
    @Published var session: ClipSession?
    @Published var computeUnits: ComputeUnits = .all
    @Published var quantization = "int8"
    @Published var quantizations: [String] = []

    private let queue = DispatchQueue(label: "mobileclip.inference", qos: .userInitiated)

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
        let units = computeUnits, quant = quantization
        status = "Loading Core ML models (\(quant), \(units.rawValue))…"
        session = nil
        Task.detached(priority: .userInitiated) {
            let t0 = Date()
            do {
                // compiles each .mlpackage once into Application Support (CompiledModelCache), then loads it
                let s = try await ClipSession.open(folder: folder, quantization: quant, computeUnits: units)
                let ms = Date().timeIntervalSince(t0) * 1000
                Task { @MainActor in
                    self.session = s
                    self.status = String(format: "%@ · coreml %@ · %@ · loaded in %.0f ms",
                                         s.manifest.sourceCheckpoint?.modelName ?? "model", quant, units.rawValue, ms)
                }
            } catch {
                Task { @MainActor in self.status = "Could not load the models: \(error)" }
            }
        }
    }

    /// Runs `work` with the session on the inference queue and delivers the result on the main actor.
    func run<T>(_ work: @escaping (ClipSession) throws -> T, done: @escaping (Result<T, Error>) -> Void) {
        guard let s = session else {
            done(.failure(MobileCLIPError.runtime("models not loaded")))
            return
        }
        queue.async {
            let r = Result { try work(s) }
            Task { @MainActor in done(r) }
        }
    }
}

extension DemoModel {
    /// The short side photos are decoded at (2x the model input: the bicubic resize then stays Pillow-exact).
    var decodeShortSide: Int { 2 * (session?.manifest.preprocess.imageSize ?? 224) }
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

    /// Packed RGB pixels of the photo, upright: the stored bitmap with the orientation applied by ExifOrientation
    /// (the policy shared with Python and Android; exact, no redraw).
    func rgbPixels() throws -> (rgb: [UInt32], width: Int, height: Int) {
        guard let cg = cgImage else { throw MobileCLIPError.badImage("photo has no bitmap") }
        let (rgb, w, h) = try ImagePreprocessor.pixels(of: cg)
        return ExifOrientation.apply(rgb, width: w, height: h, orientation: exifOrientation)
    }

    /// A copy whose short side is at most `shortSide` pixels (decoded downsampled; keeps the orientation).
    func downsampled(shortSide: Int) -> UIImage {
        let pixelShort = min(size.width, size.height) * scale
        guard pixelShort > CGFloat(shortSide) else { return self }
        let f = CGFloat(shortSide) / pixelShort
        return preparingThumbnail(of: CGSize(width: size.width * scale * f, height: size.height * scale * f)) ?? self
    }
}

import CoreGraphics
import Foundation
import MobileCLIPKit
import SwiftUI
import UIKit

/// Loads the exported Core ML student from the app bundle (folder reference "models" holding manifest.json,
/// tokenizer/ and coreml/*.mlpackage, which Xcode compiles to .mlmodelc) and runs it off the main thread.
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
        queue.async {
            let t0 = Date()
            do {
                let s = try ClipSession(folder: folder, quantization: quant, computeUnits: units)
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

extension UIImage {
    /// Packed RGB pixels of the photo, upright (EXIF orientation applied by redrawing when needed).
    func rgbPixels() throws -> (rgb: [UInt32], width: Int, height: Int) {
        var image = self
        if imageOrientation != .up {
            let renderer = UIGraphicsImageRenderer(size: size, format: {
                let f = UIGraphicsImageRendererFormat()
                f.scale = scale
                return f
            }())
            image = renderer.image { _ in draw(in: CGRect(origin: .zero, size: size)) }
        }
        guard let cg = image.cgImage else { throw MobileCLIPError.badImage("photo has no bitmap") }
        return try ImagePreprocessor.pixels(of: cg)
    }
}

#if canImport(CoreML)
import CoreML
import Foundation

/// Which hardware Core ML may use (`MLModelConfiguration.computeUnits`).
public enum ComputeUnits: String, CaseIterable, Identifiable {
    case all, cpuOnly, cpuAndGPU, cpuAndNeuralEngine

    public var id: String { rawValue }

    public var mlComputeUnits: MLComputeUnits {
        switch self {
        case .all: return .all
        case .cpuOnly: return .cpuOnly
        case .cpuAndGPU: return .cpuAndGPU
        case .cpuAndNeuralEngine: return .cpuAndNeuralEngine
        }
    }
}

/// A thin wrapper over one exported Core ML tower (an `.mlmodelc`: Xcode-compiled, or compiled once into
/// `CompiledModelCache`): batch of 1 in, embedding out, names and shapes from the manifest.
public final class CoreMLEncoder {
    public let model: MLModel
    public let entry: ExportManifest.Model

    public init(compiled: URL, entry: ExportManifest.Model, computeUnits: ComputeUnits) throws {
        let config = MLModelConfiguration()
        config.computeUnits = computeUnits.mlComputeUnits
        self.model = try MLModel(contentsOf: compiled, configuration: config)
        self.entry = entry
    }

    private func run(_ input: MLMultiArray) throws -> [Float] {
        guard let inName = entry.inputs.first?.name, let outName = entry.outputs.first?.name else {
            throw MobileCLIPError.badManifest("model entry without inputs/outputs")
        }
        let provider = try MLDictionaryFeatureProvider(dictionary: [inName: MLFeatureValue(multiArray: input)])
        let result = try model.prediction(from: provider)
        guard let out = result.featureValue(for: outName)?.multiArrayValue else {
            throw MobileCLIPError.runtime("output \(outName) missing")
        }
        return (0..<out.count).map { out[$0].floatValue }
    }

    public func encodeImage(_ tensor: MLMultiArray) throws -> [Float] { try run(tensor) }

    public func encodeText(_ ids: [Int32]) throws -> [Float] {
        let array = try MLMultiArray(shape: [1, NSNumber(value: ids.count)], dataType: .int32)
        for (i, id) in ids.enumerated() { array[i] = NSNumber(value: id) }
        return try run(array)
    }
}

/// An opened export on Core ML: manifest + tokenizer + preprocessing + both towers + latency stats.
public final class ClipSession {
    public let manifest: ExportManifest
    public let tokenizer: ClipTokenizer
    public let preprocessor: ImagePreprocessor
    public let image: CoreMLEncoder
    public let text: CoreMLEncoder
    public let imageLatency = LatencyStats()
    public let textLatency = LatencyStats()
    public let preprocessLatency = LatencyStats()

    /// `folder` holds manifest.json, the tokenizer files and the models (Xcode may have compiled the
    /// .mlpackage files into .mlmodelc next to them; otherwise each is compiled once into CompiledModelCache).
    public static func open(folder: URL, quantization: String, computeUnits: ComputeUnits) async throws -> ClipSession {
        let m = try ExportManifest.load(folder.appendingPathComponent("manifest.json"))
        func compiled(_ tower: String) async throws -> (URL, ExportManifest.Model) {
            guard let e = m.model(backend: "coreml", tower: tower, quantization: quantization) else {
                throw MobileCLIPError.modelNotFound("no coreml \(tower) model (\(quantization)) in the manifest: "
                    + "export it with python -m export.coreml")
            }
            var url = folder.appendingPathComponent(e.file)
            let xcodeCompiled = url.deletingPathExtension().appendingPathExtension("mlmodelc")
            if FileManager.default.fileExists(atPath: xcodeCompiled.path) {
                url = xcodeCompiled
            }
            guard FileManager.default.fileExists(atPath: url.path) else { throw MobileCLIPError.modelNotFound(url.path) }
            return (try await CompiledModelCache.compiled(url, sha256: e.sha256), e)
        }
        let (imageURL, imageEntry) = try await compiled("image")
        let (textURL, textEntry) = try await compiled("text")
        return try ClipSession(manifest: m, folder: folder,
                               image: CoreMLEncoder(compiled: imageURL, entry: imageEntry, computeUnits: computeUnits),
                               text: CoreMLEncoder(compiled: textURL, entry: textEntry, computeUnits: computeUnits))
    }

    init(manifest m: ExportManifest, folder: URL, image: CoreMLEncoder, text: CoreMLEncoder) throws {
        manifest = m
        let t = m.tokenizer
        tokenizer = try ClipTokenizer(vocabURL: folder.appendingPathComponent(t.vocab),
                                      mergesURL: folder.appendingPathComponent(t.merges),
                                      contextLength: t.contextLength)
        preprocessor = try ImagePreprocessor(manifest: m.preprocess)
        self.image = image
        self.text = text
    }

    public func embed(rgb: [UInt32], width: Int, height: Int) throws -> [Float] {
        let (input, _) = try preprocessLatency.time { try preprocessor.multiArray(rgb, width: width, height: height) }
        return try imageLatency.time { try image.encodeImage(input) }.0
    }

    public func embed(text caption: String) throws -> [Float] {
        let ids = try tokenizer.tokenize(caption)
        return try textLatency.time { try text.encodeText(ids) }.0
    }
}

/// The app runs a ClipSession only inside an EncoderSession (one queue; see EncoderSession).
extension ClipSession: EncoderRuntime {
    public func embedImage(rgb: [UInt32], width: Int, height: Int) throws -> [Float] {
        try embed(rgb: rgb, width: width, height: height)
    }

    public func embedText(_ caption: String) throws -> [Float] { try embed(text: caption) }

    /// Core ML has no explicit close: the MLModels are freed with this object, which the EncoderSession drops
    /// right after this call (on its queue, after the running call).
    public func close() {}
}
#endif

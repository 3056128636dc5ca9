import Foundation

/// `manifest.json` of an export folder (format "mobileclip-kd-export", version 1). Paths are relative to it.
public struct ExportManifest: Codable {
    public struct SourceCheckpoint: Codable {
        public let file: String?
        public let sha256: String?
        public let modelName: String?
    }

    public struct Preprocess: Codable {
        public let imageSize: Int
        public let resize: String
        public let interpolation: String
        public let crop: String
        public let mean: [Double]
        public let std: [Double]
        public let channelOrder: String?
        public let layout: String?
        public let scale: Double?
    }

    public struct Tokenizer: Codable {
        public let type: String
        public let vocab: String
        public let merges: String
        public let vocabSize: Int
        public let contextLength: Int
        public let sotTokenId: Int
        public let eotTokenId: Int
        public let padTokenId: Int
        public let lowerCase: Bool?
    }

    public struct TensorSpec: Codable {
        public let name: String
        public let shape: [Int]
        public let dtype: String
    }

    public struct Verification: Codable {
        public let method: String?
        public let cosineMin: Double?
        public let cosineMean: Double?
        public let passed: Bool?
    }

    public struct Model: Codable {
        public let backend: String
        public let tower: String
        public let quantization: String
        public let recipe: String?
        public let file: String
        public let sizeBytes: Int?
        public let sha256: String?
        public let inputs: [TensorSpec]
        public let outputs: [TensorSpec]
        public let verification: Verification?
    }

    public let format: String
    public let formatVersion: Int
    public let createdBy: String?
    public let sourceCheckpoint: SourceCheckpoint?
    public let embedDim: Int
    public let logitScale: Double
    public let preprocess: Preprocess
    public let tokenizer: Tokenizer
    public let models: [Model]

    public static func decode(_ data: Data) throws -> ExportManifest {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let m: ExportManifest
        do {
            m = try decoder.decode(ExportManifest.self, from: data)
        } catch {
            throw MobileCLIPError.badManifest("\(error)")
        }
        guard m.format == "mobileclip-kd-export" else { throw MobileCLIPError.badManifest("format is \(m.format)") }
        guard m.formatVersion == 1 else {
            throw MobileCLIPError.badManifest("format_version \(m.formatVersion) is not supported: update the app")
        }
        return m
    }

    public static func load(_ url: URL) throws -> ExportManifest { try decode(Data(contentsOf: url)) }

    public func model(backend: String, tower: String, quantization: String) -> Model? {
        models.first { $0.backend == backend && $0.tower == tower && $0.quantization == quantization }
    }

    /// What a photo index's embeddings depend on: the image tower (its file's sha256, else its name and size),
    /// the embedding size and the preprocessing. A saved index with another fingerprint is rebuilt.
    public func indexFingerprint(backend: String, quantization: String) throws -> String {
        guard let e = model(backend: backend, tower: "image", quantization: quantization) else {
            throw MobileCLIPError.modelNotFound("no \(backend) image model (\(quantization)) in the manifest")
        }
        let weights = e.sha256 ?? "\(e.file):\(e.sizeBytes.map(String.init) ?? "?")"
        let p = preprocess
        return "\(backend)/\(quantization)/\(weights)/dim\(embedDim)/\(p.imageSize)/\(p.resize)/\(p.interpolation)/"
            + "\(p.crop)/\(p.mean)/\(p.std)"
    }

    /// Quantizations that have both Core ML towers.
    public var coreMLQuantizations: [String] {
        var out: [String] = []
        for m in models where m.backend == "coreml" && !out.contains(m.quantization) {
            if model(backend: "coreml", tower: "image", quantization: m.quantization) != nil,
               model(backend: "coreml", tower: "text", quantization: m.quantization) != nil { out.append(m.quantization) }
        }
        return out
    }
}

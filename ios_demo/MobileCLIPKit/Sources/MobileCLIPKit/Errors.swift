import Foundation

public enum MobileCLIPError: Error, CustomStringConvertible {
    case missingResource(String)
    case badVocabulary(String)
    case badManifest(String)
    case badImage(String)
    case modelNotFound(String)
    case runtime(String)
    case sessionClosed(String)
    case badIndex(String)

    public var description: String {
        switch self {
        case .missingResource(let s): return "missing resource: \(s)"
        case .badVocabulary(let s): return "bad vocabulary: \(s)"
        case .badManifest(let s): return "bad manifest: \(s)"
        case .badImage(let s): return "bad image: \(s)"
        case .modelNotFound(let s): return "model not found: \(s)"
        case .runtime(let s): return "runtime error: \(s)"
        case .sessionClosed(let s): return "session closed: \(s)"
        case .badIndex(let s): return "bad photo index: \(s)"
        }
    }
}

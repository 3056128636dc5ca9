#if canImport(CoreML)
import CoreML
import Foundation

/// Compiled Core ML models in a permanent folder (Core ML's `compileModel(at:)` writes to a temporary one that
/// the system may delete): Application Support/MobileCLIPKit/CompiledModels/<sha256>.mlmodelc, keyed by the
/// manifest's sha256 of the .mlpackage, so each package is compiled once per install, not on every launch.
public enum CompiledModelCache {
    public static func folder() throws -> URL {
        let base = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                               appropriateFor: nil, create: true)
        let dir = base.appendingPathComponent("MobileCLIPKit/CompiledModels", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The compiled model for `package` (an .mlpackage / .mlmodel); an .mlmodelc is returned as is.
    public static func compiled(_ package: URL, sha256: String?) async throws -> URL {
        guard package.pathExtension == "mlpackage" || package.pathExtension == "mlmodel" else { return package }
        let key = sha256 ?? package.deletingPathExtension().lastPathComponent
        let target = try folder().appendingPathComponent("\(key).mlmodelc", isDirectory: true)
        if FileManager.default.fileExists(atPath: target.path) { return target }
        let temporary = try await MLModel.compileModel(at: package)  // async API (the synchronous one is deprecated)
        let part = target.deletingPathExtension().appendingPathExtension("part")
        try? FileManager.default.removeItem(at: part)
        try FileManager.default.moveItem(at: temporary, to: part)  // then one rename: never a half-written cache entry
        do {
            try FileManager.default.moveItem(at: part, to: target)
        } catch where FileManager.default.fileExists(atPath: target.path) {
            try? FileManager.default.removeItem(at: part)  // another load finished first
        }
        return target
    }
}
#endif

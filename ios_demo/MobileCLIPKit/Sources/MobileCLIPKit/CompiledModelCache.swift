#if canImport(CoreML)
import CoreML
import Foundation

/// Compiled Core ML models kept across launches (Core ML's `compileModel(at:)` writes to a temporary folder
/// that the system may delete): Caches/MobileCLIPKit/CompiledModels/<sha256>.mlmodelc, keyed by the
/// manifest's sha256 of the .mlpackage, so each package is compiled once, not on every launch. Caches: not
/// backed up, and the system may purge it (the model is then compiled again). Each load moves its result in
/// through its own temporary name, so two loads never share a half-written folder; entries of other models
/// and leftovers of killed loads are removed (`prune`).
public enum CompiledModelCache {
    public static func folder() throws -> URL {
        let base = try FileManager.default.url(for: .cachesDirectory, in: .userDomainMask,
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
        let part = target.deletingPathExtension().appendingPathExtension("\(UUID().uuidString).part")  // this load's own
        try FileManager.default.moveItem(at: temporary, to: part)  // then one rename: never a half-written cache entry
        do {
            try FileManager.default.moveItem(at: part, to: target)
        } catch where FileManager.default.fileExists(atPath: target.path) {
            try? FileManager.default.removeItem(at: part)  // another load finished first
        }
        return target
    }

    /// Removes compiled models whose key is not in `keep` and `.part` folders older than an hour (a load killed
    /// between its move and its rename). Call with the keys of the manifest in use.
    public static func prune(keep: Set<String>) throws {
        let dir = try folder()
        let fm = FileManager.default
        for name in try fm.contentsOfDirectory(atPath: dir.path) {
            let url = dir.appendingPathComponent(name)
            if name.hasSuffix(".part") {
                let made = (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? Date()
                if Date().timeIntervalSince(made) > 3600 { try? fm.removeItem(at: url) }
            } else if name.hasSuffix(".mlmodelc"), !keep.contains(String(name.dropLast(".mlmodelc".count))) {
                try? fm.removeItem(at: url)
            }
        }
    }
}
#endif

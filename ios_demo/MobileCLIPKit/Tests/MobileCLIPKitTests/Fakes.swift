import Foundation
@testable import MobileCLIPKit

func syntheticEmbedding(seed: UInt64, dim: Int = 512) -> [Float] { SyntheticEmbedding.gaussian(seed: seed, dim: dim) }

/// A stable seed for a photo id (FNV-1a of its UTF-8; Swift's hashValue changes per process).
func seed(_ id: String) -> UInt64 {
    id.utf8.reduce(0xCBF2_9CE4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}

/// A model that must never be entered twice at once nor used after close; optionally blocks inside a call
/// until `gate` is signalled. The image embedding is `syntheticEmbedding(seed: first pixel)`.
final class FakeRuntime: EncoderRuntime {
    private let lock = NSLock()
    private(set) var inFlight = 0, maxInFlight = 0, calls = 0, closes = 0
    private(set) var usedAfterClose = false, closedWhileRunning = false
    var gate: DispatchSemaphore?
    var pause = false
    let entered = DispatchSemaphore(value: 0)
    let dim: Int

    init(dim: Int = 512) { self.dim = dim }

    private func enter() {
        lock.lock()
        if closes > 0 { usedAfterClose = true }
        inFlight += 1
        calls += 1
        maxInFlight = max(maxInFlight, inFlight)
        lock.unlock()
        entered.signal()
    }

    private func leave() {
        lock.lock()
        inFlight -= 1
        lock.unlock()
    }

    func embedImage(rgb: [UInt32], width: Int, height: Int) throws -> [Float] {
        enter()
        defer { leave() }
        gate?.wait()
        if gate == nil && pause { usleep(200) }  // long enough for overlapping calls to show
        return syntheticEmbedding(seed: UInt64(rgb[0]), dim: dim)
    }

    func embedText(_ caption: String) throws -> [Float] {
        enter()
        defer { leave() }
        return syntheticEmbedding(seed: seed(caption) & 0xFF_FFFF, dim: dim)
    }

    func close() {
        lock.lock()
        if inFlight > 0 { closedWhileRunning = true }
        closes += 1
        lock.unlock()
    }
}

/// Photos of given sizes; decoding fills the planned size with the id's own pixel value (`pixel(id)`, unique
/// per id) and records the sizes asked for. `onDecode` runs before each decode (tests cancel from there).
final class FakeSource: PhotoSource {
    private var pixels: [String: UInt32] = [:]
    var sizes: [String: (width: Int, height: Int)] = [:]
    var unreadable: Set<String> = []
    private(set) var decoded: [String: (width: Int, height: Int)] = [:]
    private(set) var largestBuffer = 0
    var onDecode: (PhotoRecord) -> Void = { _ in }

    func size(of photo: PhotoRecord) async throws -> (width: Int, height: Int) {
        if unreadable.contains(photo.id) { throw MobileCLIPError.badImage("unreadable \(photo.id)") }
        return sizes[photo.id] ?? (8, 6)
    }

    func decode(_ photo: PhotoRecord, size: (width: Int, height: Int)) async throws -> DecodedPhoto {
        onDecode(photo)
        decoded[photo.id] = size
        largestBuffer = max(largestBuffer, size.width * size.height)
        let px = [UInt32](repeating: pixel(photo.id), count: size.width * size.height)
        return DecodedPhoto(rgb: px, width: size.width, height: size.height)
    }

    func pixel(_ id: String) -> UInt32 {
        if let p = pixels[id] { return p }
        let p = UInt32(pixels.count + 1)
        pixels[id] = p
        return p
    }

    /// The embedding FakeRuntime gives photo `id`.
    func embedding(_ id: String, dim: Int = 512) -> [Float] { syntheticEmbedding(seed: UInt64(pixel(id)), dim: dim) }
}

/// `n` photos "p0"... with modification time 1000.
func library(_ n: Int, prefix: String = "p", modified: Double = 1000) -> [PhotoRecord] {
    (0..<n).map { PhotoRecord(id: "\(prefix)\($0)", modified: modified) }
}

func tempDir() throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("mckit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

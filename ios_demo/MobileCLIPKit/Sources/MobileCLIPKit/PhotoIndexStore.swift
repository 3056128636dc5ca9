import Foundation
#if canImport(Darwin)
import Darwin
#else
import Glibc
#endif

/// A photo index on disk, replaced atomically: the new file is written next to the old one under a temporary
/// name, flushed, then renamed over it, so a kill at any moment leaves the previous index readable.
///
/// Layout: "MCKIDX01", a little-endian UInt32 header length, the JSON header {fingerprint, dim, ids,
/// modified}, the float32 steps (little-endian), the int8 codes, the 4-bit remainders, "MCKIDEND". A file
/// that does not parse, or belongs to another model, loads as an empty index (the photos are embedded again),
/// with the reason.
public struct PhotoIndexStore {
    public let url: URL
    static let magic = Data("MCKIDX01".utf8), end = Data("MCKIDEND".utf8)

    public init(url: URL) { self.url = url }

    struct Header: Codable {
        let fingerprint: String
        let dim: Int
        let ids: [String]
        let modified: [Double]
    }

    /// The stored index for this model, or an empty one and why (no file yet, another model, unreadable).
    public func load(fingerprint: String, dim: Int) -> (index: PhotoIndex, reused: Bool, note: String) {
        let empty = PhotoIndex(fingerprint: fingerprint, dim: dim)
        guard FileManager.default.fileExists(atPath: url.path) else { return (empty, false, "no saved index") }
        do {
            let stored = try decode(Data(contentsOf: url))
            guard stored.fingerprint == fingerprint, stored.dim == dim else {
                return (empty, false, "the saved index belongs to another model: indexing again")
            }
            return (stored, true, "\(stored.count) photos from the saved index")
        } catch {
            return (empty, false, "the saved index is unreadable (\(error)): indexing again")
        }
    }

    func decode(_ data: Data) throws -> PhotoIndex {
        func bad(_ why: String) -> MobileCLIPError { .badIndex("\(url.lastPathComponent): \(why)") }
        let total = data.count
        guard total >= 20, data.prefix(8) == Self.magic, data.suffix(8) == Self.end else {
            throw bad("not a complete index file")
        }
        let hlen = data.subdata(in: 8..<12).reduce(0) { $0 >> 8 | Int($1) << 24 }
        guard 12 + hlen <= total - 8 else { throw bad("header length \(hlen)") }
        let h = try JSONDecoder().decode(Header.self, from: data.subdata(in: 12..<(12 + hlen)))
        let n = h.ids.count, half = (h.dim + 1) / 2
        guard h.modified.count == n, h.dim > 0, 12 + hlen + n * (4 + h.dim + half) + 8 == total else {
            throw bad("sizes do not add up")
        }
        var at = 12 + hlen
        func take<T>(_ count: Int, _ type: T.Type) -> [T] where T: FixedWidthInteger {
            var out = [T](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { data.copyBytes(to: $0, from: at..<(at + count * MemoryLayout<T>.size)) }
            at += count * MemoryLayout<T>.size
            return out
        }
        let scales = take(n, UInt32.self).map { Float(bitPattern: UInt32(littleEndian: $0)) }
        let codes = take(n * h.dim, Int8.self)
        let remainders = take(n * half, UInt8.self)
        let records = zip(h.ids, h.modified).map { PhotoRecord(id: $0, modified: $1) }
        return try PhotoIndex(fingerprint: h.fingerprint, records: records,
                              embeddings: CompactEmbeddings(dim: h.dim, codes: codes, remainders: remainders, scales: scales))
    }

    func encode(_ index: PhotoIndex) throws -> Data {
        let header = try JSONEncoder().encode(Header(fingerprint: index.fingerprint, dim: index.dim,
                                                     ids: index.records.map(\.id),
                                                     modified: index.records.map(\.modified)))
        let e = index.embeddings
        var out = Self.magic
        out.reserveCapacity(12 + header.count + e.count * e.bytesPerRow + 8)
        out.append(contentsOf: (0..<4).map { UInt8((header.count >> (8 * $0)) & 0xFF) })
        out.append(header)
        e.scales.map { $0.bitPattern.littleEndian }.withUnsafeBytes { out.append(contentsOf: $0) }
        e.codes.withUnsafeBytes { out.append(contentsOf: $0) }
        e.remainders.withUnsafeBytes { out.append(contentsOf: $0) }
        out.append(Self.end)
        return out
    }

    /// Writes `index` atomically. `interruptAfter` (tests) stops after that many bytes of the temporary file,
    /// as a kill would: the temporary file stays behind, the index file is untouched.
    public func save(_ index: PhotoIndex, interruptAfter: Int? = nil) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        removeStaleTemporaries()
        let data = try encode(index)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw MobileCLIPError.badIndex("cannot create \(tmp.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: tmp)
            defer { try? handle.close() }
            if let cut = interruptAfter, cut < data.count {
                try handle.write(contentsOf: data.prefix(cut))
                throw MobileCLIPError.runtime("save interrupted after \(cut) bytes (test)")
            }
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            if interruptAfter == nil { try? FileManager.default.removeItem(at: tmp) }
            throw error
        }
        guard rename(tmp.path, url.path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw MobileCLIPError.badIndex("cannot replace \(url.path): \(why)")
        }
    }

    /// Temporary files of this index left by a killed save.
    public func temporaries() -> [URL] {
        let dir = url.deletingLastPathComponent()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { $0.hasPrefix(".\(url.lastPathComponent).") && $0.hasSuffix(".tmp") }
            .map { dir.appendingPathComponent($0) }
    }

    private func removeStaleTemporaries() {
        for t in temporaries() { try? FileManager.default.removeItem(at: t) }
    }
}

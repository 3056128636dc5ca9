import Foundation

/// A photo as the library lists it: a stable id (PHAsset.localIdentifier, a MediaStore id, a file name) and
/// its modification time (seconds since 1970): a changed time means the photo is embedded again.
public struct PhotoRecord: Codable, Hashable, Sendable {
    public let id: String
    public let modified: Double

    public init(id: String, modified: Double) {
        self.id = id
        self.modified = modified
    }
}

/// One search result: the photo's id (never a position in some other array) and its cosine.
public struct SearchHit: Equatable, Sendable {
    public let id: String
    public let score: Float
}

/// What brings an index up to date with the library: photos to embed (new or changed) and ids to drop
/// (gone or changed).
public struct IndexPlan: Equatable {
    public let add: [PhotoRecord]
    public let remove: Set<String>
    public var isEmpty: Bool { add.isEmpty && remove.isEmpty }
}

/// The embeddings of a photo library, tied to one model by `fingerprint` (ExportManifest.indexFingerprint):
/// ids, modification times and compact int8 embeddings, row by row. A value type: a copy is a consistent
/// snapshot that a search can use while indexing goes on.
public struct PhotoIndex {
    public let fingerprint: String
    public private(set) var records: [PhotoRecord]
    public private(set) var embeddings: CompactEmbeddings

    public init(fingerprint: String, dim: Int) {
        self.fingerprint = fingerprint
        records = []
        embeddings = CompactEmbeddings(dim: dim)
    }

    init(fingerprint: String, records: [PhotoRecord], embeddings: CompactEmbeddings) throws {
        guard records.count == embeddings.count else {
            throw MobileCLIPError.badIndex("\(records.count) photos but \(embeddings.count) embeddings")
        }
        self.fingerprint = fingerprint
        self.records = records
        self.embeddings = embeddings
    }

    public var count: Int { records.count }
    public var dim: Int { embeddings.dim }

    /// The steps from this index to `library` (ids not listed twice; the first listing wins).
    public func plan(for library: [PhotoRecord]) -> IndexPlan {
        var stored: [String: Double] = [:]
        stored.reserveCapacity(records.count)
        for r in records { stored[r.id] = r.modified }
        var seen = Set<String>()
        var add: [PhotoRecord] = []
        var remove = Set<String>()
        for r in library where seen.insert(r.id).inserted {
            switch stored[r.id] {
            case .none: add.append(r)
            case .some(let t) where t != r.modified: add.append(r); remove.insert(r.id)
            default: break
            }
        }
        for r in records where !seen.contains(r.id) { remove.insert(r.id) }
        return IndexPlan(add: add, remove: remove)
    }

    public mutating func remove(_ ids: Set<String>) {
        guard !ids.isEmpty else { return }
        let keep = records.map { !ids.contains($0.id) }
        embeddings.filterRows { keep[$0] }
        records = zip(records, keep).filter { $0.1 }.map { $0.0 }
    }

    /// Appends a photo whose id is not in the index (`plan(for:)` lists changed photos in `remove` too).
    public mutating func add(_ record: PhotoRecord, embedding: [Float]) {
        embeddings.append(embedding)
        records.append(record)
    }

    /// The `k` best photos for a text embedding, by (-cosine, position).
    public func search(_ query: [Float], k: Int) -> [SearchHit] {
        embeddings.topK(query, k: k).map { SearchHit(id: records[$0.row].id, score: $0.score) }
    }

    /// Bytes per photo in memory: the compact row (`CompactEmbeddings.bytesPerRow`), the time and the id (its UTF-8 bytes, plus the
    /// 16-byte String value; ids up to 15 bytes live inside it, longer ones in a heap buffer of 32 bytes of
    /// header and the bytes rounded up to 16).
    public var bytesPerPhoto: Double {
        guard count > 0 else { return 0 }
        let ids = records.reduce(0) { n, r in
            let u = r.id.utf8.count
            return n + 16 + (u <= 15 ? 0 : 32 + (u + 15) / 16 * 16)
        }
        return Double(embeddings.bytesPerRow + MemoryLayout<Double>.size) + Double(ids) / Double(count)
    }
}

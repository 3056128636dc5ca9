import Foundation

/// Decoded pixels of one photo, upright (EXIF orientation applied), packed 0xRRGGBB.
public struct DecodedPhoto {
    public let rgb: [UInt32]
    public let width: Int
    public let height: Int

    public init(rgb: [UInt32], width: Int, height: Int) {
        self.rgb = rgb
        self.width = width
        self.height = height
    }
}

/// Where the indexer gets photos (Photos/ImageIO on iOS, fakes in the tests): the size from the header
/// first, then pixels at the planned size (`DecodePlan`), so no full-size buffer of a huge photo ever exists.
public protocol PhotoSource {
    /// The stored pixel size, from the header (no pixels decoded).
    func size(of photo: PhotoRecord) async throws -> (width: Int, height: Int)
    /// The photo decoded at `size` (the upright photo at that scale).
    func decode(_ photo: PhotoRecord, size: (width: Int, height: Int)) async throws -> DecodedPhoto
}

/// Progress of an index update: `done` of `total` photos to embed, `failed` skipped (unreadable), and the
/// index as it stands (a snapshot: searchable at once).
public struct IndexProgress {
    public let done: Int
    public let total: Int
    public let failed: Int
    public let snapshot: PhotoIndex
    public var text: String { failed == 0 ? "\(done) / \(total)" : "\(done) / \(total) (\(failed) unreadable)" }
}

/// Brings a photo index up to date with the library: removes gone and changed photos, embeds new and changed
/// ones one at a time through the encoder session, reports progress after each, saves after `saveEvery`
/// new photos or a quarter of the index, whichever is more (so a large library is not rewritten every few
/// photos), and at the end. Task cancellation stops it between two photos: the photos done so far are saved
/// and `CancellationError` is thrown.
public struct PhotoIndexer<Runtime: EncoderRuntime> {
    public let session: EncoderSession<Runtime>
    public let source: PhotoSource
    public let imageSize: Int
    public let store: PhotoIndexStore?
    public var saveEvery = 200
    public var maxPixels = DecodePlan.defaultMaxPixels

    public init(session: EncoderSession<Runtime>, source: PhotoSource, imageSize: Int, store: PhotoIndexStore?) {
        self.session = session
        self.source = source
        self.imageSize = imageSize
        self.store = store
    }

    public func update(_ start: PhotoIndex, library: [PhotoRecord],
                       progress: (IndexProgress) -> Void = { _ in }) async throws -> PhotoIndex {
        var index = start
        let plan = index.plan(for: library)
        index.remove(plan.remove)
        var failed = 0, unsaved = plan.remove.isEmpty ? 0 : 1
        progress(IndexProgress(done: 0, total: plan.add.count, failed: 0, snapshot: index))
        do {
            for (n, record) in plan.add.enumerated() {
                try Task.checkCancellation()
                if let e = try await embed(record) {
                    index.add(record, embedding: e)
                    unsaved += 1
                } else {
                    failed += 1
                }
                if unsaved >= max(saveEvery, index.count / 4) { try store?.save(index); unsaved = 0 }
                progress(IndexProgress(done: n + 1, total: plan.add.count, failed: failed, snapshot: index))
            }
        } catch {
            if unsaved > 0 { try? store?.save(index) }  // keep the work done (cancelled, or the model failed)
            throw error
        }
        if unsaved > 0 { try store?.save(index) }
        return index
    }

    /// The photo's embedding; nil when the photo cannot be read (it is tried again on the next update).
    /// Cancellation and a closed session propagate.
    private func embed(_ record: PhotoRecord) async throws -> [Float]? {
        let photo: DecodedPhoto
        do {
            let stored = try await source.size(of: record)
            let size = try DecodePlan.size(width: stored.width, height: stored.height, imageSize: imageSize,
                                           maxPixels: maxPixels)
            photo = try await source.decode(record, size: size)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            return nil
        }
        return try await session.run { try $0.embedImage(rgb: photo.rgb, width: photo.width, height: photo.height) }
    }
}

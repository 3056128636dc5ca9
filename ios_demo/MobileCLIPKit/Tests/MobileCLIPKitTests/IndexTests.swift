import Foundation
import XCTest
@testable import MobileCLIPKit

final class PhotoIndexTests: XCTestCase {
    func indexer(_ source: FakeSource, store: PhotoIndexStore?, rt: FakeRuntime = FakeRuntime()) -> PhotoIndexer<FakeRuntime> {
        PhotoIndexer(session: EncoderSession(runtime: rt), source: source, imageSize: 224, store: store)
    }

    /// Cancelled after 30 of 100 photos: the 30 are saved, and the next update embeds only the other 70.
    func testCancelMidIndexKeepsWorkDoneAndResumes() async throws {
        let dir = try tempDir()
        let store = PhotoIndexStore(url: dir.appendingPathComponent("photos.index"))
        let source = FakeSource()
        let lib = library(100)
        var seen: [String] = []
        let task = Task { () -> PhotoIndex in
            try await indexer(source, store: store).update(PhotoIndex(fingerprint: "m1", dim: 512), library: lib) { p in
                seen.append(p.text)
                if p.done == 30 { withUnsafeCurrentTask { $0?.cancel() } }
            }
        }
        do { _ = try await task.value; XCTFail("not cancelled") } catch is CancellationError {}
        XCTAssertEqual(seen.first, "0 / 100")
        XCTAssertEqual(seen.last, "30 / 100")
        let saved = store.load(fingerprint: "m1", dim: 512)
        XCTAssertTrue(saved.reused)
        XCTAssertEqual(saved.index.records.map(\.id), lib.prefix(30).map(\.id))
        var totals: [Int] = []
        let done = try await indexer(source, store: store).update(saved.index, library: lib) { totals.append($0.total) }
        XCTAssertEqual(Set(totals), [70])
        XCTAssertEqual(done.count, 100)
    }

    /// Search runs on a snapshot while a re-index with a smaller library replaces the index: every hit names a
    /// photo of the snapshot it searched (ids, not positions), so nothing indexes past the end of the new one.
    func testSearchRacingReindexWithSmallerLibrary() async throws {
        let source = FakeSource()
        let big = try await indexer(source, store: nil).update(PhotoIndex(fingerprint: "m", dim: 512), library: library(200))
        let small = Array(library(200).suffix(10)) + library(5, prefix: "new")
        let reindex = Task { try await indexer(source, store: nil).update(big, library: small) }
        let searching = Task { () -> Int in
            var searches = 0
            for i in 0..<60 {
                let snapshot = big  // the index the screen searched (a value: unaffected by the re-index)
                let hits = snapshot.search(source.embedding("p\(i)"), k: 24)
                let ids = Set(snapshot.records.map(\.id))
                XCTAssertTrue(hits.allSatisfy { ids.contains($0.id) })
                XCTAssertEqual(hits.first?.id, "p\(i)")
                searches += 1
                await Task.yield()
            }
            return searches
        }
        let searches = await searching.value
        XCTAssertEqual(searches, 60)
        let now = try await reindex.value
        XCTAssertEqual(now.count, 15)
        let thumbs = Dictionary(uniqueKeysWithValues: now.records.map { ($0.id, $0.modified) })  // the new grid
        let stale = big.search(source.embedding("p3"), k: 24)  // results of a search that started before
        XCTAssertNil(thumbs[stale[0].id], "a removed photo resolves to nothing, not to another photo")
        XCTAssertEqual(now.search(source.embedding("p195"), k: 3).first?.id, "p195")
    }

    /// A kill at any point of a save leaves the previous index readable; the next save clears the leftovers.
    func testKillDuringIndexSave() async throws {
        let dir = try tempDir()
        let store = PhotoIndexStore(url: dir.appendingPathComponent("photos.index"))
        let source = FakeSource()
        let old = try await indexer(source, store: store).update(PhotoIndex(fingerprint: "m", dim: 512), library: library(20))
        let new = try await indexer(source, store: nil).update(old, library: library(35, prefix: "q"))
        let full = try store.encode(new).count
        for cut in [0, 1, 8, 12, full / 2, full - 8, full - 1] {
            XCTAssertThrowsError(try store.save(new, interruptAfter: cut))
            let loaded = store.load(fingerprint: "m", dim: 512)
            XCTAssertTrue(loaded.reused, "cut at \(cut): \(loaded.note)")
            XCTAssertEqual(loaded.index.records, old.records)
            XCTAssertEqual(loaded.index.embeddings.codes, old.embeddings.codes)
            XCTAssertFalse(store.temporaries().isEmpty)
        }
        try store.save(new)
        XCTAssertEqual(store.temporaries(), [])
        let loaded = store.load(fingerprint: "m", dim: 512)
        XCTAssertEqual(loaded.index.records, new.records)
        XCTAssertEqual(loaded.index.embeddings.scales, new.embeddings.scales)
        // a file cut short by other means (disk full, copied half) loads as empty, with the reason
        try Data(try Data(contentsOf: store.url).prefix(full - 3)).write(to: store.url)
        let broken = store.load(fingerprint: "m", dim: 512)
        XCTAssertFalse(broken.reused)
        XCTAssertEqual(broken.index.count, 0)
        XCTAssertTrue(broken.note.contains("unreadable"), broken.note)
    }

    /// Another model (another fingerprint) re-indexes everything; the fingerprint follows the manifest.
    func testModelChangeReindexes() async throws {
        let dir = try tempDir()
        let store = PhotoIndexStore(url: dir.appendingPathComponent("photos.index"))
        let m = try ExportManifest.load(Golden.dir.appendingPathComponent("manifest.json"))
        let f1 = try m.indexFingerprint(backend: "coreml", quantization: "int8")
        XCTAssertNotEqual(f1, try m.indexFingerprint(backend: "tflite", quantization: "int8"))
        XCTAssertThrowsError(try m.indexFingerprint(backend: "coreml", quantization: "fp32"))
        let source = FakeSource()
        _ = try await indexer(source, store: store).update(PhotoIndex(fingerprint: f1, dim: 512), library: library(12))
        XCTAssertTrue(store.load(fingerprint: f1, dim: m.embedDim).reused)
        let other = store.load(fingerprint: f1 + "-other-weights", dim: m.embedDim)
        XCTAssertFalse(other.reused)
        XCTAssertTrue(other.note.contains("another model"), other.note)
        var total = -1
        let rebuilt = try await indexer(source, store: store).update(other.index, library: library(12)) { total = $0.total }
        XCTAssertEqual(total, 12)
        XCTAssertEqual(store.load(fingerprint: rebuilt.fingerprint, dim: 512).index.count, 12)
    }

    /// Added, removed and changed photos (by id + modification time) are the only ones touched.
    func testIncrementalPlan() async throws {
        let source = FakeSource()
        let idx = try await indexer(source, store: nil).update(PhotoIndex(fingerprint: "m", dim: 512), library: library(10))
        var lib = library(10)
        lib[3] = PhotoRecord(id: "p3", modified: 2000)  // edited
        lib.remove(at: 7)  // deleted
        lib.append(PhotoRecord(id: "x", modified: 5))  // new
        let plan = idx.plan(for: lib + [lib[0]])  // listed twice: once
        XCTAssertEqual(plan.add, [PhotoRecord(id: "p3", modified: 2000), PhotoRecord(id: "x", modified: 5)])
        XCTAssertEqual(plan.remove, ["p3", "p7"])
        XCTAssertTrue(idx.plan(for: library(10)).isEmpty)
    }

    /// A panorama is decoded with its short side at 2x the model input (bounded long side); a photo that cannot
    /// fit the pixel budget is skipped before any decode; unreadable photos are counted, not fatal.
    func testPanoramaDecodeBounds() async throws {
        XCTAssertTrue(try DecodePlan.size(width: 20000, height: 3000, imageSize: 224) == (2987, 448))
        XCTAssertTrue(try DecodePlan.size(width: 300, height: 200, imageSize: 224) == (300, 200))  // never upscaled
        XCTAssertTrue(try DecodePlan.size(width: 4032, height: 3024, imageSize: 256) == (683, 512))
        XCTAssertThrowsError(try DecodePlan.size(width: 200_000, height: 300, imageSize: 224))
        XCTAssertThrowsError(try DecodePlan.size(width: 0, height: 10, imageSize: 224))
        let capped = try DecodePlan.size(width: 60000, height: 20000, imageSize: 224, maxPixels: 1_000_000)
        XCTAssertLessThanOrEqual(capped.width * capped.height, 1_000_000)
        let source = FakeSource()
        source.sizes = ["pano": (20000, 3000), "strip": (200_000, 300), "tall": (3000, 40000)]
        source.unreadable = ["broken"]
        let lib = ["pano", "strip", "tall", "broken", "ok"].map { PhotoRecord(id: $0, modified: 1) }
        var last: IndexProgress?
        let idx = try await indexer(source, store: nil).update(PhotoIndex(fingerprint: "m", dim: 512), library: lib) { last = $0 }
        XCTAssertEqual(Set(idx.records.map(\.id)), ["pano", "tall", "ok"])
        XCTAssertEqual(last?.text, "5 / 5 (2 unreadable)")
        XCTAssertTrue(source.decoded["pano"]! == (2987, 448))
        XCTAssertTrue(source.decoded["tall"]! == (448, 5973))
        XCTAssertNil(source.decoded["strip"], "the strip was decoded although it cannot fit")
        XCTAssertLessThanOrEqual(source.largestBuffer, DecodePlan.defaultMaxPixels)
    }
}

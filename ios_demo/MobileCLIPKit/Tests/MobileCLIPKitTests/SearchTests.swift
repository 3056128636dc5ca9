import Foundation
import XCTest
@testable import MobileCLIPKit

final class SearchTests: XCTestCase {
    /// 10,000 synthetic photos indexed through the session, saved, loaded and searched; an update touches only
    /// the changed photos; memory per photo stays under 1 KiB.
    func testTenThousandPhotos() async throws {
        let dir = try tempDir()
        let store = PhotoIndexStore(url: dir.appendingPathComponent("photos.index"))
        let source = FakeSource()
        let rt = FakeRuntime()
        let indexer = PhotoIndexer(session: EncoderSession(runtime: rt), source: source, imageSize: 224, store: store)
        let ids = (0..<10_000).map { "ABCDEF01-2345-6789-ABCD-EF0123456789/L0/\(String(format: "%05d", $0))" }
        let lib = ids.map { PhotoRecord(id: $0, modified: 1) }
        var updates = 0
        let built = try await indexer.update(PhotoIndex(fingerprint: "m", dim: 512), library: lib) { _ in updates += 1 }
        XCTAssertEqual(built.count, 10_000)
        XCTAssertEqual(updates, 10_001)
        XCTAssertEqual(rt.maxInFlight, 1)
        let loaded = store.load(fingerprint: "m", dim: 512)
        XCTAssertTrue(loaded.reused)
        XCTAssertEqual(loaded.index.count, 10_000)
        for i in stride(from: 0, to: 10_000, by: 997) {
            let hits = loaded.index.search(source.embedding(ids[i]), k: 10)
            XCTAssertEqual(hits.count, 10)
            XCTAssertEqual(hits[0].id, ids[i])
            XCTAssertGreaterThan(hits[0].score, 0.99)
            XCTAssertTrue(zip(hits, hits.dropFirst()).allSatisfy { $0.score >= $1.score })
        }
        XCTAssertLessThanOrEqual(loaded.index.bytesPerPhoto, 1024)
        var changed = lib
        for i in 0..<100 { changed[i * 50] = PhotoRecord(id: ids[i * 50], modified: 2) }
        changed.removeLast(50)
        changed += (0..<30).map { PhotoRecord(id: "new\($0)", modified: 1) }
        let calls = rt.calls
        let updated = try await indexer.update(loaded.index, library: changed)
        XCTAssertEqual(rt.calls - calls, 130, "only the changed and new photos are embedded again")
        XCTAssertEqual(updated.count, 9_980)
        XCTAssertEqual(store.load(fingerprint: "m", dim: 512).index.count, 9_980)
    }

    /// int8 storage: the top-10 agrees with exact fp32 cosine search (mean overlap >= 0.99) on iid Gaussian
    /// embeddings (the hardest case: no structure, dense near-ties), for queries near a photo (a caption near
    /// its photo) and for unrelated ones; the best match scores as itself.
    func testCompactTop10AgreesWithExactFp32() {
        let dim = 512, n = 3_000
        let rows = (0..<n).map { syntheticEmbedding(seed: UInt64($0), dim: dim) }
        let unit = rows.map { r -> [Float] in
            let s = r.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return r.map { $0 / s }
        }
        var store = CompactEmbeddings(dim: dim)
        rows.forEach { store.append($0) }
        var overlap = 0.0
        let queries = 30
        for qi in 0..<queries {
            let noise = syntheticEmbedding(seed: UInt64(1_000_000 + qi), dim: dim)
            let q = qi % 3 == 0 ? noise : zip(rows[(qi * 131) % n], noise).map { $0 + Float(qi % 3) * $1 }
            let dots = unit.map { u in zip(u, q).reduce(Float(0)) { $0 + $1.0 * $1.1 } }
            let want = Set(dots.indices.sorted { dots[$0] > dots[$1] }.prefix(10))
            overlap += Double(Set(store.topK(q, k: 10).map(\.row)).intersection(want).count) / 10
        }
        XCTAssertGreaterThanOrEqual(overlap / Double(queries), 0.99)
        XCTAssertEqual(store.topK(rows[7], k: 1)[0].row, 7)
        XCTAssertEqual(Double(store.topK(rows[7], k: 1)[0].score), 1.0, accuracy: 0.001)
        let back = store.vector(7)
        XCTAssertLessThan(zip(back, unit[7]).map { abs($0 - $1) }.max()!, 0.0003)
        XCTAssertEqual(store.topK([Float](repeating: 0, count: dim), k: 3).map(\.row), [0, 1, 2])  // no NaN
    }

    func testCompactSearchMatchesGoldenRankingOrder() throws {
        let cases = try XCTUnwrap(Golden.json("ranking.json")["cases"] as? [[String: Any]])
        for c in cases {
            let q = try XCTUnwrap(c["query"] as? [Double]).map(Float.init)
            let g = try XCTUnwrap(c["gallery"] as? [[Double]]).map { $0.map(Float.init) }
            let k = try XCTUnwrap(c["k"] as? Int)
            var store = CompactEmbeddings(dim: q.count)
            g.forEach { store.append($0) }
            let exact = Ranking.topK(q, g, k: k)
            let got = store.topK(q, k: k)
            for (a, b) in zip(exact, got) { XCTAssertEqual(Double(b.score), a.score, accuracy: 0.02) }
        }
    }
}

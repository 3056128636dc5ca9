// Desktop benchmark of the photo search (not a test): top-10 latency over 10k / 100k / 300k stored
// embeddings on one thread, memory per photo, and top-10 agreement with exact fp32 search.
// Run: python tests/swift_toolchain.py bench   (= swift run -c release mobileclip-search-bench [dim])
import Foundation
import MobileCLIPKit
#if canImport(Glibc)
import Glibc
#endif

func gaussian(seed: UInt64, dim: Int) -> [Float] { SyntheticEmbedding.gaussian(seed: seed, dim: dim) }

func unit(_ v: [Float]) -> [Float] {
    var s: Float = 0
    for x in v { s += x * x }
    let n = s.squareRoot()
    return v.map { $0 / n }
}

func residentBytes() -> Int? {
    guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = Int(s.split(separator: " ")[1]) else { return nil }
    return pages * 4096
}

/// CPU time of this thread (ms): what one core spends, unaffected by other processes sharing the machine.
func threadCPUms() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
}

/// (wall ms, thread CPU ms) of `f`.
func ms(_ f: () -> Void) -> (wall: Double, cpu: Double) {
    let c0 = threadCPUms(), t0 = DispatchTime.now().uptimeNanoseconds
    f()
    return (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6, threadCPUms() - c0)
}

func cpuModel() -> String {
    let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
    return info.split(separator: "\n").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespaces) } ?? "?"
}

let dim = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 512 : 512
print("dim \(dim), 1 thread, int8 codes + 4-bit remainders + float step per photo, 100 candidates re-ranked")
print("cpu: \(cpuModel())")
print("photos  |  median ms (wall / thread CPU)  |  p90 ms (wall / thread CPU)  |  bytes/photo (computed)  |  bytes/photo (RSS delta)  |  top-10 agreement")
for n in [10_000, 100_000, 300_000] {
    let rss0 = residentBytes()
    var index = PhotoIndex(fingerprint: "bench", dim: dim)
    let keepExact = n == 100_000
    var exact: [[Float]] = []
    for i in 0..<n {
        let v = gaussian(seed: UInt64(i), dim: dim)
        // ids shaped like PHAsset.localIdentifier (36 + "/L0/001")
        let id = String(format: "%08X-0000-4000-8000-%012X/L0/001", i, i)
        index.add(PhotoRecord(id: id, modified: 1), embedding: v)
    }
    var rss: Double?  // before the fp32 reference rows exist
    if let r0 = rss0, let r1 = residentBytes() { rss = Double(r1 - r0) / Double(n) }
    if keepExact { exact = (0..<n).map { unit(gaussian(seed: UInt64($0), dim: dim)) } }
    var queries: [[Float]] = []
    for q in 0..<41 {  // unrelated queries, and queries near a photo (a caption near its photo)
        let noise: [Float] = gaussian(seed: UInt64(10_000_000 + q), dim: dim)
        if q % 2 == 0 {
            queries.append(noise)
        } else {
            let photo: [Float] = gaussian(seed: UInt64(q * 7919 % n), dim: dim)
            var v = [Float](repeating: 0, count: dim)
            for d in 0..<dim { v[d] = photo[d] + noise[d] }
            queries.append(v)
        }
    }
    var times: [Double] = [], cpu: [Double] = []
    var agree = 0.0
    for q in queries {
        var hits: [SearchHit] = []
        let t = ms { hits = index.search(q, k: 10) }
        times.append(t.wall)
        cpu.append(t.cpu)
        if keepExact {
            let u = unit(q)
            var best: [(Int, Float)] = []
            for (r, e) in exact.enumerated() {
                var s: Float = 0
                for d in 0..<dim { s += e[d] * u[d] }
                if best.count < 10 || s > best[9].1 {
                    best.append((r, s))
                    best.sort { $0.1 > $1.1 }
                    if best.count > 10 { best.removeLast() }
                }
            }
            let want: Set<String> = Set(best.map { index.records[$0.0].id })
            let got: Set<String> = Set(hits.map { $0.id })
            agree += Double(got.intersection(want).count) / 10
        }
    }
    times.sort()
    cpu.sort()
    let median = String(format: "%.2f / %.2f", times[times.count / 2], cpu[cpu.count / 2])
    let p90 = String(format: "%.2f / %.2f", times[times.count * 9 / 10], cpu[cpu.count * 9 / 10])
    let rssText: String = rss.map { String(format: "%.0f", $0) } ?? "n/a"
    let agreeText: String = keepExact ? String(format: "%.3f (%d queries)", agree / Double(queries.count), queries.count) : "-"
    let cols: [String] = [String(n), median, p90,
                          String(format: "%.0f", index.bytesPerPhoto), rssText, agreeText]
    print(cols.joined(separator: "  |  "))
    exact = []
}

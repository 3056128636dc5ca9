import Foundation

/// Unit-normalised embeddings in `dim * 1.5 + 4` bytes a row: int8 codes `round(x / step)` with one float
/// `step` per row, plus the remainder `x - code * step` in 4 bits (two a byte). A search scans the int8 codes
/// with the query quantised to int16 (integer dot products: exact, vectorised), keeps the best `candidates`
/// rows, and ranks those by the finer codes+remainders (about 12-bit precision): top-10 as exact fp32 search
/// but for near-ties. A value type: a copy is a consistent snapshot.
public struct CompactEmbeddings {
    public let dim: Int
    public private(set) var codes: [Int8]
    public private(set) var remainders: [UInt8]  // (dim + 1) / 2 a row, low nibble first, value -8...7
    public private(set) var scales: [Float]
    /// Rows re-ranked with the remainders (at least k).
    public var candidates = 100

    public init(dim: Int) {
        precondition(dim > 0, "embedding size must be positive")
        self.dim = dim
        codes = []
        remainders = []
        scales = []
    }

    init(dim: Int, codes: [Int8], remainders: [UInt8], scales: [Float]) throws {
        guard dim > 0, codes.count == dim * scales.count, remainders.count == (dim + 1) / 2 * scales.count else {
            throw MobileCLIPError.badIndex("\(codes.count) codes, \(remainders.count) remainders for \(scales.count) rows of \(dim)")
        }
        self.dim = dim
        self.codes = codes
        self.remainders = remainders
        self.scales = scales
    }

    public var count: Int { scales.count }
    var half: Int { (dim + 1) / 2 }

    /// Bytes one row takes in memory (codes, remainders, step).
    public var bytesPerRow: Int { dim + half + MemoryLayout<Float>.size }

    /// `v / |v|` as int8 codes `round(x / step)` with `step = max|x| / 127`, and 4-bit remainders
    /// `round(15 * (x / step - code))` in -8...7 (zero vector: all 0).
    static func quantize(_ v: [Float]) -> (codes: [Int8], remainders: [UInt8], step: Float) {
        let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let peak = v.reduce(Float(0)) { max($0, abs($1)) }
        var rem = [UInt8](repeating: 0, count: (v.count + 1) / 2)
        guard norm > 0, peak > 0, norm.isFinite else { return ([Int8](repeating: 0, count: v.count), rem, 0) }
        let step = Double(peak) / norm / 127
        var codes = [Int8](repeating: 0, count: v.count)
        for (i, x) in v.enumerated() {
            let u = Double(x) / norm / step
            let c = u.rounded()
            codes[i] = Int8(c)
            let r = UInt8(bitPattern: Int8(max(-8, min(7, ((u - c) * 15).rounded())))) & 0x0F
            rem[i / 2] |= i % 2 == 0 ? r : r << 4
        }
        return (codes, rem, Float(step))
    }

    public mutating func append(_ v: [Float]) {
        precondition(v.count == dim, "embedding of \(v.count) values in a \(dim)-value index")
        let q = Self.quantize(v)
        codes += q.codes
        remainders += q.remainders
        scales.append(q.step)
    }

    /// Keeps only the rows whose `keep(row)` is true, in order.
    public mutating func filterRows(_ keep: (Int) -> Bool) {
        var c: [Int8] = [], r: [UInt8] = [], s: [Float] = []
        c.reserveCapacity(codes.count)
        for row in 0..<count where keep(row) {
            c += codes[(row * dim)..<((row + 1) * dim)]
            r += remainders[(row * half)..<((row + 1) * half)]
            s.append(scales[row])
        }
        codes = c
        remainders = r
        scales = s
    }

    /// The stored unit vector of row `r` (codes + remainders, dequantised).
    public func vector(_ r: Int) -> [Float] {
        (0..<dim).map { i in
            let nib = Int8(bitPattern: (remainders[r * half + i / 2] >> (i % 2 == 0 ? 0 : 4)) << 4) >> 4
            return (Float(codes[r * dim + i]) + Float(nib) / 15) * scales[r]
        }
    }

    /// The `k` rows of highest cosine with `query`, ordered by (-cosine, row).
    public func topK(_ query: [Float], k: Int) -> [(row: Int, score: Float)] {
        precondition(query.count == dim, "query of \(query.count) values for a \(dim)-value index")
        guard k > 0, count > 0 else { return [] }
        let norm = query.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let peak = Double(query.reduce(Float(0)) { max($0, abs($1)) })
        guard norm > 0, peak > 0 else { return (0..<min(k, count)).map { ($0, 0) } }
        let qMax = Double(min(16383, Int(Int32.max) / (127 * dim)))  // sum of |q| * |code| stays inside Int32
        let qScale = peak / qMax
        let q16 = query.map { Int16((Double($0) / qScale).rounded()) }
        let factor = Float(qScale / norm)
        var coarse = TopK(k: max(k, candidates))
        codes.withUnsafeBufferPointer { c in
            q16.withUnsafeBufferPointer { q in
                for r in 0..<count {
                    let dot = Self.dot(c.baseAddress! + r * dim, q.baseAddress!, dim)
                    coarse.offer(row: r, score: Float(dot) * scales[r] * factor)
                }
            }
        }
        let unit = query.map { Float(Double($0) / norm) }
        var fine = TopK(k: k)
        for cand in coarse.sorted {
            let v = vector(cand.row)
            var s: Float = 0
            for i in 0..<dim { s += v[i] * unit[i] }
            fine.offer(row: cand.row, score: s)
        }
        return fine.sorted
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int16>, _ n: Int) -> Int32 {
        var acc: Int32 = 0
        for i in 0..<n { acc &+= Int32(a[i]) &* Int32(b[i]) }
        return acc
    }
}

/// The best `k` (row, score) pairs seen so far, by (-score, row).
struct TopK {
    let k: Int
    private(set) var items: [(row: Int, score: Float)] = []

    init(k: Int) {
        self.k = k
        items.reserveCapacity(k + 1)
    }

    private static func before(_ a: (row: Int, score: Float), _ b: (row: Int, score: Float)) -> Bool {
        a.score != b.score ? a.score > b.score : a.row < b.row
    }

    @inline(__always)
    mutating func offer(row: Int, score: Float) {
        if items.count == k, let last = items.last, !Self.before((row, score), last) { return }
        var i = items.count
        while i > 0 && Self.before((row, score), items[i - 1]) { i -= 1 }
        items.insert((row, score), at: i)
        if items.count > k { items.removeLast() }
    }

    var sorted: [(row: Int, score: Float)] { items }
}

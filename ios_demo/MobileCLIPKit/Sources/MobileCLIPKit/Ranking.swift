import Foundation

/// Cosine ranking: top-k ordered by (-cosine, index), softmax(logit_scale * cosine) over the whole gallery.
public enum Ranking {
    public struct Hit: Equatable {
        public let index: Int
        public let score: Double
        public let probability: Double
    }

    public static func cosine(_ query: [Float], _ gallery: [[Float]]) -> [Double] {
        func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }
        let qn = norm(query)
        return gallery.map { g in
            precondition(g.count == query.count, "embedding sizes differ")
            let gn = norm(g)
            if gn == 0 || qn == 0 { return 0 }
            var dot = 0.0
            for d in 0..<g.count { dot += (Double(query[d]) / qn) * (Double(g[d]) / gn) }
            return dot
        }
    }

    public static func topK(_ query: [Float], _ gallery: [[Float]], k: Int, logitScale: Double = 100) -> [Hit] {
        let s = cosine(query, gallery)
        let maxLogit = s.map { logitScale * $0 }.max() ?? 0
        let e = s.map { exp(logitScale * $0 - maxLogit) }
        let z = e.reduce(0, +)
        let order = s.indices.sorted { a, b in s[a] != s[b] ? s[a] > s[b] : a < b }
        return order.prefix(k).map { Hit(index: $0, score: s[$0], probability: e[$0] / z) }
    }
}

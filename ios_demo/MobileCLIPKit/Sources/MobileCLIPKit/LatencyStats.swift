import Foundation

/// Latency samples (milliseconds) with mean / median / p90 (numpy's linear interpolation) / min / max.
public final class LatencyStats {
    public private(set) var samples: [Double] = []

    public init() {}

    public func add(_ ms: Double) { samples.append(ms) }

    /// Runs `body`, records and returns its wall time in ms along with its result.
    @discardableResult
    public func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = try body()
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        add(ms)
        return (r, ms)
    }

    public var count: Int { samples.count }
    public var last: Double? { samples.last }
    public var mean: Double? { samples.isEmpty ? nil : samples.reduce(0, +) / Double(samples.count) }

    public func percentile(_ q: Double) -> Double? {
        guard !samples.isEmpty else { return nil }
        let s = samples.sorted()
        let pos = q / 100 * Double(s.count - 1)
        let lo = Int(pos.rounded(.down)), hi = Int(pos.rounded(.up))
        return s[lo] + (s[hi] - s[lo]) * (pos - Double(lo))
    }

    public var summary: String {
        guard let m = mean, let med = percentile(50), let p90 = percentile(90) else { return "n=0" }
        return String(format: "n=%d mean=%.2f ms median=%.2f p90=%.2f", count, m, med, p90)
    }
}

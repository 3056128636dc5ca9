import Foundation

/// Deterministic stand-ins for image embeddings (the tests' fake runtime and the search benchmark): iid,
/// approximately normal values from SplitMix64 (sum of four uniforms), the hardest case for compact search
/// (no structure, dense near-ties). Not used by the app.
public enum SyntheticEmbedding {
    public static func gaussian(seed: UInt64, dim: Int) -> [Float] {
        var s = seed &+ 0x9E37_79B9_7F4A_7C15
        func next() -> Double {
            s = s &+ 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        return (0..<dim).map { _ in Float((next() + next() + next() + next() - 2) * 1.7) }
    }
}

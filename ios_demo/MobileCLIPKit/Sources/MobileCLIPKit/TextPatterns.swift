import Foundation

/// The text patterns the tokenizer implements, in one place, spelled portably: Unicode properties only, no
/// flags, no shorthand classes such as backslash-w/d/s/b (their meaning differs between the desktop JVM, ICU
/// and Python).
/// The Swift code runs hand-written scanners for them (`ClipTokenizer.preTokenize`, `TextCleaner.removeAnsi`);
/// `swift test` (PatternTests) runs these exact strings with NSRegularExpression — ICU, the engine of iOS,
/// of Foundation on Linux and of Android's `java.util.regex` — and checks the scanners cut the same pieces.
public enum TextPatterns {
    /// open_clip's CLIP pre-tokenizer. Its shorthand whitespace class becomes the Unicode White_Space property
    /// (spelled with Java's `Is` prefix, which ICU accepts too). open_clip compiles it with IGNORECASE; on the
    /// lower-cased text that changes two things, spelled out here as in the Java core's `Patterns`: U+017F (long
    /// s) matches `s`, and U+0345 (whose case variants are Greek iota, a letter) is matched by no branch.
    public static let preTokenizer =
        "<[s\\u017F]tart_of_text>|<end_of_text>|'[s\\u017F]|'t|'re|'ve|'m|'ll|'d"
        + "|[\\p{L}]+|[\\p{N}]|[^\\p{IsWhite_Space}\\p{L}\\p{N}\\u0345]+"

    /// ftfy's ANSI escape sequence; Python's Unicode digit class becomes `\p{Nd}` (decimal digits of any script).
    public static let ansi = "\u{1B}\\[((?:\\p{Nd}|;)*)([a-zA-Z])"

    /// Every pattern, by name (what the tests and the source scan iterate over).
    public static let all: [String: String] = ["preTokenizer": preTokenizer, "ansi": ansi]
}

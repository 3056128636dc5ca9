import Foundation
import XCTest
@testable import MobileCLIPKit

/// Every pattern of `TextPatterns`, run by NSRegularExpression (ICU: the engine of iOS, of Foundation on Linux
/// and of Android's java.util.regex), against the scanners the tokenizer really runs.
final class PatternTests: XCTestCase {
    static func regex(_ pattern: String) throws -> NSRegularExpression {
        try NSRegularExpression(pattern: pattern, options: [])
    }

    static func icuPieces(_ pattern: String, _ text: String) throws -> [String] {
        let ns = text as NSString
        return try regex(pattern).matches(in: text, range: NSRange(location: 0, length: ns.length))
            .map { ns.substring(with: $0.range) }
    }

    /// Texts that separate portable spellings from ASCII-only or flag-dependent ones: no-break and ideographic
    /// spaces, digits of other scripts, letters with marks, CJK, emoji, contractions, the specials.
    static let extra = [
        "a\u{00A0}b\u{3000}c\u{2009}d", "٣٤ apples ١٢", "x\u{0301}y déjà vu", "東京タワー 2024年",
        "it's we'll they'd I'M", "<start_of_text>hi<end_of_text>", "emoji 🐈‍⬛ and !!?? …", "tab\tnew\nline",
        "ñandú ΟΔΟΣ straße", "it'\u{017F} <\u{017F}tart_of_text> a\u{0345}b !\u{0345}? \u{017F}", "\u{1B}[31mred\u{1B}[0m", "x\u{1B}[٣;4mz", "\u{1B}[12", "\u{1B}[1;2;3Zq",
    ]

    func captions() throws -> [String] {
        let cases = try XCTUnwrap(Golden.json("captions.json")["cases"] as? [[String: Any]])
        return try cases.map { try XCTUnwrap($0["text"] as? String) } + Self.extra
    }

    func testPreTokenizerScannerEqualsICURegex() throws {
        let cleaner = try TextCleaner.bundled()
        var checked = 0
        for text in try captions() {
            for t in [cleaner.clean(text), text] {  // the cleaned text it sees, and raw text (harder)
                let scanned = ClipTokenizer.preTokenize(Array(t.unicodeScalars)).map { String(String.UnicodeScalarView($0)) }
                XCTAssertEqual(scanned, try Self.icuPieces(TextPatterns.preTokenizer, t), "text: \(t.debugDescription)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 40)
    }

    func testAnsiScannerEqualsICURegex() throws {
        let cleaner = try TextCleaner.bundled()
        let re = try Self.regex(TextPatterns.ansi)
        for text in try captions() {
            let ns = text as NSString
            let want = re.stringByReplacingMatches(in: text, range: NSRange(location: 0, length: ns.length),
                                                   withTemplate: "")
            let got = String(String.UnicodeScalarView(cleaner.removeAnsi(Array(text.unicodeScalars))))
            XCTAssertEqual(got, want, "text: \(text.debugDescription)")
        }
        // the Unicode digit class is what ftfy (Python's Unicode digits) removes: Arabic-Indic digits too
        XCTAssertEqual(String(String.UnicodeScalarView(cleaner.removeAnsi(Array("x\u{1B}[٣;4mz".unicodeScalars)))), "xz")
    }

    func testEveryPatternCompilesInICUAndIsPortable() throws {
        let shorthand = try Self.regex("\\\\[wdsbWDSB]|\\(\\?[a-zA-Z]*U")  // a backslash class or an inline (?U)
        for (name, pattern) in TextPatterns.all {
            XCTAssertNoThrow(try Self.regex(pattern), name)
            let ns = pattern as NSString
            XCTAssertNil(shorthand.firstMatch(in: pattern, range: NSRange(location: 0, length: ns.length)),
                         "\(name) uses a non-portable class: \(pattern)")
        }
        XCTAssertNotNil(shorthand.firstMatch(in: "a\\sb", range: NSRange(location: 0, length: 4)))  // the check bites; regex-scan: allow
    }
}

final class TokenizerErrorTests: XCTestCase {
    func tinyTokenizer() throws -> ClipTokenizer {
        let vocab = #"{"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}"#
        return try ClipTokenizer(vocabJSON: Data(vocab.utf8), mergesText: "#version: 0.2\n",
                                 cleaner: TextCleaner.bundled(), contextLength: 8)
    }

    func testKnownPieceEncodes() throws {
        XCTAssertEqual(try tinyTokenizer().tokenize("A"), [0, 2, 1, 0, 0, 0, 0, 0])
    }

    /// An unknown BPE piece is an error (as in the Java core), never a silently dropped word.
    func testUnknownPieceThrows() throws {
        XCTAssertThrowsError(try tinyTokenizer().tokenize("a b")) { error in
            XCTAssertTrue("\(error)".contains("BPE piece not in vocab.json: b</w>"), "\(error)")
        }
    }
}

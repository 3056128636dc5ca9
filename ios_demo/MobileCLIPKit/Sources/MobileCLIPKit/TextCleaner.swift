import Foundation

/// The CLIP text clean-up of open_clip's `SimpleTokenizer`: `ftfy.fix_text`, `html.unescape` twice, strip,
/// whitespace collapse, lower-case. Same design as the Java core's `TextCleaner`: the tables come from
/// `text_cleanup.json` (written by `python -m mobileclip.golden` from Python's `html` module and ftfy).
/// Not replicated: ftfy's mojibake repair (`fix_encoding`) and its surrogate repair.
public final class TextCleaner {
    private let html5: [String: String]
    private let invalidCharrefs: [UInt32: String]
    private let invalidCodepoints: Set<UInt32>
    private let ftfyEntities: [String: String]
    private let ligatures: [UInt32: String]
    private let width: [UInt32: String]
    private let c1: [UInt32: String]
    private let controlChars: Set<UInt32>
    private let whitespace: Set<UInt32>

    struct Tables: Decodable {
        let python_html5: [String: String]
        let python_invalid_charrefs: [String: String]
        let python_invalid_codepoints: [UInt32]
        let ftfy_entities: [String: String]
        let ftfy_ligatures: [String: String]
        let ftfy_width: [String: String]
        let ftfy_c1: [String: String]
        let ftfy_control_chars: [UInt32]
        let python_whitespace: [UInt32]
    }

    public init(tablesJSON data: Data) throws {
        let t = try JSONDecoder().decode(Tables.self, from: data)
        func hex(_ m: [String: String]) -> [UInt32: String] {
            var out: [UInt32: String] = [:]
            for (k, v) in m { if let cp = UInt32(k, radix: 16) { out[cp] = v } }
            return out
        }
        html5 = t.python_html5
        invalidCharrefs = hex(t.python_invalid_charrefs)
        invalidCodepoints = Set(t.python_invalid_codepoints)
        ftfyEntities = t.ftfy_entities
        ligatures = hex(t.ftfy_ligatures)
        width = hex(t.ftfy_width)
        c1 = hex(t.ftfy_c1)
        controlChars = Set(t.ftfy_control_chars)
        whitespace = Set(t.python_whitespace)
    }

    /// The tables bundled with the package (`Resources/text_cleanup.json`).
    public static func bundled() throws -> TextCleaner {
        guard let url = Bundle.module.url(forResource: "text_cleanup", withExtension: "json") else {
            throw MobileCLIPError.missingResource("text_cleanup.json")
        }
        return try TextCleaner(tablesJSON: Data(contentsOf: url))
    }

    /// `whitespace_clean(basic_clean(text)).lower()`.
    public func clean(_ text: String) -> String {
        var t = fixText(Array(text.unicodeScalars))
        t = htmlUnescape(htmlUnescape(t))
        t = collapseWhitespace(t) // also strips
        return Self.pythonLower(t)
    }

    /// Python's `str.lower()`: each scalar's full lower-case mapping, and capital sigma (U+03A3) in the
    /// Final_Sigma context (a cased letter before it, no cased letter after it, case-ignorables skipped) becomes
    /// final sigma U+03C2. Swift's `lowercased()` maps every U+03A3 to U+03C3, so "ΟΔΟΣ" would tokenize
    /// differently from Python and Java (`toLowerCase`, which applies the same rule).
    static func pythonLower(_ t: [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        for (i, s) in t.enumerated() {
            if s.value == 0x03A3 {
                out.append(isFinalSigma(t, at: i) ? "\u{03C2}" : "\u{03C3}")
            } else {
                out.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    private static func isFinalSigma(_ t: [Unicode.Scalar], at i: Int) -> Bool {
        var j = i - 1
        while j >= 0 && t[j].properties.isCaseIgnorable { j -= 1 }
        guard j >= 0 && t[j].properties.isCased else { return false }
        var k = i + 1
        while k < t.count && t[k].properties.isCaseIgnorable { k += 1 }
        return k == t.count || !t[k].properties.isCased
    }

    func isSpace(_ s: Unicode.Scalar) -> Bool { whitespace.contains(s.value) }

    /// `" ".join(text.split())`
    func collapseWhitespace(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var pending = false
        for s in t {
            if isSpace(s) {
                pending = !out.isEmpty
            } else {
                if pending { out.append(" ") }
                pending = false
                out.append(s)
            }
        }
        return out
    }

    // MARK: ftfy.fix_text (lite)

    func fixText(_ text: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var unescape = true // ftfy "auto": off for good from the first line that contains "<"
        var pos = 0
        while pos < text.count {
            var brk = pos
            while brk < text.count && text[brk] != "\n" { brk += 1 }
            brk = min(brk + 1, text.count)
            let segment = Array(text[pos..<brk])
            if unescape && segment.contains("<") { unescape = false }
            out += fixSegment(segment, unescape: unescape)
            pos = brk
        }
        return out
    }

    private func fixSegment(_ input: [Unicode.Scalar], unescape: Bool) -> [Unicode.Scalar] {
        var text = input
        while true {
            let orig = text
            if unescape { text = ftfyUnescape(text) }
            text = map(text, c1)
            text = map(text, ligatures)
            text = map(text, width)
            text = text.map { (s: Unicode.Scalar) -> Unicode.Scalar in
                if s.value == 0x02BC || (0x2018...0x201B).contains(s.value) { return "'" }
                if (0x201C...0x201F).contains(s.value) { return "\"" }
                return s
            }
            text = fixLineBreaks(text)
            text = removeAnsi(text)
            text = text.filter { !controlChars.contains($0.value) }
            let nfc = String(String.UnicodeScalarView(text)).precomposedStringWithCanonicalMapping
            text = Array(nfc.unicodeScalars)
            if text == orig { return text }
        }
    }

    private func map(_ t: [Unicode.Scalar], _ table: [UInt32: String]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(t.count)
        for s in t {
            if let r = table[s.value] { out += r.unicodeScalars } else { out.append(s) }
        }
        return out
    }

    private func fixLineBreaks(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < t.count {
            let v = t[i].value
            if v == 0x0D && i + 1 < t.count && t[i + 1].value == 0x0A { out.append("\n"); i += 2; continue }
            if v == 0x0D || v == 0x2028 || v == 0x2029 || v == 0x85 { out.append("\n") } else { out.append(t[i]) }
            i += 1
        }
        return out
    }

    /// ANSI escapes (`TextPatterns.ansi`) removed.
    func removeAnsi(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < t.count {
            if t[i].value == 0x1B && i + 1 < t.count && t[i + 1] == "[" {
                var j = i + 2
                while j < t.count && (t[j].properties.numericType == .decimal || t[j] == ";") { j += 1 }
                if j < t.count && t[j].isASCII && t[j].properties.isAlphabetic {
                    i = j + 1
                    continue
                }
            }
            out.append(t[i])
            i += 1
        }
        return out
    }

    private static func isAsciiAlnum(_ s: Unicode.Scalar) -> Bool {
        (0x30...0x39).contains(s.value) || (0x41...0x5A).contains(s.value) || (0x61...0x7A).contains(s.value)
    }

    /// ftfy's `unescape_html`: `&#?[0-9A-Za-z]{1,24};` looked up in ftfy's table (numeric ones via html.unescape).
    private func ftfyUnescape(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        var i = 0
        while i < t.count {
            if t[i] == "&" {
                var j = i + 1
                if j < t.count && t[j] == "#" { j += 1 }
                let nameStart = j
                while j < t.count && j - nameStart < 24 && Self.isAsciiAlnum(t[j]) { j += 1 }
                if j > nameStart && j < t.count && t[j] == ";" {
                    let match = Array(t[i...j])
                    let key = String(String.UnicodeScalarView(match))
                    if let rep = ftfyEntities[key] {
                        out += rep.unicodeScalars
                    } else if key.hasPrefix("&#") {
                        let u = htmlUnescape(match)
                        out += u.contains(";") ? match : u
                    } else {
                        out += match
                    }
                    i = j + 1
                    continue
                }
            }
            out.append(t[i])
            i += 1
        }
        return out
    }

    // MARK: Python's html.unescape

    func htmlUnescape(_ t: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard t.contains("&") else { return t }
        var out: [Unicode.Scalar] = []
        var i = 0
        let stop: Set<Unicode.Scalar> = ["\t", "\n", "\u{0C}", " ", "<", "&", "#", ";"]
        func isHex(_ s: Unicode.Scalar) -> Bool {
            (0x30...0x39).contains(s.value) || (0x41...0x46).contains(s.value) || (0x61...0x66).contains(s.value)
        }
        while i < t.count {
            guard t[i] == "&", i + 1 < t.count else { out.append(t[i]); i += 1; continue }
            var j = i + 1
            if t[j] == "#" {
                var k = j + 1
                var hex = false
                if k < t.count && (t[k] == "x" || t[k] == "X") && k + 1 < t.count && isHex(t[k + 1]) {
                    hex = true
                    k += 1
                    while k < t.count && isHex(t[k]) { k += 1 }
                } else if k < t.count && (0x30...0x39).contains(t[k].value) {
                    while k < t.count && (0x30...0x39).contains(t[k].value) { k += 1 }
                } else {
                    out.append(t[i]); i += 1; continue // "&#" not followed by a number: no match here
                }
                let digits = String(String.UnicodeScalarView(t[(j + (hex ? 2 : 1))..<k]))
                if k < t.count && t[k] == ";" { k += 1 }
                out += numericCharref(digits, radix: hex ? 16 : 10)
                i = k
                continue
            }
            while j < t.count && j - (i + 1) < 32 && !stop.contains(t[j]) { j += 1 }
            if j == i + 1 { out.append(t[i]); i += 1; continue }
            if j < t.count && t[j] == ";" { j += 1 }
            out += namedCharref(Array(t[(i + 1)..<j]))
            i = j
        }
        return out
    }

    private func numericCharref(_ digits: String, radix: Int) -> [Unicode.Scalar] {
        // Python ints are unbounded: anything over 0x10FFFF becomes U+FFFD
        let trimmed = digits.drop(while: { $0 == "0" })
        let num: UInt32
        if trimmed.count > 8 { return ["\u{FFFD}"] }
        if let n = UInt32(trimmed.isEmpty ? "0" : String(trimmed), radix: radix) { num = n } else { return ["\u{FFFD}"] }
        if let inv = invalidCharrefs[num] { return Array(inv.unicodeScalars) }
        if (0xD800...0xDFFF).contains(num) || num > 0x10FFFF { return ["\u{FFFD}"] }
        if invalidCodepoints.contains(num) { return [] }
        return [Unicode.Scalar(num)!]
    }

    private func namedCharref(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        let name = String(String.UnicodeScalarView(s))
        if let v = html5[name] { return Array(v.unicodeScalars) }
        var x = s.count - 1
        while x > 1 {
            let prefix = String(String.UnicodeScalarView(s[0..<x]))
            if let v = html5[prefix] { return Array(v.unicodeScalars) + Array(s[x...]) }
            x -= 1
        }
        return ["&"] + s
    }
}

import Foundation

/// The CLIP byte-level BPE tokenizer (OpenAI CLIP / open_clip `SimpleTokenizer`), reading the exported
/// `vocab.json` + `merges.txt`. Same ids as `mobileclip.get_tokenizer()` (checked against golden/captions.json).
public final class ClipTokenizer {
    public let contextLength: Int
    public let sotTokenId: Int32
    public let eotTokenId: Int32
    public let padTokenId: Int32 = 0
    private let encoder: [String: Int32]
    private let bpeRanks: [String: Int]
    private let byteEncoder: [Unicode.Scalar]
    private let cleaner: TextCleaner
    private var cache: [String: [String]] = [:]
    private let lock = NSLock()

    public init(vocabJSON: Data, mergesText: String, cleaner: TextCleaner, contextLength: Int = 77) throws {
        guard let vocab = try JSONSerialization.jsonObject(with: vocabJSON) as? [String: Int] else {
            throw MobileCLIPError.badVocabulary("vocab.json is not an object of token -> id")
        }
        var enc: [String: Int32] = [:]
        enc.reserveCapacity(vocab.count)
        for (k, v) in vocab { enc[k] = Int32(v) }
        encoder = enc
        var ranks: [String: Int] = [:]
        var rank = 0
        for (n, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            if n == 0 && line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw MobileCLIPError.badVocabulary("merges.txt line \(n + 1): \(line)") }
            ranks[String(parts[0]) + "\u{0}" + String(parts[1])] = rank
            rank += 1
        }
        bpeRanks = ranks
        guard let sot = enc["<|startoftext|>"], let eot = enc["<|endoftext|>"] else {
            throw MobileCLIPError.badVocabulary("vocab.json lacks <|startoftext|> / <|endoftext|>")
        }
        sotTokenId = sot
        eotTokenId = eot
        self.cleaner = cleaner
        self.contextLength = contextLength
        byteEncoder = ClipTokenizer.bytesToUnicode()
    }

    public convenience init(vocabURL: URL, mergesURL: URL, contextLength: Int = 77) throws {
        try self.init(vocabJSON: Data(contentsOf: vocabURL),
                      mergesText: String(contentsOf: mergesURL, encoding: .utf8),
                      cleaner: TextCleaner.bundled(), contextLength: contextLength)
    }

    static func bytesToUnicode() -> [Unicode.Scalar] {
        var printable = [Bool](repeating: false, count: 256)
        for b in 0x21...0x7E { printable[b] = true }
        for b in 0xA1...0xAC { printable[b] = true }
        for b in 0xAE...0xFF { printable[b] = true }
        var n: UInt32 = 0
        return (0..<256).map { (b: Int) -> Unicode.Scalar in
            if printable[b] { return Unicode.Scalar(UInt32(b))! }
            defer { n += 1 }
            return Unicode.Scalar(256 + n)!
        }
    }

    // MARK: pre-tokenizer
    // A scanner for `TextPatterns.preTokenizer` (no regex engine at run time); `swift test` checks it against
    // that pattern run by NSRegularExpression (ICU, the engine of iOS and of Android's java.util.regex).

    private static func isLetter(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    private static func isNumber(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// U+017F and U+0345: the two scalars open_clip's IGNORECASE pre-tokenizer treats differently on lower-cased
    /// text (see `TextPatterns.preTokenizer`).
    private static let longS: Unicode.Scalar = "\u{017F}"
    private static let ypogegrammeni: Unicode.Scalar = "\u{0345}"

    private static let specials: [[Unicode.Scalar]] = ["<start_of_text>", "<end_of_text>"].map { Array($0.unicodeScalars) }
    private static let contractions: [[Unicode.Scalar]] = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }

    static func preTokenize(_ t: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        var i = 0
        func startsWith(_ p: [Unicode.Scalar]) -> Bool {  // IGNORECASE on lower-case text: long s matches s
            i + p.count <= t.count && zip(t[i..<(i + p.count)], p).allSatisfy { $0 == $1 || ($1 == "s" && $0 == longS) }
        }
        outer: while i < t.count {
            for p in specials + contractions where startsWith(p) {
                out.append(Array(t[i..<(i + p.count)]))  // the text's own scalars (a long s stays a long s)
                i += p.count
                continue outer
            }
            let s = t[i]
            if isLetter(s) {
                var j = i + 1
                while j < t.count && isLetter(t[j]) { j += 1 }
                out.append(Array(t[i..<j]))
                i = j
            } else if isNumber(s) {
                out.append([s])
                i += 1
            } else if s.properties.isWhitespace || s == ypogegrammeni {  // matched by no branch: dropped
                i += 1
            } else {
                var j = i + 1
                while j < t.count && !isLetter(t[j]) && !isNumber(t[j]) && !t[j].properties.isWhitespace
                    && t[j] != ypogegrammeni { j += 1 }
                out.append(Array(t[i..<j]))
                i = j
            }
        }
        return out
    }

    /// BPE ids without start/end tokens or padding. A BPE piece that the vocabulary lacks (a vocab.json and
    /// merges.txt that do not belong together) throws, as the Java core does: never a silently shorter caption.
    public func encode(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        let cleaned = Array(cleaner.clean(text).unicodeScalars)
        for token in ClipTokenizer.preTokenize(cleaned) {
            if token == ClipTokenizer.specials[0] { ids.append(sotTokenId); continue }
            if token == ClipTokenizer.specials[1] { ids.append(eotTokenId); continue }
            var mapped = String.UnicodeScalarView()
            for b in String(String.UnicodeScalarView(token)).utf8 { mapped.append(byteEncoder[Int(b)]) }
            for piece in bpe(String(mapped)) {
                guard let id = encoder[piece] else {
                    throw MobileCLIPError.badVocabulary("BPE piece not in vocab.json: \(piece)")
                }
                ids.append(id)
            }
        }
        return ids
    }

    /// [sot] + ids + [eot], truncated to the context (last id = eot), zero padded: `tok(text)` in Python.
    public func tokenize(_ text: String) throws -> [Int32] {
        let body = try encode(text)
        var out = [Int32](repeating: padTokenId, count: contextLength)
        out[0] = sotTokenId
        if body.count + 2 > contextLength {
            for k in 0..<(contextLength - 2) { out[k + 1] = body[k] }
            out[contextLength - 1] = eotTokenId
        } else {
            for k in 0..<body.count { out[k + 1] = body[k] }
            out[body.count + 1] = eotTokenId
        }
        return out
    }

    private func bpe(_ token: String) -> [String] {
        lock.lock()
        if let c = cache[token] { lock.unlock(); return c }
        lock.unlock()
        // every scalar here is a byte-encoded character (BMP, one scalar each)
        let scalars = Array(token.unicodeScalars)
        var word: [String] = scalars.dropLast().map { String($0) }
        word.append(String(scalars.last!) + "</w>")
        if word.count > 1 {
            while true {
                var best = Int.max
                var first = "", second = ""
                for k in 0..<(word.count - 1) {
                    if let r = bpeRanks[word[k] + "\u{0}" + word[k + 1]], r < best {
                        best = r
                        first = word[k]
                        second = word[k + 1]
                    }
                }
                if best == Int.max { break }
                var merged: [String] = []
                var i = 0
                while i < word.count {
                    guard let j = word[i...].firstIndex(of: first) else {
                        merged += word[i...]
                        break
                    }
                    merged += word[i..<j]
                    i = j
                    if i < word.count - 1 && word[i + 1] == second {
                        merged.append(first + second)
                        i += 2
                    } else {
                        merged.append(word[i])
                        i += 1
                    }
                }
                word = merged
                if word.count == 1 { break }
            }
        }
        lock.lock()
        cache[token] = word
        lock.unlock()
        return word
    }
}

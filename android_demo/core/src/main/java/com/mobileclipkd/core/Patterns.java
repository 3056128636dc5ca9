package com.mobileclipkd.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Every regular expression of the core, in one place, spelled so that it means the same on the desktop JVM and
 * on Android, whose {@code java.util.regex} hands the pattern string to ICU4C.
 *
 * <p>Rules (checked by {@code tests/test_app_sources_scan.py}; the ICU conformance test
 * {@code tests/test_icu_regex.py} runs these exact strings under ICU4C, the JVM and Python):
 * <ul>
 *   <li>no flags: Android rejects {@code UNICODE_CHARACTER_CLASS} and {@code CANON_EQ}, and its case-insensitive
 *       matching is Unicode where the JVM's is ASCII;</li>
 *   <li>no shorthand classes ({@code \w \d \s \b} and negations): ASCII on the JVM, Unicode in ICU. Classes are
 *       Unicode general categories ({@code \p{L}}, {@code \p{N}}, {@code \p{Nd}}, {@code \p{Z}}) or the binary
 *       property {@code \p{IsWhite_Space}} — spellings both engines accept with the same meaning;</li>
 *   <li>code points as hexadecimal escapes, so the strings are printable.</li>
 * </ul>
 */
public final class Patterns {
    private Patterns() {
    }

    /**
     * open_clip's CLIP pre-tokenizer, run on cleaned (lower-cased) text. Python compiles it with {@code IGNORECASE}
     * ({@code regex} module); on lower-cased text that flag changes exactly two things, spelled out here instead:
     * U+017F (long s) matches {@code s}, and U+0345 (combining ypogegrammeni, whose case variants are Greek iota)
     * matches neither the letter class nor its negation, so no piece contains it (Python drops it).
     * Python's {@code \s} is the Unicode White_Space property.
     */
    public static final String PRE_TOKENIZER_REGEX = "<[s\\u017F]tart_of_text>|<end_of_text>"
            + "|'[s\\u017F]|'t|'re|'ve|'m|'ll|'d"
            + "|[\\p{L}]+|[\\p{N}]|[^\\p{IsWhite_Space}\\p{L}\\p{N}\\u0345]+";

    /** ftfy's ANSI terminal escape; Python's {@code \d} on str is any decimal digit: {@code \p{Nd}}. */
    public static final String ANSI_REGEX = "\\x1B\\[((?:\\p{Nd}|;)*)([a-zA-Z])";

    /** ftfy's HTML entity ({@code ftfy.chardata.HTML_ENTITY_RE}). */
    public static final String FTFY_ENTITY_REGEX = "&#?[0-9A-Za-z]{1,24};";

    /** Python's {@code html._charref} (what {@code html.unescape} replaces). */
    public static final String PY_CHARREF_REGEX = "&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\\t\\n\\f <&#;]{1,32};?)";

    /** Separators of a typed label list (comma or line break). */
    public static final String LABEL_SEPARATOR_REGEX = "[,\\n]";

    public static final Pattern PRE_TOKENIZER = compile(PRE_TOKENIZER_REGEX);
    public static final Pattern ANSI = compile(ANSI_REGEX);
    public static final Pattern FTFY_ENTITY = compile(FTFY_ENTITY_REGEX);
    public static final Pattern PY_CHARREF = compile(PY_CHARREF_REGEX);
    public static final Pattern LABEL_SEPARATOR = compile(LABEL_SEPARATOR_REGEX);

    /** The constant patterns by name (the conformance test iterates over them). The clean-up's quote patterns
     * come from {@code text_cleanup.json} (ftfy's tables) and are compiled with {@link #compile}. */
    public static Map<String, String> all() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("pre_tokenizer", PRE_TOKENIZER_REGEX);
        m.put("ansi", ANSI_REGEX);
        m.put("ftfy_entity", FTFY_ENTITY_REGEX);
        m.put("py_charref", PY_CHARREF_REGEX);
        m.put("label_separator", LABEL_SEPARATOR_REGEX);
        return Collections.unmodifiableMap(m);
    }

    /** Compiles without flags: the only way every pattern here is compiled. */
    public static Pattern compile(String regex) {
        return Pattern.compile(regex);
    }
}

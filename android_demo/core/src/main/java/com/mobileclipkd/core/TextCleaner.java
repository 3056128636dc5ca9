package com.mobileclipkd.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP text clean-up of open_clip's {@code SimpleTokenizer}: {@code ftfy.fix_text}, then
 * {@code html.unescape} twice, strip, collapse whitespace, lower-case.
 *
 * <p>The ftfy part is "ftfy-lite": every ftfy fix that changes ordinary text is replicated from the very tables
 * ftfy uses (written to {@code text_cleanup.json} by {@code python -m mobileclip.golden}): HTML entities (only
 * when the line has no '&lt;', as ftfy's "auto" mode), C1 controls as Windows-1252, Latin ligatures, full/half
 * width forms, curly quotes, line breaks, ANSI terminal escapes, control characters, NFC normalisation, repeated
 * until nothing changes. NOT replicated: ftfy's mojibake repair ({@code fix_encoding}, e.g. "Ã©" -&gt; "é") and
 * its UTF-16 surrogate repair (Java strings decoded from UTF-8 hold no lone surrogates).
 */
public final class TextCleaner {
    private static final Pattern FTFY_ENTITY = Patterns.FTFY_ENTITY;
    private static final Pattern PY_CHARREF = Patterns.PY_CHARREF;
    private static final Pattern ANSI = Patterns.ANSI;

    private final Map<String, String> html5 = new HashMap<>();
    private final Map<Integer, String> invalidCharrefs = new HashMap<>();
    private final Set<Integer> invalidCodepoints = new HashSet<>();
    private final Map<String, String> ftfyEntities = new HashMap<>();
    private final Map<Integer, String> ligatures = new HashMap<>();
    private final Map<Integer, String> width = new HashMap<>();
    private final Map<Integer, String> c1 = new HashMap<>();
    private final Set<Integer> controlChars = new HashSet<>();
    private final Set<Integer> whitespace = new HashSet<>();
    private final Pattern singleQuotes;
    private final Pattern doubleQuotes;

    /** Reads the tables from a parsed {@code text_cleanup.json}. */
    public TextCleaner(Map<String, Object> tables) {
        for (Map.Entry<String, Object> e : Json.object(tables.get("python_html5"), "python_html5").entrySet())
            html5.put(e.getKey(), (String) e.getValue());
        for (Map.Entry<String, Object> e : Json.object(tables.get("python_invalid_charrefs"), "charrefs").entrySet())
            invalidCharrefs.put(Integer.parseInt(e.getKey(), 16), (String) e.getValue());
        for (int cp : Json.ints(tables.get("python_invalid_codepoints"), "invalid_codepoints")) invalidCodepoints.add(cp);
        for (Map.Entry<String, Object> e : Json.object(tables.get("ftfy_entities"), "ftfy_entities").entrySet())
            ftfyEntities.put(e.getKey(), (String) e.getValue());
        hexMap(tables.get("ftfy_ligatures"), ligatures);
        hexMap(tables.get("ftfy_width"), width);
        hexMap(tables.get("ftfy_c1"), c1);
        for (int cp : Json.ints(tables.get("ftfy_control_chars"), "control_chars")) controlChars.add(cp);
        for (int cp : Json.ints(tables.get("python_whitespace"), "python_whitespace")) whitespace.add(cp);
        singleQuotes = Patterns.compile((String) tables.get("ftfy_single_quotes"));
        doubleQuotes = Patterns.compile((String) tables.get("ftfy_double_quotes"));
    }

    /** The tables bundled with this library (resource {@code /mobileclip/text_cleanup.json}). */
    public static TextCleaner fromResources() {
        try (InputStream in = TextCleaner.class.getResourceAsStream("/mobileclip/text_cleanup.json")) {
            if (in == null) throw new IllegalStateException("resource /mobileclip/text_cleanup.json is missing");
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
            return new TextCleaner(Json.object(Json.parse(b.toString(StandardCharsets.UTF_8.name())), "tables"));
        } catch (IOException e) {
            throw new IllegalStateException("cannot read text_cleanup.json: " + e.getMessage(), e);
        }
    }

    private static void hexMap(Object o, Map<Integer, String> out) {
        for (Map.Entry<String, Object> e : Json.object(o, "table").entrySet())
            out.put(Integer.parseInt(e.getKey(), 16), (String) e.getValue());
    }

    /** {@code whitespace_clean(basic_clean(text)).lower()} exactly as open_clip's "lower" clean function. */
    public String clean(String text) {
        String t = fixText(text);
        t = htmlUnescape(htmlUnescape(t));
        t = strip(t);
        return collapseWhitespace(t).toLowerCase(Locale.ROOT);
    }

    // ---- Python str helpers -------------------------------------------------------------------------------

    boolean isPySpace(int cp) {
        return whitespace.contains(cp);
    }

    String strip(String t) {
        int a = 0, b = t.length();
        while (a < b && isPySpace(t.codePointAt(a))) a += Character.charCount(t.codePointAt(a));
        while (b > a && isPySpace(t.codePointBefore(b))) b -= Character.charCount(t.codePointBefore(b));
        return t.substring(a, b);
    }

    /** {@code " ".join(text.split())}. */
    String collapseWhitespace(String t) {
        StringBuilder out = new StringBuilder(t.length());
        boolean pending = false;
        for (int k = 0; k < t.length(); ) {
            int cp = t.codePointAt(k);
            k += Character.charCount(cp);
            if (isPySpace(cp)) {
                pending = out.length() > 0;
            } else {
                if (pending) out.append(' ');
                pending = false;
                out.appendCodePoint(cp);
            }
        }
        return out.toString();
    }

    // ---- ftfy.fix_text (lite) -----------------------------------------------------------------------------

    String fixText(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean unescape = true; // "auto": switched off for good at the first line containing '<'
        int pos = 0;
        while (pos < text.length()) {
            int brk = text.indexOf('\n', pos) + 1;
            if (brk == 0) brk = text.length();
            String segment = text.substring(pos, brk);
            if (unescape && segment.indexOf('<') >= 0) unescape = false;
            out.append(fixSegment(segment, unescape));
            pos = brk;
        }
        return out.toString();
    }

    private String fixSegment(String text, boolean unescape) {
        while (true) {
            String orig = text;
            if (unescape) text = ftfyUnescape(text);
            text = mapCodePoints(text, c1);
            text = mapCodePoints(text, ligatures);
            text = mapCodePoints(text, width);
            text = doubleQuotes.matcher(singleQuotes.matcher(text).replaceAll("'")).replaceAll("\"");
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
                    .replace("\u2029", "\n").replace("\u0085", "\n");
            text = ANSI.matcher(text).replaceAll("");
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(orig)) return text;
        }
    }

    private static String mapCodePoints(String t, Map<Integer, String> map) {
        StringBuilder out = null;
        for (int k = 0; k < t.length(); ) {
            int cp = t.codePointAt(k);
            String r = map.get(cp);
            if (r != null && out == null) out = new StringBuilder(t.length()).append(t, 0, k);
            if (out != null) {
                if (r != null) out.append(r);
                else out.appendCodePoint(cp);
            }
            k += Character.charCount(cp);
        }
        return out == null ? t : out.toString();
    }

    private String removeControlChars(String t) {
        StringBuilder out = new StringBuilder(t.length());
        for (int k = 0; k < t.length(); ) {
            int cp = t.codePointAt(k);
            if (!controlChars.contains(cp)) out.appendCodePoint(cp);
            k += Character.charCount(cp);
        }
        return out.toString();
    }

    private String ftfyUnescape(String text) {
        Matcher m = FTFY_ENTITY.matcher(text);
        StringBuilder out = new StringBuilder();
        int last = 0;
        while (m.find()) {
            String g = m.group();
            String rep = ftfyEntities.get(g);
            if (rep == null) {
                if (g.startsWith("&#")) {
                    String u = htmlUnescape(g);
                    rep = u.contains(";") ? g : u;
                } else {
                    rep = g;
                }
            }
            out.append(text, last, m.start()).append(rep);
            last = m.end();
        }
        return out.append(text, last, text.length()).toString();
    }

    // ---- Python's html.unescape ---------------------------------------------------------------------------

    String htmlUnescape(String text) {
        if (text.indexOf('&') < 0) return text;
        Matcher m = PY_CHARREF.matcher(text);
        StringBuilder out = new StringBuilder();
        int last = 0;
        while (m.find()) {
            out.append(text, last, m.start()).append(replaceCharref(m.group(1)));
            last = m.end();
        }
        return out.append(text, last, text.length()).toString();
    }

    private String replaceCharref(String s) {
        if (s.charAt(0) == '#') {
            String digits;
            int radix;
            if (s.length() > 1 && (s.charAt(1) == 'x' || s.charAt(1) == 'X')) {
                digits = s.substring(2);
                radix = 16;
            } else {
                digits = s.substring(1);
                radix = 10;
            }
            while (digits.endsWith(";")) digits = digits.substring(0, digits.length() - 1);
            BigInteger big = new BigInteger(digits, radix);
            if (big.compareTo(BigInteger.valueOf(0x10FFFF)) > 0) return "\uFFFD";
            int num = big.intValue();
            String inv = invalidCharrefs.get(num);
            if (inv != null) return inv;
            if ((0xD800 <= num && num <= 0xDFFF)) return "\uFFFD";
            if (invalidCodepoints.contains(num)) return "";
            return new String(Character.toChars(num));
        }
        String v = html5.get(s);
        if (v != null) return v;
        // longest matching prefix, as the HTML standard (and Python) does
        int[] cps = s.codePoints().toArray();
        for (int x = cps.length - 1; x > 1; x--) {
            String prefix = new String(cps, 0, x);
            v = html5.get(prefix);
            if (v != null) return v + new String(cps, x, cps.length - x);
        }
        return "&" + s;
    }
}

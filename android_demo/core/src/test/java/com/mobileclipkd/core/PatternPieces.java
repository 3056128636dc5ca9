package com.mobileclipkd.core;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Tool for {@code tests/test_icu_regex.py}: the pieces the JVM's {@code java.util.regex} cuts with the core's
 * patterns, for the same inputs the test hands ICU4C and Python.
 *
 * <pre>
 * java PatternPieces --dump OUT.json            {"name": regex, ...} of {@link Patterns#all()}
 * java PatternPieces IN.json OUT.json           IN: {"cases": [{"name": n, "regex": r, "texts": [...]}, ...]}
 *                                               OUT: [[[piece, ...] per text] per case]
 * </pre>
 * A case whose name is one of {@link Patterns#all()} runs that constant's compiled pattern (its regex must be
 * the constant's string); other cases (ftfy's quote patterns from text_cleanup.json) run
 * {@link Patterns#compile}, as {@link TextCleaner} does.
 */
public final class PatternPieces {
    private PatternPieces() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 2 && args[0].equals("--dump")) {
            StringBuilder b = new StringBuilder("{");
            for (Map.Entry<String, String> e : Patterns.all().entrySet()) {
                if (b.length() > 1) b.append(',');
                quote(b, e.getKey()).append(':');
                quote(b, e.getValue());
            }
            Files.write(Paths.get(args[1]), b.append('}').toString().getBytes(StandardCharsets.UTF_8));
            return;
        }
        if (args.length != 2) throw new IllegalArgumentException("usage: PatternPieces IN.json OUT.json | --dump OUT.json");
        List<Object> cases = Json.array(Json.object(Json.parse(Paths.get(args[0])), "input").get("cases"), "cases");
        try (Writer w = Files.newBufferedWriter(Paths.get(args[1]), StandardCharsets.UTF_8)) {
            w.write('[');
            for (int c = 0; c < cases.size(); c++) {
                Map<String, Object> spec = Json.object(cases.get(c), "case");
                Pattern p = pattern((String) spec.get("name"), (String) spec.get("regex"));
                if (c > 0) w.write(',');
                w.write(pieces(p, Json.array(spec.get("texts"), "texts")));
            }
            w.write(']');
        }
    }

    private static Pattern pattern(String name, String regex) {
        String constant = Patterns.all().get(name);
        if (constant == null) return Patterns.compile(regex);
        if (!constant.equals(regex)) throw new IllegalArgumentException(name + ": regex differs from Patterns");
        try {
            Pattern p = (Pattern) Patterns.class.getField(name.toUpperCase(java.util.Locale.ROOT)).get(null);
            if (!p.pattern().equals(constant) || p.flags() != 0)
                throw new IllegalStateException(name + ": compiled constant differs from its string or has flags");
            return p;
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("Patterns has no compiled constant for " + name, e);
        }
    }

    private static String pieces(Pattern p, List<Object> texts) {
        StringBuilder b = new StringBuilder("[");
        for (int t = 0; t < texts.size(); t++) {
            if (t > 0) b.append(',');
            b.append('[');
            Matcher m = p.matcher((String) texts.get(t));
            boolean first = true;
            while (m.find()) {
                if (!first) b.append(',');
                quote(b, m.group());
                first = false;
            }
            b.append(']');
        }
        return b.append(']').toString();
    }

    /** JSON string, non-ASCII as UTF-16 escapes (Python's json joins surrogate pairs). */
    private static StringBuilder quote(StringBuilder b, String s) {
        b.append('"');
        for (int k = 0; k < s.length(); k++) {
            char ch = s.charAt(k);
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20 || ch > 0x7E) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"');
    }
}

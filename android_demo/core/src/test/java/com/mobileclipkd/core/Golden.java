package com.mobileclipkd.core;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;

/** Locates the shared golden fixtures (repo-root {@code golden/}, written by {@code python -m mobileclip.golden}). */
final class Golden {
    private static ClipTokenizer tokenizer;

    private Golden() {
    }

    static Path dir() {
        String p = System.getProperty("golden.dir");
        Path d = p != null ? Paths.get(p) : Paths.get("..", "..", "golden");
        if (!Files.isDirectory(d))
            throw new IllegalStateException("golden fixtures not found at " + d.toAbsolutePath()
                    + " (set -Dgolden.dir or run python -m mobileclip.golden)");
        return d;
    }

    static Map<String, Object> json(String name) throws IOException {
        return Json.object(Json.parse(dir().resolve(name)), name);
    }

    static synchronized ClipTokenizer tokenizer() throws IOException {
        if (tokenizer == null) {
            Path t = dir().resolve("tokenizer");
            tokenizer = ClipTokenizer.load(t.resolve("vocab.json"), t.resolve("merges.txt"));
        }
        return tokenizer;
    }
}

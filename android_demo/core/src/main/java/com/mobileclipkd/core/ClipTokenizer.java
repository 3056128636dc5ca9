package com.mobileclipkd.core;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP byte-level BPE tokenizer (OpenAI CLIP / open_clip {@code SimpleTokenizer}), reading the exported
 * {@code vocab.json} (token -&gt; id) and {@code merges.txt} (merges by rank). Same ids as
 * {@code mobileclip.get_tokenizer()}: clean-up ({@link TextCleaner}), the CLIP pre-tokenizer regex, byte-to-unicode
 * mapping, BPE with {@code </w>} word ends, {@code <|startoftext|>} ... {@code <|endoftext|>}, a 77-token context,
 * truncation that keeps the end token, and zero padding.
 */
public final class ClipTokenizer {
    /** The CLIP pre-tokenizer ({@link Patterns#PRE_TOKENIZER}). */
    private static final Pattern PRE_TOKENIZER = Patterns.PRE_TOKENIZER;

    private final Map<String, Integer> encoder;
    private final Map<String, Integer> bpeRanks;
    private final String[] byteEncoder = new String[256];
    private final TextCleaner cleaner;
    private final Map<String, String[]> cache = new ConcurrentHashMap<>();
    public final int contextLength;
    public final int sotTokenId;
    public final int eotTokenId;
    public final int padTokenId;

    public ClipTokenizer(Map<String, Integer> encoder, List<String[]> merges, TextCleaner cleaner, int contextLength) {
        this.encoder = encoder;
        this.cleaner = cleaner;
        this.contextLength = contextLength;
        this.bpeRanks = new HashMap<>(merges.size() * 2);
        for (int r = 0; r < merges.size(); r++) bpeRanks.put(key(merges.get(r)[0], merges.get(r)[1]), r);
        this.sotTokenId = require("<|startoftext|>");
        this.eotTokenId = require("<|endoftext|>");
        this.padTokenId = 0;
        int[] cs = bytesToUnicode();
        for (int b = 0; b < 256; b++) byteEncoder[b] = new String(Character.toChars(cs[b]));
    }

    /** Reads {@code vocab.json} and {@code merges.txt} (HF/OpenAI format) with the bundled clean-up tables. */
    public static ClipTokenizer load(Path vocabJson, Path mergesTxt) throws IOException {
        try (InputStream v = Files.newInputStream(vocabJson); InputStream m = Files.newInputStream(mergesTxt)) {
            return load(v, m, TextCleaner.fromResources(), 77);
        }
    }

    public static ClipTokenizer load(InputStream vocabJson, InputStream mergesTxt, TextCleaner cleaner,
                                     int contextLength) throws IOException {
        String vocabText = new String(readAll(vocabJson), StandardCharsets.UTF_8);
        Map<String, Integer> enc = new HashMap<>(100_000);
        for (Map.Entry<String, Object> e : Json.object(Json.parse(vocabText), "vocab.json").entrySet())
            enc.put(e.getKey(), ((Number) e.getValue()).intValue());
        List<String[]> merges = new ArrayList<>(50_000);
        BufferedReader r = new BufferedReader(new InputStreamReader(mergesTxt, StandardCharsets.UTF_8));
        String line;
        boolean first = true;
        while ((line = r.readLine()) != null) {
            if (first && line.startsWith("#version")) { first = false; continue; }
            first = false;
            if (line.isEmpty()) continue;
            String[] parts = line.split(" ");
            if (parts.length != 2) throw new IOException("merges.txt: bad line '" + line + "'");
            merges.add(parts);
        }
        return new ClipTokenizer(enc, merges, cleaner, contextLength);
    }

    private static byte[] readAll(InputStream in) throws IOException {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) b.write(buf, 0, n);
        return b.toByteArray();
    }

    private int require(String token) {
        Integer id = encoder.get(token);
        if (id == null) throw new IllegalArgumentException("vocab.json has no " + token + " token");
        return id;
    }

    private static String key(String a, String b) {
        return a + "\u0000" + b;
    }

    /** OpenAI's bytes_to_unicode: printable bytes map to themselves, the rest to 256+n. */
    static int[] bytesToUnicode() {
        int[] cs = new int[256];
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) cs[b] = printable[b] ? b : 256 + n++;
        return cs;
    }

    /** BPE ids of {@code text} without start/end tokens or padding (Python's {@code encode}). */
    public List<Integer> encode(String text) {
        List<Integer> ids = new ArrayList<>();
        Matcher m = PRE_TOKENIZER.matcher(cleaner.clean(text));
        while (m.find()) {
            String token = m.group();
            if (token.equals("<start_of_text>")) { ids.add(sotTokenId); continue; }
            if (token.equals("<end_of_text>")) { ids.add(eotTokenId); continue; }
            StringBuilder b = new StringBuilder();
            for (byte x : token.getBytes(StandardCharsets.UTF_8)) b.append(byteEncoder[x & 0xFF]);
            for (String piece : bpe(b.toString())) {
                Integer id = encoder.get(piece);
                if (id == null) throw new IllegalStateException("BPE piece not in vocab: " + piece);
                ids.add(id);
            }
        }
        return ids;
    }

    /** {@code tok(text)}: [sot] + ids + [eot], truncated to the context (last id = eot), zero padded. */
    public int[] tokenize(String text) {
        List<Integer> body = encode(text);
        int[] out = new int[contextLength];
        Arrays.fill(out, padTokenId);
        out[0] = sotTokenId;
        int n = body.size();
        // Python: tokens = [sot] + body + [eot]; if too long: tokens = tokens[:ctx]; tokens[-1] = eot
        if (body.size() + 2 > contextLength) {
            for (int k = 0; k < contextLength - 2; k++) out[k + 1] = body.get(k);
            out[contextLength - 1] = eotTokenId;
        } else {
            for (int k = 0; k < n; k++) out[k + 1] = body.get(k);
            out[n + 1] = eotTokenId;
        }
        return out;
    }

    private String[] bpe(String token) {
        String[] cached = cache.get(token);
        if (cached != null) return cached;
        // word = tuple(token[:-1]) + (token[-1] + '</w>',)   (all chars here are BMP: byte-encoded)
        List<String> word = new ArrayList<>(token.length());
        for (int k = 0; k < token.length() - 1; k++) word.add(String.valueOf(token.charAt(k)));
        word.add(token.charAt(token.length() - 1) + "</w>");
        if (word.size() == 1) {
            String[] r = {token + "</w>"};
            cache.put(token, r);
            return r;
        }
        while (true) {
            int bestRank = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int k = 0; k + 1 < word.size(); k++) {
                Integer r = bpeRanks.get(key(word.get(k), word.get(k + 1)));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    first = word.get(k);
                    second = word.get(k + 1);
                }
            }
            if (first == null) break;
            List<String> merged = new ArrayList<>(word.size());
            int i = 0;
            while (i < word.size()) {
                int j = indexOf(word, first, i);
                if (j < 0) {
                    merged.addAll(word.subList(i, word.size()));
                    break;
                }
                merged.addAll(word.subList(i, j));
                i = j;
                if (word.get(i).equals(first) && i < word.size() - 1 && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i += 2;
                } else {
                    merged.add(word.get(i));
                    i += 1;
                }
            }
            word = merged;
            if (word.size() == 1) break;
        }
        String[] r = word.toArray(new String[0]);
        cache.put(token, r);
        return r;
    }

    private static int indexOf(List<String> word, String s, int from) {
        for (int k = from; k < word.size(); k++) if (word.get(k).equals(s)) return k;
        return -1;
    }
}

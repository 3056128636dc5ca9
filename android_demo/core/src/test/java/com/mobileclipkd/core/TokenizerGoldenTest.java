package com.mobileclipkd.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Assume;
import org.junit.Test;

public class TokenizerGoldenTest {
    @Test
    public void everyGoldenCaptionMatchesPython() throws Exception {
        ClipTokenizer tok = Golden.tokenizer();
        List<Object> cases = Json.array(Golden.json("captions.json").get("cases"), "cases");
        assertTrue("expected golden captions", cases.size() >= 20);
        List<String> failures = new ArrayList<>();
        for (Object o : cases) {
            Map<String, Object> c = Json.object(o, "case");
            String text = (String) c.get("text");
            int[] want = Json.ints(c.get("ids"), "ids");
            int[] got = tok.tokenize(text);
            if (!Arrays.equals(want, got))
                failures.add(c.get("name") + ": python " + Arrays.toString(want) + " java " + Arrays.toString(got));
        }
        assertTrue(failures.size() + " of " + cases.size() + " golden captions differ:\n" + String.join("\n", failures),
                failures.isEmpty());
    }

    @Test
    public void specialIdsAndShape() throws Exception {
        ClipTokenizer tok = Golden.tokenizer();
        assertEquals(49406, tok.sotTokenId);
        assertEquals(49407, tok.eotTokenId);
        int[] ids = tok.tokenize("a photo of a cat.");
        assertEquals(77, ids.length);
        assertArrayEquals(new int[] {49406, 320, 1125, 539, 320, 2368, 269, 49407, 0}, Arrays.copyOf(ids, 9));
    }

    /** Python's ids of every Flickr8k-subset caption, written by tests/apps/test_android_core.py (never committed). */
    @Test
    public void everyFlickrCaptionMatchesPython() throws Exception {
        String p = System.getProperty("flickr.ids");
        Assume.assumeTrue("flickr.ids not set: the Flickr8k subset was not available to the test setup", p != null);
        Path path = Paths.get(p);
        Assume.assumeTrue("flickr ids cache " + path + " missing", Files.isRegularFile(path));
        ClipTokenizer tok = Golden.tokenizer();
        int n = 0;
        List<String> failures = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(path, StandardCharsets.UTF_8)) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isEmpty()) continue;
                Map<String, Object> c = Json.object(Json.parse(line), "line");
                int[] want = Json.ints(c.get("ids"), "ids");
                int[] got = tok.tokenize((String) c.get("text"));
                n++;
                if (!Arrays.equals(want, got) && failures.size() < 20)
                    failures.add(c.get("text") + "\n  python " + Arrays.toString(want) + "\n  java   " + Arrays.toString(got));
            }
        }
        int expected = Integer.parseInt(System.getProperty("flickr.count", "-1"));
        if (expected >= 0) assertEquals("captions read", expected, n);
        assertTrue("no captions in " + path, n > 0);
        assertTrue("Flickr captions differ (first 20):\n" + String.join("\n", failures), failures.isEmpty());
        System.out.println("TokenizerGoldenTest: " + n + " Flickr8k captions identical to Python");
    }
}

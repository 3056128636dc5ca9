package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.Test;

public class UtilTest {
    @Test
    public void latencyStats() {
        LatencyStats s = new LatencyStats();
        for (double v : new double[] {4, 1, 3, 2, 10}) s.add(v);
        assertEquals(5, s.count());
        assertEquals(4.0, s.mean(), 1e-12);
        assertEquals(3.0, s.median(), 1e-12);
        assertEquals(7.6, s.percentile(90), 1e-12); // numpy.percentile([1,2,3,4,10], 90)
        assertEquals(1.0, s.min(), 0);
        assertEquals(10.0, s.max(), 0);
        assertEquals(Math.sqrt(10.0), s.std(), 1e-12);
    }

    @Test
    public void jsonParser() {
        Map<String, Object> m = Json.object(Json.parse("{\"a\": [1, 2.5, -3e2, true, null], \"b\": \"x\\u00e9\\ud83d\\udc36\\n\"}"), "m");
        List<Object> a = Json.array(m.get("a"), "a");
        assertEquals(1L, a.get(0));
        assertEquals(2.5, (Double) a.get(1), 0);
        assertEquals(-300.0, (Double) a.get(2), 0);
        assertEquals(Boolean.TRUE, a.get(3));
        assertEquals(null, a.get(4));
        assertEquals("x\u00e9\ud83d\udc36\n", m.get("b"));
    }

    @Test
    public void textCleanerPieces() {
        TextCleaner c = TextCleaner.fromResources();
        assertEquals("loud noises", c.clean("ＬＯＵＤ　ＮＯＩＳＥＳ"));
        assertEquals("fish & chips", c.clean("fish &amp;amp; chips"));
        assertEquals("\"a\" 'b'", c.clean("\u201ca\u201d \u2018b\u2019"));
        assertEquals("a b", c.clean("  A \t\n B  "));
    }
}

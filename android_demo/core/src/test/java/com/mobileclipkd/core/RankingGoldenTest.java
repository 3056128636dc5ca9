package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class RankingGoldenTest {
    private static float[] floats(Object o) {
        double[] d = Json.doubles(o, "vector");
        float[] f = new float[d.length];
        for (int k = 0; k < d.length; k++) f[k] = (float) d[k];
        return f;
    }

    @Test
    public void rankingMatchesPython() throws Exception {
        Map<String, Object> g = Golden.json("ranking.json");
        double tol = ((Number) g.get("tolerance")).doubleValue();
        for (Object o : Json.array(g.get("cases"), "cases")) {
            Map<String, Object> c = Json.object(o, "case");
            List<float[]> gallery = new ArrayList<>();
            for (Object row : Json.array(c.get("gallery"), "gallery")) gallery.add(floats(row));
            int k = ((Number) c.get("k")).intValue();
            List<Ranking.Hit> hits = Ranking.topK(floats(c.get("query")), gallery, k,
                    ((Number) c.get("logit_scale")).doubleValue());
            int[] order = Json.ints(c.get("top_k"), "top_k");
            double[] scores = Json.doubles(c.get("scores"), "scores");
            double[] probs = Json.doubles(c.get("probabilities"), "probabilities");
            assertEquals(c.get("name") + ": k", order.length, hits.size());
            for (int r = 0; r < order.length; r++) {
                assertEquals(c.get("name") + " rank " + r, order[r], hits.get(r).index);
                assertEquals(c.get("name") + " score " + r, scores[r], hits.get(r).score, tol);
                assertEquals(c.get("name") + " prob " + r, probs[r], hits.get(r).probability, tol);
            }
        }
    }
}

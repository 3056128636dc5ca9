package com.mobileclipkd.core;

import java.util.ArrayList;
import java.util.List;

/** Cosine similarity ranking: top-k by (-cosine, index), with softmax probabilities over the whole gallery. */
public final class Ranking {
    private Ranking() {
    }

    public static final class Hit {
        public final int index;
        public final double score;
        public final double probability;

        Hit(int index, double score, double probability) {
            this.index = index;
            this.score = score;
            this.probability = probability;
        }

        @Override
        public String toString() {
            return String.format("#%d cos=%.4f p=%.4f", index, score, probability);
        }
    }

    public static double norm(float[] v) {
        double s = 0;
        for (float x : v) s += (double) x * x;
        return Math.sqrt(s);
    }

    /** Cosine similarity of {@code query} with each gallery row (rows need not be normalised). */
    public static double[] cosine(float[] query, List<float[]> gallery) {
        double qn = norm(query);
        if (qn == 0) throw new IllegalArgumentException("query embedding is all zeros");
        double[] out = new double[gallery.size()];
        for (int i = 0; i < out.length; i++) {
            float[] g = gallery.get(i);
            if (g.length != query.length)
                throw new IllegalArgumentException("embedding sizes differ: " + g.length + " vs " + query.length);
            double gn = norm(g), dot = 0;
            for (int d = 0; d < g.length; d++) dot += ((double) query[d] / qn) * ((double) g[d] / gn);
            out[i] = gn == 0 ? 0 : dot;
        }
        return out;
    }

    public static List<Hit> topK(float[] query, List<float[]> gallery, int k, double logitScale) {
        double[] s = cosine(query, gallery);
        double max = Double.NEGATIVE_INFINITY;
        for (double v : s) max = Math.max(max, logitScale * v);
        double z = 0;
        double[] p = new double[s.length];
        for (int i = 0; i < s.length; i++) z += (p[i] = Math.exp(logitScale * s[i] - max));
        Integer[] idx = new Integer[s.length];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        java.util.Arrays.sort(idx, (a, b) -> s[a] != s[b] ? Double.compare(s[b], s[a]) : Integer.compare(a, b));
        List<Hit> hits = new ArrayList<>();
        for (int r = 0; r < Math.min(k, idx.length); r++) hits.add(new Hit(idx[r], s[idx[r]], p[idx[r]] / z));
        return hits;
    }
}

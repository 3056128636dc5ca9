package com.mobileclipkd.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Latency samples in milliseconds with the usual summary (mean, median, p90, min, max, std). */
public final class LatencyStats {
    private final List<Double> samples = new ArrayList<>();

    public synchronized void add(double ms) {
        if (!(ms >= 0) || Double.isInfinite(ms)) throw new IllegalArgumentException("latency must be >= 0: " + ms);
        samples.add(ms);
    }

    /** Times {@code r} and records it. */
    public double time(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        double ms = (System.nanoTime() - t0) / 1e6;
        add(ms);
        return ms;
    }

    public synchronized int count() {
        return samples.size();
    }

    public synchronized double last() {
        return samples.isEmpty() ? Double.NaN : samples.get(samples.size() - 1);
    }

    public synchronized double mean() {
        if (samples.isEmpty()) return Double.NaN;
        double s = 0;
        for (double v : samples) s += v;
        return s / samples.size();
    }

    /** Linear-interpolated percentile (numpy's default), q in [0, 100]. */
    public synchronized double percentile(double q) {
        if (samples.isEmpty()) return Double.NaN;
        List<Double> s = new ArrayList<>(samples);
        Collections.sort(s);
        double pos = q / 100.0 * (s.size() - 1);
        int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
        return s.get(lo) + (s.get(hi) - s.get(lo)) * (pos - lo);
    }

    public double median() {
        return percentile(50);
    }

    public synchronized double min() {
        return samples.isEmpty() ? Double.NaN : Collections.min(samples);
    }

    public synchronized double max() {
        return samples.isEmpty() ? Double.NaN : Collections.max(samples);
    }

    /** Population standard deviation. */
    public synchronized double std() {
        if (samples.isEmpty()) return Double.NaN;
        double m = mean(), s = 0;
        for (double v : samples) s += (v - m) * (v - m);
        return Math.sqrt(s / samples.size());
    }

    public String summary() {
        return String.format("n=%d mean=%.2f ms median=%.2f p90=%.2f min=%.2f max=%.2f",
                count(), mean(), median(), percentile(90), min(), max());
    }
}

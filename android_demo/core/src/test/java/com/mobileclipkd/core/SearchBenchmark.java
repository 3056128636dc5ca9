package com.mobileclipkd.core;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Desktop benchmark (not a test): top-10 search latency over 10k / 100k / 300k stored 512-d embeddings on the
 * calling thread (wall clock, and the thread's CPU time, which other processes on a shared machine do not
 * inflate), heap bytes per photo, and top-10 agreement with exact fp32 search. Command in
 * docs/phone_testing.md ("Search benchmark").
 *
 * <p>Rows are CLIP-like: 1,000 topic centres plus Gaussian noise of the same size, each row regenerated from its
 * own seed for the exact reference (no fp32 copy is kept).
 */
public final class SearchBenchmark {
    private static final int DIM = 512, TOPICS = 1000, QUERIES = 40;

    private SearchBenchmark() {
    }

    static float[] row(long i, float[][] centres) {
        Random r = new Random(i * 0x9E3779B97F4A7C15L);
        float[] c = centres[r.nextInt(centres.length)];
        float[] v = new float[DIM];
        for (int j = 0; j < DIM; j++) v[j] = c[j] + (float) r.nextGaussian();
        return v;
    }

    public static void main(String[] args) {
        int[] sizes = args.length > 0 ? Arrays.stream(args).mapToInt(Integer::parseInt).toArray()
                : new int[] {10_000, 100_000, 300_000};
        float[][] centres = Fakes.centres(TOPICS, DIM, 3);
        System.out.printf("java %s, %s, %d processors visible%n", System.getProperty("java.version"),
                System.getProperty("os.arch"), java.lang.Runtime.getRuntime().availableProcessors());
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        System.out.println("photos    median ms   p90 ms   median CPU ms   heap B/photo   top-10 agreement vs fp32");
        for (int n : sizes) {
            long before = usedHeap();
            PhotoIndex index = new PhotoIndex("bench", DIM);
            for (int i = 0; i < n; i++) index.put(i, 0, row(i, centres));
            index.trimToSize(); // as PhotoIndexer does at the end of a run
            long perPhoto = (usedHeap() - before) / n;
            float[][] queries = new float[QUERIES][];
            for (int q = 0; q < QUERIES; q++) queries[q] = row(-1 - q, centres);
            for (int w = 0; w < 20; w++) index.search(queries[w % QUERIES], 10); // JIT warm-up
            double[] ms = new double[QUERIES], cpuMs = new double[QUERIES];
            double agree = 0;
            for (int q = 0; q < QUERIES; q++) {
                long c0 = cpu.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                List<PhotoIndex.Hit> hits = index.search(queries[q], 10);
                ms[q] = (System.nanoTime() - t0) / 1e6;
                cpuMs[q] = (cpu.getCurrentThreadCpuTime() - c0) / 1e6;
                if (q < 10) agree += agreement(exact(n, centres, queries[q]), hits);
            }
            Arrays.sort(ms);
            Arrays.sort(cpuMs);
            System.out.printf("%7d   %9.2f   %6.2f   %13.2f   %12d   %.3f%n", n, ms[QUERIES / 2], ms[QUERIES * 9 / 10],
                    cpuMs[QUERIES / 2], perPhoto, agree / 10);
        }
    }

    private static long[] exact(int n, float[][] centres, float[] query) {
        float[] q = CompactEmbeddings.unit(query);
        long[] ids = new long[10];
        double[] best = new double[10];
        Arrays.fill(best, -2);
        for (int i = 0; i < n; i++) {
            float[] v = row(i, centres);
            double dot = 0, norm = 0;
            for (int j = 0; j < DIM; j++) {
                dot += v[j] * q[j];
                norm += (double) v[j] * v[j];
            }
            double s = dot / Math.sqrt(norm);
            if (s <= best[9]) continue;
            int p = 9;
            while (p > 0 && best[p - 1] < s) {
                best[p] = best[p - 1];
                ids[p] = ids[p - 1];
                p--;
            }
            best[p] = s;
            ids[p] = i;
        }
        return ids;
    }

    private static double agreement(long[] exact, List<PhotoIndex.Hit> hits) {
        int same = 0;
        for (PhotoIndex.Hit h : hits) for (long e : exact) same += h.id == e ? 1 : 0;
        return same / 10.0;
    }

    private static long usedHeap() {
        java.lang.Runtime rt = java.lang.Runtime.getRuntime();
        for (int i = 0; i < 4; i++) System.gc();
        return rt.totalMemory() - rt.freeMemory();
    }
}

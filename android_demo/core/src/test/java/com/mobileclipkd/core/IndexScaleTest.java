package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** 10,000 photos, compact-search agreement and memory, kill during save, panorama decode bounds. */
public class IndexScaleTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /** Exact fp32 cosine top-k rows (ties by row), the reference the int8 search is held to. */
    static int[] exactTopK(float[][] rows, float[] query, int k) {
        float[] q = CompactEmbeddings.unit(query);
        double[] s = new double[rows.length];
        for (int r = 0; r < rows.length; r++) {
            double dot = 0, norm = 0;
            for (int j = 0; j < q.length; j++) {
                dot += rows[r][j] * q[j];
                norm += (double) rows[r][j] * rows[r][j];
            }
            s[r] = dot / Math.sqrt(norm);
        }
        return java.util.stream.IntStream.range(0, rows.length).boxed()
                .sorted((a, b) -> s[a] != s[b] ? Double.compare(s[b], s[a]) : Integer.compare(a, b))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }

    static double agreement(int[] a, int[] b) {
        Set<Integer> x = Arrays.stream(a).boxed().collect(Collectors.toSet());
        return Arrays.stream(b).filter(x::contains).count() / (double) a.length;
    }

    @Test(timeout = 120_000)
    public void compactTop10AgreesWithExactFp32() {
        int n = 10_000, dim = 512, topics = 200;
        float[][] rows = Fakes.clustered(n, dim, topics, 1, null);
        float[][] queries = Fakes.clustered(100, dim, topics, 2, null);
        CompactEmbeddings c = new CompactEmbeddings(dim, n);
        for (float[] r : rows) c.add(r);
        double sum = 0;
        for (float[] q : queries) sum += agreement(exactTopK(rows, q, 10), c.topK(q, 10, null));
        double mean = sum / queries.length;
        System.out.println("IndexScaleTest: int8 top-10 agreement with fp32 over " + n + " photos: " + mean);
        assertTrue("top-10 agreement " + mean, mean >= 0.99);
        assertEquals(512 + 256 + 4, c.bytesPerRow());
    }

    @Test(timeout = 120_000)
    public void tenThousandPhotosIndexedSavedAndSearched() throws Exception {
        int n = 10_000, dim = 512;
        Fakes.Runtime rt = new Fakes.Runtime(dim);
        PhotoIndexStore store = new PhotoIndexStore(tmp.getRoot().toPath().resolve("index.bin"));
        PhotoIndex index = new PhotoIndex("m", dim);
        PhotoIndexer ix = new PhotoIndexer(EncoderSession.open("t", () -> rt), Fakes.tinyPreprocessor(),
                new Fakes.Source(40, 30));
        PhotoIndexer.Result r = ix.run(Fakes.library(0, n, 5), index, store, Fakes.QUIET);
        assertEquals(n, r.indexed);
        assertEquals(n, rt.imageCalls.get());
        float[][] stored = rt.imageEmbeddings.toArray(new float[0][]); // call i = photo id i
        PhotoIndex loaded = store.load("m", dim).index;
        assertEquals(n, loaded.size());
        assertTrue("index file " + Files.size(store.file) + " B", Files.size(store.file) <= (long) n * (dim * 3 / 2 + 20) + 1024);
        for (int qi = 0; qi < 20; qi++) {
            float[] q = stored[qi * 397];
            List<PhotoIndex.Hit> hits = loaded.search(q, 10);
            assertEquals("a photo is its own best match", qi * 397, hits.get(0).id);
            int[] exact = exactTopK(stored, q, 10);
            int[] got = hits.stream().mapToInt(h -> (int) h.id).toArray();
            assertTrue(Arrays.toString(exact) + " vs " + Arrays.toString(got), agreement(exact, got) >= 0.9);
            assertEquals("best match's cosine", 1f, hits.get(0).score, 2e-3f);
        }
        assertEquals(dim + dim / 2 + 4 + 16, index.arrayBytesPerPhoto());
        assertTrue("memory per photo over 1 KiB", index.arrayBytesPerPhoto() + 96 <= 1024); // + HashMap entry
    }

    @Test(timeout = 60_000)
    public void panoramaDecodeIsBoundedBeforeAllocation() throws Exception {
        DecodePlan p = DecodePlan.of(20000, 3000, 224);
        assertEquals("20000x3000 -> 1/4 -> 2987x448", p.toString());
        assertEquals(5000L * 750, p.maxDecodedPixels()); // 15 MB of ARGB, was 20000x3000 short-side only (~180 MB)
        assertEquals("8000x6000 -> 1/8 -> 597x448", DecodePlan.of(8000, 6000, 224).toString()); // 48 MP
        assertEquals("640x480 -> 1/1 -> 597x448", DecodePlan.of(640, 480, 224).toString());
        assertEquals("300x200 -> 1/1 -> 300x200", DecodePlan.of(300, 200, 224).toString()); // never upscaled
        try {
            DecodePlan.of(200_000, 300, 224);
            throw new AssertionError("an absurd strip was planned");
        } catch (IllegalArgumentException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("does not fit"));
        }
        Fakes.Source pano = new Fakes.Source(20000, 3000);
        PhotoIndex index = new PhotoIndex("m", 8);
        PhotoIndexer ix = new PhotoIndexer(EncoderSession.open("t", () -> new Fakes.Runtime(8)),
                new ImagePreprocessor(224, new double[] {0.5, 0.5, 0.5}, new double[] {0.25, 0.25, 0.25}, "NCHW"), pano);
        assertEquals(1, ix.run(Fakes.library(1, 1, 1), index, null, Fakes.QUIET).indexed);
        assertTrue("decoded " + pano.maxPixels.get() + " pixels", pano.maxPixels.get() <= 4_000_000);
    }

    @Test(timeout = 120_000)
    public void killDuringIndexSaveLeavesAReadableIndex() throws Exception {
        Path file = tmp.getRoot().toPath().resolve("index.bin");
        PhotoIndexStore store = new PhotoIndexStore(file);
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        int killedMidWrite = 0;
        for (int attempt = 0; attempt < 4; attempt++) {
            Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                    "com.mobileclipkd.core.IndexSaveChild", file.toString(), "20000", "256")
                    .redirectErrorStream(true).start();
            BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
            int saved = 0;
            for (String line; (line = out.readLine()) != null; ) {
                if (line.startsWith("saved ")) saved++;
                if (saved >= 1 && line.startsWith("saving ")) {
                    Thread.sleep(3 + attempt * 4); // somewhere inside the write + fsync
                    child.destroyForcibly();
                    break;
                }
            }
            child.waitFor();
            assertTrue("the child never saved", saved >= 1);
            if (temporaries(file) > 0) killedMidWrite++;
            PhotoIndexStore.Loaded l = store.load("kill-test", 256);
            assertTrue("after a kill: " + l.note, l.reused);
            assertEquals(20000, l.index.size());
        }
        System.out.println("IndexScaleTest: " + killedMidWrite + " of 4 kills hit a save in progress");
        assertTrue("no kill landed inside a save: the test proves nothing", killedMidWrite > 0);
        store.save(new PhotoIndex("kill-test", 256));
        assertEquals("a save removes the killed saves' temporaries", 0, temporaries(file));
        assertFalse(store.load("kill-test", 256).index.size() > 0);
    }

    private static long temporaries(Path file) throws Exception {
        try (Stream<Path> s = Files.list(file.getParent())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp")).count();
        }
    }
}

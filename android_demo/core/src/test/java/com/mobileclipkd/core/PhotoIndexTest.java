package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/** Incremental, persisted, cancellable photo index over a fake runtime and photo source. */
public class PhotoIndexTest {
    private static final int DIM = 32;

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    private static PhotoIndexer indexer(Fakes.Runtime rt, Fakes.Source src) {
        return new PhotoIndexer(EncoderSession.open("t", () -> rt), Fakes.tinyPreprocessor(), src);
    }

    @Test(timeout = 60_000)
    public void cancelMidIndexKeepsTheWorkAndResumes() throws Exception {
        Fakes.Runtime rt = new Fakes.Runtime(DIM);
        PhotoIndexStore store = new PhotoIndexStore(tmp.getRoot().toPath().resolve("index.bin"));
        PhotoIndex index = new PhotoIndex("m1", DIM);
        PhotoIndexer ix = indexer(rt, new Fakes.Source(64, 48));
        List<PhotoIndexer.Photo> lib = Fakes.library(1, 500, 10);
        List<String> progress = new ArrayList<>();
        PhotoIndexer.Result r = ix.run(lib, index, store, (done, total) -> {
            progress.add(done + " / " + total);
            if (done == 120) ix.cancel();
        });
        assertTrue(r.cancelled);
        assertEquals(120, r.indexed);
        assertEquals("0 / 500", progress.get(0));
        assertEquals("120 / 500", progress.get(progress.size() - 1));
        PhotoIndexStore.Loaded saved = store.load("m1", DIM);
        assertTrue(saved.note, saved.reused);
        assertEquals("the cancelled run's work was not saved", 120, saved.index.size());
        PhotoIndexer again = indexer(rt, new Fakes.Source(64, 48));
        PhotoIndexer.Result rest = again.run(lib, saved.index, store, Fakes.QUIET);
        assertEquals("only the photos not yet indexed run again", 380, rest.indexed);
        assertEquals(500, rt.imageCalls.get());
    }

    @Test(timeout = 60_000)
    public void incrementalAddRemoveChanged() throws Exception {
        Fakes.Runtime rt = new Fakes.Runtime(DIM);
        PhotoIndex index = new PhotoIndex("m1", DIM);
        List<PhotoIndexer.Photo> lib = Fakes.library(1, 100, 10);
        assertEquals(100, indexer(rt, new Fakes.Source(32, 32)).run(lib, index, null, Fakes.QUIET).indexed);
        List<PhotoIndexer.Photo> next = new ArrayList<>(lib.subList(5, 100)); // 5 deleted
        for (int i = 0; i < 3; i++) next.set(i, new PhotoIndexer.Photo(next.get(i).id, 11)); // 3 edited
        next.addAll(Fakes.library(1000, 7, 10)); // 7 new
        Fakes.Source src = new Fakes.Source(32, 32);
        src.failId = 1003; // one new photo is unreadable: skipped with its reason, the run goes on
        List<String> skipped = new ArrayList<>();
        PhotoIndexer.Result r = indexer(rt, src).run(next, index, null, new PhotoIndexer.Listener() {
            public void onProgress(int done, int total) {
            }

            public void onSkipped(PhotoIndexer.Photo p, String why) {
                skipped.add(p.id + " " + why);
            }
        });
        assertEquals(9, r.indexed);
        assertEquals(1, r.skipped);
        assertEquals(5, r.removed);
        assertEquals("[1003 IOException: unreadable photo 1003]", skipped.toString());
        assertEquals(101, index.size());
        assertFalse(index.contains(1));
        assertTrue(index.isCurrent(next.get(0).id, 11));
    }

    @Test(timeout = 60_000)
    public void searchRacingReindexWithSmallerLibrary() throws Exception {
        Fakes.Runtime rt = new Fakes.Runtime(DIM);
        PhotoIndex index = new PhotoIndex("m1", DIM);
        List<PhotoIndexer.Photo> big = Fakes.library(1, 2000, 1);
        indexer(rt, new Fakes.Source(16, 16)).run(big, index, null, Fakes.QUIET);
        List<PhotoIndexer.Photo> small = new ArrayList<>(big.subList(0, 300));
        small.addAll(Fakes.library(5000, 200, 1));
        Set<Long> everIndexed = new HashSet<>();
        for (PhotoIndexer.Photo p : big) everIndexed.add(p.id);
        for (PhotoIndexer.Photo p : small) everIndexed.add(p.id);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reindex = new Thread(() -> {
            try {
                indexer(rt, new Fakes.Source(16, 16)).run(small, index, null, Fakes.QUIET);
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        reindex.start();
        int searches = 0;
        while (reindex.isAlive() || searches < 50) {
            float[] q = Fakes.embeddingOf(searches, DIM);
            List<PhotoIndex.Hit> hits = index.search(q, 24);
            assertTrue(hits.size() <= 24);
            for (int i = 0; i < hits.size(); i++) {
                assertTrue("hit of a photo never indexed", everIndexed.contains(hits.get(i).id));
                if (i > 0) assertTrue("hits out of order", hits.get(i - 1).score >= hits.get(i).score);
            }
            searches++;
        }
        reindex.join();
        if (failure.get() != null) throw new AssertionError(failure.get());
        assertEquals(500, index.size());
        Set<Long> now = new HashSet<>();
        for (PhotoIndexer.Photo p : small) now.add(p.id);
        for (PhotoIndex.Hit h : index.search(Fakes.embeddingOf(1, DIM), 50))
            assertTrue("a removed photo is still found", now.contains(h.id));
    }

    @Test(timeout = 60_000)
    public void modelChangeReindexes() throws Exception {
        Manifest m = Manifest.read(Golden.dir().resolve("manifest.json"));
        String a = PhotoIndex.fingerprint(m, m.find("executorch", "image", "int8"));
        String b = PhotoIndex.fingerprint(m, m.find("tflite", "image", "int8"));
        assertFalse("two models share a fingerprint", a.equals(b));
        assertEquals(a, PhotoIndex.fingerprint(Manifest.read(Golden.dir().resolve("manifest.json")),
                m.find("executorch", "image", "int8")));
        Fakes.Runtime rt = new Fakes.Runtime(DIM);
        PhotoIndexStore store = new PhotoIndexStore(tmp.getRoot().toPath().resolve("index.bin"));
        List<PhotoIndexer.Photo> lib = Fakes.library(1, 50, 3);
        indexer(rt, new Fakes.Source(20, 20)).run(lib, new PhotoIndex(a, DIM), store, Fakes.QUIET);
        assertTrue(store.load(a, DIM).reused);
        PhotoIndexStore.Loaded other = store.load(b, DIM);
        assertFalse(other.reused);
        assertTrue(other.note, other.note.contains("another model"));
        assertEquals(0, other.index.size());
        assertEquals(50, indexer(rt, new Fakes.Source(20, 20)).run(lib, other.index, store, Fakes.QUIET).indexed);
        assertTrue(store.load(b, DIM).reused);
    }

    @Test(timeout = 60_000)
    public void corruptOrTruncatedIndexIsNotUsed() throws Exception {
        Path file = tmp.getRoot().toPath().resolve("index.bin");
        PhotoIndexStore store = new PhotoIndexStore(file);
        PhotoIndex index = new PhotoIndex("m", DIM);
        for (int i = 0; i < 20; i++) index.put(i, 1, Fakes.embeddingOf(i, DIM));
        store.save(index);
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length / 2] ^= 1;
        Files.write(file, bytes);
        PhotoIndexStore.Loaded l = store.load("m", DIM);
        assertFalse(l.reused);
        assertTrue(l.note, l.note.contains("checksum"));
        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 9));
        assertTrue(store.load("m", DIM).note.contains("unreadable"));
    }
}

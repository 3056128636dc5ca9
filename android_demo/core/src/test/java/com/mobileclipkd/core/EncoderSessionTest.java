package com.mobileclipkd.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.Test;

/** The session owns the runtime on one thread: the races of the old static ClipSession, on the desktop JVM. */
public class EncoderSessionTest {
    @Test(timeout = 30_000)
    public void closeDuringRunningInferenceWaitsThenRefuses() throws Exception {
        Fakes.Runtime rt = new Fakes.Runtime(8);
        EncoderSession<Fakes.Runtime> s = EncoderSession.open("test", () -> rt);
        rt.block = new CountDownLatch(1);
        Future<float[]> running = s.submit(r -> r.encodeText(new int[] {0, 7}));
        Future<float[]> queued = s.submit(r -> r.encodeText(new int[] {0, 8}));
        assertTrue("the call never started", rt.entered.await(10, TimeUnit.SECONDS));
        Thread closer = new Thread(s::close);
        closer.start();
        closer.join(300);
        assertTrue("close() returned while a call was running", closer.isAlive());
        assertFalse("runtime closed under a running call", rt.closed);
        rt.block.countDown();
        closer.join(10_000);
        assertFalse(closer.isAlive());
        assertArrayEquals(Fakes.embeddingOf(7, 8), running.get(), 0f);
        assertTrue("queued work must be dropped by close", queued.isCancelled());
        assertTrue(rt.closed);
        assertNull(rt.misuse, rt.misuse);
        assertEquals("[run, close]", rt.events.toString());
        try {
            s.call(r -> r.encodeText(new int[] {0, 1}));
            fail("a closed session accepted work");
        } catch (EncoderSession.ClosedException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("closed"));
        }
        s.close(); // idempotent
    }

    @Test(timeout = 30_000)
    public void twoScreensShareOneSessionOneCallAtATime() throws Exception {
        Fakes.Runtime rt = new Fakes.Runtime(16);
        EncoderSession<Fakes.Runtime> s = EncoderSession.open("shared", () -> rt);
        List<Throwable> errors = new ArrayList<>();
        Thread[] screens = new Thread[2];
        for (int k = 0; k < 2; k++) {
            final int screen = k;
            screens[k] = new Thread(() -> {
                try {
                    for (int i = 0; i < 300; i++) {
                        int token = screen * 1000 + i;
                        float[] e = s.call(r -> r.encodeText(new int[] {0, token}));
                        if (e[0] != Fakes.embeddingOf(token, 16)[0]) throw new AssertionError("wrong result");
                    }
                } catch (Throwable t) {
                    synchronized (errors) {
                        errors.add(t);
                    }
                }
            });
            screens[k].start();
        }
        for (Thread t : screens) t.join();
        assertTrue(errors.toString(), errors.isEmpty());
        assertEquals("the runtime ran two calls at once", 1, rt.maxInFlight.get());
        // one screen cancelling its queued work does not disturb the other
        rt.block = new CountDownLatch(1);
        rt.entered = new CountDownLatch(1);
        Future<float[]> other = s.submit(r -> r.encodeText(new int[] {0, 5}));
        assertTrue(rt.entered.await(10, TimeUnit.SECONDS));
        Future<float[]> mine = s.submit(r -> r.encodeText(new int[] {0, 6}));
        mine.cancel(false);
        rt.block.countDown();
        assertArrayEquals(Fakes.embeddingOf(5, 16), other.get(), 0f);
        assertEquals(5, s.call(r -> 5).intValue());
        s.close();
        assertNull(rt.misuse, rt.misuse);
    }

    @Test(timeout = 30_000)
    public void errorsOfTheRuntimeReachTheCallerAndTheThreadSurvives() throws Exception {
        EncoderSession<Fakes.Runtime> broken = EncoderSession.open("broken", () -> {
            throw new ExceptionInInitializerError("native library missing");
        });
        for (int i = 0; i < 2; i++) {
            try {
                broken.awaitLoaded();
                fail("a failed load was not reported");
            } catch (IllegalStateException e) {
                assertTrue(e.getMessage(), e.getMessage().contains("loading the broken runtime failed"));
                assertTrue(e.getCause() instanceof ExceptionInInitializerError);
            }
        }
        broken.close(); // nothing to close, no hang
        Fakes.Runtime rt = new Fakes.Runtime(4);
        EncoderSession<Fakes.Runtime> s = EncoderSession.open("ok", () -> rt);
        try {
            s.call(r -> {
                throw new OutOfMemoryError("fake");
            });
            fail("an Error of a call was swallowed");
        } catch (OutOfMemoryError expected) {
            // reached the caller
        }
        Future<Integer> f = s.submit(r -> {
            throw new IllegalArgumentException("bad input");
        });
        try {
            f.get();
            fail();
        } catch (ExecutionException e) {
            assertTrue(e.getCause() instanceof IllegalArgumentException);
        }
        assertEquals(3, s.call(r -> 3).intValue()); // the session thread survived both
        s.close();
    }
}

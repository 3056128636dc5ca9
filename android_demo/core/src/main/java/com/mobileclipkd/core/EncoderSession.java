package com.mobileclipkd.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Owns one runtime (an ExecuTorch {@code Module}, a LiteRT {@code Interpreter}, or a fake in the tests) on ONE
 * thread: loading, every call and closing run there, one at a time. LiteRT's Interpreter is not thread-safe and
 * ExecuTorch's {@code destroy()} throws while a method runs; serialising them here is what makes two screens,
 * an orphaned index loop and a model switch safe.
 *
 * <p>{@link #close()} refuses new work at once, cancels work that has not started, waits for the call that is
 * running and then closes the runtime on its thread. Work submitted after that fails with
 * {@link ClosedException}. An {@link Error} thrown by the runtime (an {@code ExceptionInInitializerError} from a
 * native library, an {@code OutOfMemoryError}) reaches the caller through the future instead of killing the
 * thread silently.
 */
public final class EncoderSession<R extends AutoCloseable> implements AutoCloseable {
    /** Work on a session that is closed or closing. */
    public static final class ClosedException extends IllegalStateException {
        ClosedException(String name) {
            super("the " + name + " session is closed: open the model again");
        }
    }

    /** One call on the runtime, run on the session's thread. */
    public interface Call<R, T> {
        T run(R runtime) throws Exception;
    }

    private final String name;
    private final ThreadPoolExecutor thread;
    private final Future<R> runtime;
    private boolean closed;

    private EncoderSession(String name, Callable<R> loader) {
        this.name = name;
        this.thread = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "encoder-session-" + name);
            t.setDaemon(true);
            return t;
        });
        this.runtime = thread.submit(loader);
    }

    /** Starts loading the runtime on the session's thread; calls queue behind the load. */
    public static <R extends AutoCloseable> EncoderSession<R> open(String name, Callable<R> loader) {
        return new EncoderSession<>(name, loader);
    }

    /** Queues {@code call} behind the load and any earlier call. Cancel the future to drop it before it starts. */
    public synchronized <T> Future<T> submit(Call<R, T> call) {
        if (closed) throw new ClosedException(name);
        return thread.submit(() -> call.run(loaded()));
    }

    /** {@link #submit} and wait: the call's exception or Error is rethrown as is. */
    public <T> T call(Call<R, T> call) throws Exception {
        try {
            return submit(call).get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) throw (Exception) cause;
            if (cause instanceof Error) throw (Error) cause;
            throw e;
        } catch (CancellationException e) {
            throw new ClosedException(name);
        }
    }

    /** Waits for the load; its failure (a missing file, an Error of the native library) is thrown here. */
    public void awaitLoaded() throws Exception {
        call(r -> null);
    }

    private R loaded() throws Exception {
        try {
            return runtime.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) throw (Exception) cause;
            throw new IllegalStateException("loading the " + name + " runtime failed: " + cause, cause);
        }
    }

    public synchronized boolean isClosed() {
        return closed;
    }

    /** Refuses new work, cancels queued work, waits for the running call, then closes the runtime on the
     * session's thread. Idempotent; a second caller returns at once. */
    @Override
    public void close() {
        Future<?> closing;
        synchronized (this) {
            if (closed) return;
            closed = true;
            List<Runnable> queued = new ArrayList<>();
            thread.getQueue().drainTo(queued);
            for (Runnable r : queued) ((Future<?>) r).cancel(false); // their callers get a ClosedException
            closing = thread.submit(this::closeRuntime);            // runs after the call that is running
            thread.shutdown();
        }
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    closing.get();
                    return;
                } catch (InterruptedException e) {
                    interrupted = true; // closing under a running call would be a use-after-free: keep waiting
                } catch (ExecutionException e) {
                    throw new IllegalStateException("closing the " + name + " runtime failed: " + e.getCause(),
                            e.getCause());
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    private Void closeRuntime() throws Exception {
        R r;
        try {
            r = runtime.get();
        } catch (ExecutionException e) {
            return null; // the load failed: nothing to close
        }
        r.close();
        return null;
    }
}

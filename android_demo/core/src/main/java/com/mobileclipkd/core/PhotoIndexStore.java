package com.mobileclipkd.core;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.CRC32;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;

/**
 * A {@link PhotoIndex} on disk, written atomically: the new index goes to a temporary file beside the old one,
 * is flushed to the device ({@code fsync}) and then renamed over it, so a kill or power cut at any moment leaves
 * either the previous index or the new one, never a mix. A CRC-32 over the file catches anything else (a
 * truncated copy, a bad sector). An index made by another model (fingerprint) or unreadable is not used: the
 * caller re-indexes, and {@link Loaded#note} says why.
 *
 * <p>Format (big-endian): magic {@code MCJIDX01}, fingerprint (modified UTF-8), dim, count, then per photo
 * id (long), modification time (long), scale (float), {@code dim} int8 codes and {@code (dim + 1) / 2} bytes of
 * 4-bit remainders ({@link CompactEmbeddings}); last the CRC-32 (long) of all bytes before it.
 */
public final class PhotoIndexStore {
    private static final long MAGIC = 0x4D434A4944583031L; // "MCJIDX01"
    public final Path file;

    public PhotoIndexStore(Path file) {
        this.file = file;
    }

    /** The outcome of {@link #load}: the index to use, whether it came from disk, and why not when it did not. */
    public static final class Loaded {
        public final PhotoIndex index;
        public final boolean reused;
        public final String note;

        Loaded(PhotoIndex index, boolean reused, String note) {
            this.index = index;
            this.reused = reused;
            this.note = note;
        }
    }

    /** The stored index when it was made with {@code fingerprint} and reads back whole, else an empty one. */
    public Loaded load(String fingerprint, int dim) {
        PhotoIndex empty = new PhotoIndex(fingerprint, dim);
        try (InputStream in = Files.newInputStream(file)) {
            PhotoIndex stored = read(in);
            if (!stored.fingerprint.equals(fingerprint) || stored.dim != dim)
                return new Loaded(empty, false, "the saved index was made by another model: re-indexing");
            return new Loaded(stored, true, "loaded " + stored.size() + " photos");
        } catch (NoSuchFileException e) {
            return new Loaded(empty, false, "no saved index yet");
        } catch (IOException | RuntimeException e) {
            return new Loaded(empty, false, "the saved index is unreadable (" + e.getMessage() + "): re-indexing");
        }
    }

    static PhotoIndex read(InputStream raw) throws IOException {
        CheckedInputStream checked = new CheckedInputStream(new BufferedInputStream(raw, 1 << 16), new CRC32());
        DataInputStream in = new DataInputStream(checked);
        if (in.readLong() != MAGIC) throw new IOException("not a photo index");
        String fingerprint = in.readUTF();
        int dim = in.readInt(), n = in.readInt();
        if (dim <= 0 || dim > 65536 || n < 0) throw new IOException("bad header (dim " + dim + ", count " + n + ")");
        PhotoIndex index = new PhotoIndex(fingerprint, dim, Math.min(n, 1 << 20));
        byte[] codes = new byte[dim + (dim + 1) / 2];
        for (int r = 0; r < n; r++) {
            long id = in.readLong(), modified = in.readLong();
            float scale = in.readFloat();
            in.readFully(codes);
            index.putRaw(id, modified, codes, 0, scale);
        }
        long crc = checked.getChecksum().getValue();
        long stored;
        try {
            stored = in.readLong();
        } catch (EOFException e) {
            throw new IOException("truncated");
        }
        if (stored != crc) throw new IOException("checksum mismatch");
        if (in.read() != -1) throw new IOException("trailing bytes");
        return index;
    }

    /** Writes {@code index} atomically (see the class comment). Removes temporaries a killed save left. */
    public void save(PhotoIndex index) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        removeTemporaries();
        Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp");
        boolean done = false;
        try {
            try (FileOutputStream fos = new FileOutputStream(tmp.toFile())) {
                CheckedOutputStream checked = new CheckedOutputStream(new BufferedOutputStream(fos, 1 << 16), new CRC32());
                DataOutputStream out = new DataOutputStream(checked);
                write(index, out);
                out.writeLong(checked.getChecksum().getValue());
                out.flush();
                fos.getFD().sync();
            }
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(tmp);
        }
    }

    private static void write(PhotoIndex index, DataOutputStream out) throws IOException {
        out.writeLong(MAGIC);
        out.writeUTF(index.fingerprint);
        out.writeInt(index.dim);
        index.read((n, ids, modified, rows) -> {
            out.writeInt(n);
            byte[] raw = new byte[rows.rawBytes()];
            for (int r = 0; r < n; r++) {
                out.writeLong(ids[r]);
                out.writeLong(modified[r]);
                out.writeFloat(rows.scale(r));
                rows.copyRaw(r, raw);
                out.write(raw);
            }
        });
    }

    /** Temporary files of saves that never finished (a killed process); only this store's own names. */
    public int removeTemporaries() throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (!Files.isDirectory(dir)) return 0;
        int n = 0;
        String glob = "." + file.getFileName() + ".*.tmp";
        try (DirectoryStream<Path> stale = Files.newDirectoryStream(dir, glob)) {
            for (Path p : stale) n += Files.deleteIfExists(p) ? 1 : 0;
        }
        return n;
    }
}

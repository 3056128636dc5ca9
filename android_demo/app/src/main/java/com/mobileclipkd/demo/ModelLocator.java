package com.mobileclipkd.demo;

import android.content.Context;
import android.content.pm.PackageManager;
import android.content.res.AssetManager;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/**
 * Where the exported models come from, in this order:
 * <ol>
 *   <li>a folder pushed with adb: {@code /sdcard/Android/data/com.mobileclipkd.demo/files/models/manifest.json}
 *       (the app's external files folder: no storage permission needed, survives reinstalls of the same build);</li>
 *   <li>the APK's {@code assets/models/} folder, copied into the app's private files once per installed APK
 *       (ExecuTorch and LiteRT load models from file paths).</li>
 * </ol>
 */
final class ModelLocator {
    static final String FOLDER = "models";

    private ModelLocator() {
    }

    /** The manifest.json to use, or null when neither source has one. */
    static File find(Context context) throws IOException {
        File external = context.getExternalFilesDir(null);
        if (external != null) {
            File pushed = new File(new File(external, FOLDER), "manifest.json");
            if (pushed.isFile()) return pushed;
        }
        AssetManager assets = context.getAssets();
        String[] bundled = assets.list(FOLDER);
        if (bundled == null || bundled.length == 0) return null;
        boolean hasManifest = false;
        for (String name : bundled) hasManifest |= name.equals("manifest.json");
        if (!hasManifest) return null;
        File target = new File(context.getFilesDir(), FOLDER);
        // copy once per installed APK: a stamp file holds the APK's last update time
        String stamp;
        try {
            stamp = Long.toString(context.getPackageManager().getPackageInfo(context.getPackageName(), 0).lastUpdateTime);
        } catch (PackageManager.NameNotFoundException e) {
            stamp = "unknown";
        }
        File stampFile = new File(target, ".copied-from-apk");
        File manifest = new File(target, "manifest.json");
        if (manifest.isFile() && stampFile.isFile() && stamp.equals(readSmall(stampFile))) return manifest;
        copyAssets(assets, FOLDER, target);
        try (OutputStream out = new FileOutputStream(stampFile)) {
            out.write(stamp.getBytes(StandardCharsets.UTF_8));
        }
        return manifest;
    }

    private static String readSmall(File f) throws IOException {
        return new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8);
    }

    /** Copies assets/{path} to {dest}; each file is written to a .part file, then renamed. */
    private static void copyAssets(AssetManager assets, String path, File dest) throws IOException {
        String[] children = assets.list(path);
        if (children != null && children.length > 0) {
            if (!dest.isDirectory() && !dest.mkdirs()) throw new IOException("cannot create " + dest);
            for (String child : children) copyAssets(assets, path + "/" + child, new File(dest, child));
            return;
        }
        File part = new File(dest.getPath() + ".part");
        try (InputStream in = assets.open(path); OutputStream out = new FileOutputStream(part)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) out.write(buf, 0, n);
        }
        if (!part.renameTo(dest)) throw new IOException("cannot write " + dest);
    }
}

package com.mobileclipkd.core;

import java.nio.file.Paths;

/** Child process of {@link IndexScaleTest#killDuringIndexSave}: saves generation after generation of an index
 * (every photo's modification time = the generation) until it is killed. */
public final class IndexSaveChild {
    private IndexSaveChild() {
    }

    public static void main(String[] args) throws Exception {
        PhotoIndexStore store = new PhotoIndexStore(Paths.get(args[0]));
        int n = Integer.parseInt(args[1]), dim = Integer.parseInt(args[2]);
        float[][] vectors = Fakes.clustered(n, dim, 50, 7, null);
        for (int g = 1; ; g++) {
            PhotoIndex index = new PhotoIndex("kill-test", dim);
            for (int i = 0; i < n; i++) index.put(i, g, vectors[i]);
            System.out.println("saving " + g);
            System.out.flush();
            store.save(index);
            System.out.println("saved " + g);
            System.out.flush();
        }
    }
}

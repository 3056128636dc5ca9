package com.mobileclipkd.core;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The export manifest ({@code manifest.json}, format "mobileclip-kd-export" version 1) written by
 * {@code python -m export.executorch|coreml|tflite}. Paths inside are relative to the manifest's folder.
 */
public final class Manifest {
    public static final String FORMAT = "mobileclip-kd-export";
    public static final int FORMAT_VERSION = 1;

    public static final class Preprocess {
        public final int imageSize;
        public final String resize, interpolation, crop, channelOrder, layout;
        public final double[] mean, std;
        public final double scale;

        Preprocess(Map<String, Object> m) {
            imageSize = intField(m, "image_size", "preprocess");
            resize = str(m, "resize", "shortest_side");
            interpolation = str(m, "interpolation", "bicubic");
            crop = str(m, "crop", "center");
            channelOrder = str(m, "channel_order", "RGB");
            layout = str(m, "layout", "NCHW");
            mean = Json.doubles(need(m, "mean", "preprocess"), "preprocess.mean");
            std = Json.doubles(need(m, "std", "preprocess"), "preprocess.std");
            scale = m.containsKey("scale") ? ((Number) m.get("scale")).doubleValue() : 1 / 255.0;
            if (!"shortest_side".equals(resize) || !"bicubic".equals(interpolation) || !"center".equals(crop)
                    || !"RGB".equals(channelOrder))
                throw new IllegalArgumentException("unsupported preprocessing " + resize + "/" + interpolation + "/"
                        + crop + "/" + channelOrder + " (this app implements shortest_side/bicubic/center/RGB)");
            if (Math.abs(scale - 1 / 255.0) > 1e-12)
                throw new IllegalArgumentException("unsupported preprocess.scale " + scale + " (expected 1/255)");
        }
    }

    public static final class Tokenizer {
        public final String type, vocab, merges;
        public final int vocabSize, contextLength, sotTokenId, eotTokenId, padTokenId;
        public final boolean lowerCase;

        Tokenizer(Map<String, Object> m) {
            type = str(m, "type", "clip-bpe");
            if (!"clip-bpe".equals(type)) throw new IllegalArgumentException("unsupported tokenizer type " + type);
            vocab = (String) need(m, "vocab", "tokenizer");
            merges = (String) need(m, "merges", "tokenizer");
            vocabSize = intField(m, "vocab_size", "tokenizer");
            contextLength = intField(m, "context_length", "tokenizer");
            sotTokenId = intField(m, "sot_token_id", "tokenizer");
            eotTokenId = intField(m, "eot_token_id", "tokenizer");
            padTokenId = intField(m, "pad_token_id", "tokenizer");
            lowerCase = !Boolean.FALSE.equals(m.get("lower_case"));
        }
    }

    public static final class Tensor {
        public final String name, dtype;
        public final int[] shape;

        Tensor(Map<String, Object> m) {
            name = (String) need(m, "name", "tensor");
            dtype = (String) need(m, "dtype", "tensor");
            shape = Json.ints(need(m, "shape", "tensor"), "shape");
        }
    }

    public static final class Model {
        public final String backend, tower, quantization, recipe, file, sha256;
        public final long sizeBytes;
        public final List<Tensor> inputs = new ArrayList<>(), outputs = new ArrayList<>();
        public final Map<String, Object> verification;

        @SuppressWarnings("unchecked")
        Model(Map<String, Object> m) {
            backend = (String) need(m, "backend", "model");
            tower = (String) need(m, "tower", "model");
            quantization = (String) need(m, "quantization", "model");
            recipe = str(m, "recipe", "");
            file = (String) need(m, "file", "model");
            sha256 = str(m, "sha256", "");
            sizeBytes = m.containsKey("size_bytes") ? ((Number) m.get("size_bytes")).longValue() : -1;
            for (Object t : Json.array(need(m, "inputs", "model"), "inputs")) inputs.add(new Tensor(Json.object(t, "input")));
            for (Object t : Json.array(need(m, "outputs", "model"), "outputs")) outputs.add(new Tensor(Json.object(t, "output")));
            verification = m.get("verification") instanceof Map ? (Map<String, Object>) m.get("verification")
                                                                  : Collections.emptyMap();
            if (!tower.equals("image") && !tower.equals("text"))
                throw new IllegalArgumentException("model tower must be image or text, got " + tower);
        }

        public boolean verified() {
            return Boolean.TRUE.equals(verification.get("passed"));
        }

        @Override
        public String toString() {
            return backend + "/" + tower + "/" + quantization + " (" + file + ")";
        }
    }

    public final String createdBy, modelName;
    public final int embedDim;
    public final double logitScale;
    public final Preprocess preprocess;
    public final Tokenizer tokenizer;
    public final List<Model> models = new ArrayList<>();

    public Manifest(Map<String, Object> m) {
        Object format = m.get("format");
        if (!FORMAT.equals(format))
            throw new IllegalArgumentException("not a mobileclip-kd export manifest (format=" + format + ")");
        int version = intField(m, "format_version", "manifest");
        if (version != FORMAT_VERSION)
            throw new IllegalArgumentException("manifest format_version " + version + " is not supported (want "
                    + FORMAT_VERSION + "): update the app");
        createdBy = str(m, "created_by", "");
        Object src = m.get("source_checkpoint");
        modelName = src instanceof Map ? str(Json.object(src, "source_checkpoint"), "model_name", "") : "";
        embedDim = intField(m, "embed_dim", "manifest");
        logitScale = ((Number) need(m, "logit_scale", "manifest")).doubleValue();
        preprocess = new Preprocess(Json.object(need(m, "preprocess", "manifest"), "preprocess"));
        tokenizer = new Tokenizer(Json.object(need(m, "tokenizer", "manifest"), "tokenizer"));
        for (Object o : Json.array(need(m, "models", "manifest"), "models")) models.add(new Model(Json.object(o, "model")));
    }

    public static Manifest parse(String json) {
        return new Manifest(Json.object(Json.parse(json), "manifest"));
    }

    public static Manifest read(Path path) throws IOException {
        try {
            return parse(new String(java.nio.file.Files.readAllBytes(path), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new IOException(path + ": " + e.getMessage(), e);
        }
    }

    /** The entry for (backend, tower, quantization), or null. */
    public Model find(String backend, String tower, String quantization) {
        for (Model m : models)
            if (m.backend.equals(backend) && m.tower.equals(tower) && m.quantization.equals(quantization)) return m;
        return null;
    }

    /** Backends that have both an image and a text model with {@code quantization}. */
    public List<String> backends(String quantization) {
        List<String> out = new ArrayList<>();
        for (Model m : models)
            if (!out.contains(m.backend) && find(m.backend, "image", quantization) != null
                    && find(m.backend, "text", quantization) != null) out.add(m.backend);
        return out;
    }

    static Object need(Map<String, Object> m, String key, String where) {
        if (!m.containsKey(key) || m.get(key) == null)
            throw new IllegalArgumentException(where + " has no '" + key + "'");
        return m.get(key);
    }

    static int intField(Map<String, Object> m, String key, String where) {
        Object v = need(m, key, where);
        if (!(v instanceof Number)) throw new IllegalArgumentException(where + "." + key + " is not a number");
        return ((Number) v).intValue();
    }

    static String str(Map<String, Object> m, String key, String dflt) {
        Object v = m.get(key);
        return v == null ? dflt : v.toString();
    }
}

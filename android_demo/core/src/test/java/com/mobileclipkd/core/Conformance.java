package com.mobileclipkd.core;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * Writes the exact input buffers the app hands ExecuTorch / LiteRT, for tests/export/test_conformance.py:
 * {@code java ... Conformance MANIFEST PHOTO CAPTIONS_TXT OUT_DIR}. For every executorch/tflite entry of the
 * manifest it writes {@code <backend>_<tower>_<quantization>[_<i>].bin} (little-endian, {@link ModelInput}'s
 * values) and {@code inputs.json} listing file, input name, shape and dtype. The photo goes through the app's path
 * (EXIF orientation, Pillow-exact preprocessing from the manifest), each caption through the app's tokenizer.
 */
public final class Conformance {
    private Conformance() {
    }

    public static void main(String[] args) throws IOException {
        Path manifestPath = Paths.get(args[0]), photo = Paths.get(args[1]), out = Paths.get(args[3]);
        List<String> captions = Files.readAllLines(Paths.get(args[2]), StandardCharsets.UTF_8);
        Manifest manifest = Manifest.read(manifestPath);
        Path folder = manifestPath.getParent();
        ClipTokenizer tokenizer;
        try (InputStream v = Files.newInputStream(folder.resolve(manifest.tokenizer.vocab));
             InputStream m = Files.newInputStream(folder.resolve(manifest.tokenizer.merges))) {
            tokenizer = ClipTokenizer.load(v, m, TextCleaner.fromResources(), manifest.tokenizer.contextLength);
        }
        float[] pixels = pixels(photo, ImagePreprocessor.fromManifest(manifest.preprocess));
        Files.createDirectories(out);
        List<String> rows = new ArrayList<>();
        for (Manifest.Model entry : manifest.models) {
            if (!entry.backend.equals("executorch") && !entry.backend.equals("tflite")) continue;
            String stem = entry.backend + "_" + entry.tower + "_" + entry.quantization;
            if (entry.tower.equals("image")) {
                rows.add(write(out, stem + ".bin", ModelInput.image(entry, pixels), entry, -1));
            } else {
                for (int i = 0; i < captions.size(); i++)
                    rows.add(write(out, stem + "_" + i + ".bin", ModelInput.text(entry, tokenizer.tokenize(captions.get(i))),
                            entry, i));
            }
        }
        Files.write(out.resolve("inputs.json"), ("[\n" + String.join(",\n", rows) + "\n]\n").getBytes(StandardCharsets.UTF_8));
        System.out.println("Conformance: wrote " + rows.size() + " input buffers to " + out);
    }

    /** The app's photo path on a PC: decode (ImageIO here, BitmapFactory on the phone), EXIF orientation, preprocess. */
    static float[] pixels(Path photo, ImagePreprocessor pre) throws IOException {
        BufferedImage img = ImageIO.read(photo.toFile());
        int w = img.getWidth(), h = img.getHeight();
        int orientation;
        try (InputStream in = Files.newInputStream(photo)) {
            orientation = ExifOrientation.read(in);
        }
        ExifOrientation.Oriented o = ExifOrientation.apply(img.getRGB(0, 0, w, h, null, 0, w), w, h, orientation);
        return pre.preprocess(o.argb, o.width, o.height);
    }

    private static String write(Path out, String file, ModelInput input, Manifest.Model entry, int caption) throws IOException {
        ByteBuffer b = input.buffer().order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer le = ByteBuffer.allocate(b.capacity()).order(ByteOrder.LITTLE_ENDIAN);
        if (input.floats != null) le.asFloatBuffer().put(input.floats);
        else le.asIntBuffer().put(input.ints);
        Files.write(out.resolve(file), le.array());
        StringBuilder shape = new StringBuilder();
        for (long s : input.shape) shape.append(shape.length() == 0 ? "" : ",").append(s);
        return String.format("{\"file\":\"%s\",\"backend\":\"%s\",\"tower\":\"%s\",\"quantization\":\"%s\",\"caption\":%d,"
                        + "\"name\":\"%s\",\"shape\":[%s],\"dtype\":\"%s\",\"model\":\"%s\"}", file, entry.backend, entry.tower,
                entry.quantization, caption, input.name, shape, input.dtype, entry.file);
    }
}

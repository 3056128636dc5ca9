package com.mobileclipkd.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.file.Files;
import org.junit.Test;

public class ManifestTest {
    @Test
    public void goldenSampleManifestParses() throws Exception {
        Manifest m = Manifest.read(Golden.dir().resolve("manifest.json"));
        assertEquals(512, m.embedDim);
        assertEquals(100.0, m.logitScale, 0);
        assertEquals(224, m.preprocess.imageSize);
        assertEquals("NCHW", m.preprocess.layout);
        assertEquals(77, m.tokenizer.contextLength);
        assertEquals(49407, m.tokenizer.eotTokenId);
        assertTrue(Files.isRegularFile(Golden.dir().resolve(m.tokenizer.vocab)));
        Manifest.Model img = m.find("executorch", "image", "int8");
        assertNotNull(img);
        assertEquals("image", img.inputs.get(0).name);
        assertEquals(4, img.inputs.get(0).shape.length);
        assertEquals("int32", m.find("tflite", "text", "int8").inputs.get(0).dtype);
        assertNull(m.find("executorch", "image", "fp32"));
        assertFalse(img.verified());
        assertEquals(3, m.backends("int8").size());
        ImagePreprocessor pre = ImagePreprocessor.fromManifest(m.preprocess);
        assertEquals(3 * 224 * 224, pre.preprocess(new int[] {0xFF336699}, 1, 1).length);
    }

    @Test
    public void badManifestsGiveClearErrors() {
        String[] bad = {
            "{\"format\": \"something-else\", \"format_version\": 1}",
            "{\"format\": \"mobileclip-kd-export\", \"format_version\": 2}",
            "{\"format\": \"mobileclip-kd-export\", \"format_version\": 1, \"embed_dim\": 4}",
            "{not json",
        };
        for (String s : bad) {
            try {
                Manifest.parse(s);
                fail("accepted " + s);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage(), e.getMessage().length() > 10);
            }
        }
    }
}

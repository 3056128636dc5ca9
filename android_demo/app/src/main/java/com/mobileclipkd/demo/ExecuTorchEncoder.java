package com.mobileclipkd.demo;

import com.mobileclipkd.core.Manifest;
import com.mobileclipkd.core.ModelInput;
import java.io.File;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/** ExecuTorch runtime: {@code Module.load(path, mmap, threads)} + {@code forward(EValue)} on a .pte program. */
final class ExecuTorchEncoder implements Encoder {
    private final Module module;

    ExecuTorchEncoder(File pte, Manifest.Model entry, int threads) {
        if (!pte.isFile()) throw new IllegalArgumentException("ExecuTorch program not found: " + pte);
        this.module = Module.load(pte.getAbsolutePath(), Module.LOAD_MODE_MMAP, threads);
    }

    @Override
    public float[] encodeImage(ModelInput pixels) {
        EValue[] out = module.forward(EValue.from(Tensor.fromBlob(pixels.floats, pixels.shape)));
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public float[] encodeText(ModelInput ids) {
        EValue[] out = module.forward(EValue.from(Tensor.fromBlob(ids.ints, ids.shape)));
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public void close() {
        module.destroy();
    }
}

package com.mobileclipkd.demo;

import com.mobileclipkd.core.Manifest;
import java.io.File;
import org.pytorch.executorch.EValue;
import org.pytorch.executorch.Module;
import org.pytorch.executorch.Tensor;

/** ExecuTorch runtime: {@code Module.load(path)} + {@code forward(EValue)} on a .pte program. */
final class ExecuTorchEncoder implements Encoder {
    private final Module module;
    private final long[] inputShape;

    ExecuTorchEncoder(File pte, Manifest.Model entry) {
        if (!pte.isFile()) throw new IllegalArgumentException("ExecuTorch program not found: " + pte);
        this.module = Module.load(pte.getAbsolutePath());
        int[] shape = entry.inputs.get(0).shape;
        this.inputShape = new long[shape.length];
        for (int i = 0; i < shape.length; i++) inputShape[i] = shape[i];
    }

    @Override
    public float[] encodeImage(float[] pixels) {
        EValue[] out = module.forward(EValue.from(Tensor.fromBlob(pixels, inputShape)));
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public float[] encodeText(int[] ids) {
        EValue[] out = module.forward(EValue.from(Tensor.fromBlob(ids, inputShape)));
        return out[0].toTensor().getDataAsFloatArray();
    }

    @Override
    public void close() {
        module.destroy();
    }
}

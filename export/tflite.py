"""Export a student to LiteRT (TFLite) flatbuffers with litert-torch (formerly ai-edge-torch).

    python -m export.tflite CKPT [--out DIR] [--quantize none|int8] [--recipe ...]

Steps: ``litert_torch.convert(tower, (example,))`` (``torch.export`` underneath; image input float32
NCHW, text input int32 ids) -> fp32 ``.tflite`` -> [int8 with an ai-edge-quantizer recipe] -> ``.tflite``.
int8 recipes (ai-edge-quantizer names):

* ``dynamic-wi8-afp32-float-depthwise`` (default, both towers): ``dynamic_wi8_afp32`` with the depthwise
  convolutions made weight-only (int8 weights, float compute): every other supported op gets int8
  per-channel weights and activations quantised on the fly by the kernels (the text tower's attention
  mask stays float). A depthwise conv's one-per-tensor dynamic input scale spans channels whose ranges
  differ widely (MobileNetV3's expand + Hardswish outputs); computing it in float halves the image
  tower's error at the same file size (README) -- as XNNPACK does in ExecuTorch's dynamic recipe;
* ``dynamic-wi8-afp32``: ai-edge-quantizer's recipe as is (depthwise convs dynamically quantised too);
* ``weight-only-wi8-afp32``: int8 weights, float compute.

(ai-edge-quantizer's ``static_wi8_ai8`` also turns the model's float input into an int8 one, which the
apps' float pre-processing does not feed, so it is not offered.)

Verification runs the written file in the LiteRT interpreter (``ai_edge_litert.interpreter``, or
``tflite_runtime.interpreter`` when that is what is installed).
"""
from __future__ import annotations

import enum
import os
from pathlib import Path

import numpy as np
import torch

from mobileclip.utils.errors import BackendMissingError
from mobileclip.utils.fileio import atomic_write

from .backends import Backend, Lowered
from .cli import cli_main
from .errors import ExportError
from .towers import INPUTS

SIGNATURE = "serving_default"


class Recipe(str, enum.Enum):
    FP32 = "fp32"
    DYNAMIC_WI8_AFP32_FLOAT_DW = "dynamic-wi8-afp32-float-depthwise"
    DYNAMIC_WI8_AFP32 = "dynamic-wi8-afp32"
    WEIGHT_ONLY_WI8_AFP32 = "weight-only-wi8-afp32"


def interpreter_class():
    """LiteRT's Interpreter: ``ai_edge_litert`` (current) or ``tflite_runtime`` (its predecessor)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise BackendMissingError("running .tflite files needs the LiteRT interpreter: pip install ai-edge-litert "
                                      "(or tflite-runtime)") from None
    return Interpreter


class TFLiteRunner:
    """One ``.tflite`` file's serving signature; ``runner(x)`` -> numpy output of its only output."""

    def __init__(self, path, num_threads: int | None = None):
        self.interpreter = interpreter_class()(model_path=str(path), num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        self.input_name = next(iter(self.runner.get_input_details()))
        details = self.runner.get_input_details()[self.input_name]
        self.input_dtype = details["dtype"]
        self.input_shape = list(details["shape"])

    def __call__(self, x) -> np.ndarray:
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        out = self.runner(**{self.input_name: x.astype(self.input_dtype, copy=False)})
        return next(iter(out.values()))


def _signature_input(model_bytes: bytes) -> str:
    interp = interpreter_class()(model_content=model_bytes)
    return next(iter(interp.get_signature_runner(SIGNATURE).get_input_details()))


class TFLiteBackend(Backend):
    name = "tflite"
    suffix = ".tflite"
    android = True
    packages = ("litert_torch", "ai_edge_quantizer")
    install_hint = "pip install litert-torch ai-edge-quantizer ai-edge-litert (or 'mobileclip-kd[export]')"
    Recipe = Recipe

    def require(self):
        super().require()
        interpreter_class()

    def default_recipe(self, tower, quantization):
        if quantization == "fp32":
            return Recipe.FP32
        return Recipe.DYNAMIC_WI8_AFP32_FLOAT_DW

    def check_recipe(self, recipe, tower, quantization):
        if (quantization == "fp32") != (recipe is Recipe.FP32):
            raise ExportError(f"tflite recipe {recipe.value} does not fit --quantize "
                              f"{'none' if quantization == 'fp32' else 'int8'}")

    def export(self, module, example, tower, quantization, recipe, calib, path: Path) -> Lowered:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import litert_torch

        with torch.no_grad():
            converted = litert_torch.convert(module.eval(), (example,))
        data = bytes(converted.model_content())
        info = {"converter": f"litert-torch {getattr(litert_torch, '__version__', '')}".strip()}
        if quantization == "int8":
            from ai_edge_quantizer import qtyping, quantizer, recipe as aq_recipe

            # recipe -> (ai-edge-quantizer recipe, ops then made weight-only: int8 weights, float compute)
            recipe_fn, weight_only_ops = {
                Recipe.DYNAMIC_WI8_AFP32: (aq_recipe.dynamic_wi8_afp32, ()),
                Recipe.DYNAMIC_WI8_AFP32_FLOAT_DW: (aq_recipe.dynamic_wi8_afp32, ("DEPTHWISE_CONV_2D",)),
                Recipe.WEIGHT_ONLY_WI8_AFP32: (aq_recipe.weight_only_wi8_afp32, ())}[recipe]
            qt = quantizer.Quantizer(data, recipe_fn())
            for op in weight_only_ops:
                qt.add_weight_only_config(".*", getattr(qtyping.TFLOperationName, op), 8)
            calibration = None
            if qt.need_calibration:
                name = _signature_input(data)
                samples = [{name: x.unsqueeze(0).numpy().astype(INPUTS[tower][1])}
                           for x in calib]
                calibration = qt.calibrate({SIGNATURE: samples})
                info["calibration_samples"] = len(samples)
            result = qt.quantize(calibration, enable_progress_bar=False, enable_progress_report=False)
            data = bytes(result.quantized_model)
            info["quantizer"] = "ai-edge-quantizer " + recipe_fn.__name__ + "".join(
                f" + weight-only {op}" for op in weight_only_ops)
        atomic_write(path, data)
        runner = TFLiteRunner(path)
        info["signature_input"] = {"name": runner.input_name, "dtype": np.dtype(runner.input_dtype).name,
                                   "shape": [int(s) for s in runner.input_shape]}
        expect = INPUTS[tower][1]
        if info["signature_input"]["dtype"] != expect:
            raise ExportError(f"tflite {tower} tower input is {info['signature_input']['dtype']}, expected {expect}")
        return Lowered(info=info, summary=f"input {runner.input_name} {info['signature_input']['dtype']} "
                       f"{info['signature_input']['shape']}")

    def load(self, path, tower, num_threads=None):
        return TFLiteRunner(path, num_threads=num_threads)

    def embedder(self, path, tower, module, lowered):
        return self.load(path, tower), "run in LiteRT interpreter (" + interpreter_class().__module__.split(".")[0] + ")"


BACKEND = TFLiteBackend()


def main(argv=None):
    return cli_main(BACKEND, argv, __doc__)


if __name__ == "__main__":
    main()

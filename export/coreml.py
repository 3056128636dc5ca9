"""Export a student to Core ML ``.mlpackage`` (ML program, minimum iOS 17, fp16 compute).

    python -m export.coreml CKPT [--out DIR] [--quantize none|int8] [--recipe ...]

Steps: ``torch.export`` -> ``coremltools.convert`` (ExportedProgram, ``minimum_deployment_target=iOS17``,
``compute_precision=FLOAT16``, or ``FLOAT32`` with ``--recipe fp32-compute``; inputs ``image`` float32 /
``input_ids`` int32, output ``embedding`` float32) -> [int8 weights with
``coremltools.optimize.coreml.linear_quantize_weights``] -> ``.mlpackage``.

Verification. Core ML's ``predict`` needs macOS. On macOS the written package is run with ``predict``.
On Linux it is checked statically, and every figure says so: the saved package's MIL program is
reloaded and its inputs/outputs (names, dtypes, shapes) and op types are checked; every weight is decoded
from the package (int8 -> ``(q - zero_point) * scale``) and matched by name to the PyTorch tensor it came
from; the PyTorch tower with those decoded weights computes the embeddings compared with fp32.
That measures the stored weights (fp16 or int8) exactly but not Core ML's fp16 arithmetic.
"""
from __future__ import annotations

import copy
import enum
import re
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mobileclip.utils.errors import BackendMissingError
from mobileclip.utils.shims import coremltools_private

from .backends import Backend, Lowered
from .cli import cli_main
from .errors import ExportError
from .files import atomic_save_dir
from .towers import INPUTS, strip_aliases

MIN_TARGET = "iOS17"
EXPECTED_DTYPES = {"image": "fp32", "input_ids": "int32", "embedding": "fp32"}


class Recipe(str, enum.Enum):
    FP16 = "fp16-compute"  # fp32 -> fp16 weights and compute (Core ML's default for ML programs)
    FP32 = "fp32-compute"  # fp32 weights and compute (CPU/GPU only: the Neural Engine computes in fp16)
    INT8_PER_CHANNEL = "int8-weights-per-channel"  # W8 linear symmetric per output channel, fp16 compute
    INT8_PER_TENSOR = "int8-weights-per-tensor"  # W8 linear symmetric, one scale per tensor


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold eval-mode BatchNorm into the preceding Conv2d (inside nn.Sequential), in place.

    Core ML folds them too; doing it first makes every Core ML weight a renamed PyTorch tensor, so the
    decoded weights can be matched by name.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return module


def _mil_name(key: str) -> str:
    return "p_" + key.replace(".", "_")


def _tensor_keys(module: nn.Module) -> dict[str, str]:
    """MIL-style name -> PyTorch state key (parameters and buffers)."""
    keys = dict(module.named_parameters()) | dict(module.named_buffers())
    return {_mil_name(k): k for k in keys}


def load_mil_program(path: Path):
    """The MIL program of a saved ``.mlpackage``, loaded from its files (not from memory)."""
    import coremltools as ct

    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
    spec = mlmodel.get_spec()
    return spec, coremltools_private.load_milproto(spec, spec.specificationVersion, mlmodel.weights_dir)


def _decode(op) -> np.ndarray | None:
    """The float value of a const or int8 constexpr op."""
    if op.op_type == "const":
        v = op.outputs[0].val
        return None if v is None else np.asarray(v, dtype=np.float32)
    if op.op_type == "constexpr_affine_dequantize":
        q = op.quantized_data.val.astype(np.float32)
        zp, scale, axis = op.zero_point.val.astype(np.float32), op.scale.val.astype(np.float32), int(op.axis.val)
        shape = [1] * q.ndim
        if np.ndim(scale):
            shape[axis] = -1
        return (q - zp.reshape(shape if np.ndim(zp) else [])) * scale.reshape(shape if np.ndim(scale) else [])
    if op.op_type == "constexpr_blockwise_shift_scale":
        q = op.data.val.astype(np.float32)
        scale = op.scale.val.astype(np.float32)
        off = op.offset.val.astype(np.float32) if op.offset is not None else 0.0
        reps = [q.shape[i] // scale.shape[i] for i in range(q.ndim)]
        scale = np.tile(scale, [1] * q.ndim) if reps == [1] * q.ndim else np.repeat(scale, reps[0], 0)
        return (q - off) * scale
    return None


def inspect_program(path: Path, tower: str, module: nn.Module) -> dict:
    """Check the saved program's interface and ops; decode its weights and match them to ``module``'s."""
    spec, prog = load_mil_program(path)
    fn = prog.functions["main"]
    ops = Counter(op.op_type for op in fn.operations)
    io = {}
    for kind, items in (("inputs", spec.description.input), ("outputs", spec.description.output)):
        for f in items:
            arr = f.type.multiArrayType
            dtype = {65568: "fp32", 65552: "fp16", 131104: "int32"}.get(arr.dataType, str(arr.dataType))
            io[f.name] = {"kind": kind, "shape": list(arr.shape), "dtype": dtype}
    names = _tensor_keys(module)
    state = dict(module.named_parameters()) | dict(module.named_buffers())
    decoded, quantized = {}, 0
    for op in fn.operations:
        if op.op_type not in ("const", "constexpr_affine_dequantize", "constexpr_blockwise_shift_scale"):
            continue
        base = re.sub(r"(_to_fp16)?(_quantized)?$", "", op.outputs[0].name)
        if base not in names:
            continue
        value = _decode(op)
        key = names[base]
        if value is None or value.size != state[key].numel():
            continue
        decoded[key] = torch.from_numpy(np.ascontiguousarray(value)).reshape(state[key].shape)
        quantized += op.op_type != "const"
    big = [k for k, v in state.items() if v.numel() >= 2048 and v.is_floating_point()]
    return {"io": io, "ops": dict(sorted(ops.items())), "decoded": decoded, "quantized_tensors": quantized,
            "matched": len(decoded), "tensors": len(state), "large_tensors": len(big),
            "large_matched": sum(k in decoded for k in big), "spec_version": spec.specificationVersion}


WEIGHT_THRESHOLD = 2048  # constants with fewer elements stay in float


def unquantisable_constants(mlmodel) -> list[str]:
    """Large constants that a linear int8 quantiser cannot represent and that are not weights: all zeros (scale
    0) or not finite (scale inf). The LSRA text tower's training form has one, the (1, 1, 77, 77) zeros the
    attention mask is filled into; quantising it wrote a NaN warning and a useless int8 constant."""
    import coremltools.optimize.coreml as cto

    meta = cto.get_weights_metadata(mlmodel, weight_threshold=WEIGHT_THRESHOLD)
    return sorted(name for name, m in meta.items()
                  if not np.isfinite(m.val).all() or not np.any(m.val))


class CoreMLBackend(Backend):
    name = "coreml"
    suffix = ".mlpackage"
    packages = ("coremltools", "coremltools.optimize.coreml")
    Recipe = Recipe

    def default_recipe(self, tower, quantization):
        return Recipe.FP16 if quantization == "fp32" else Recipe.INT8_PER_CHANNEL

    def precision(self, recipe, quantization):
        return "fp16" if recipe is Recipe.FP16 else quantization

    def check_recipe(self, recipe, tower, quantization):
        if (quantization == "fp32") != (recipe in (Recipe.FP16, Recipe.FP32)):
            raise ExportError(f"coreml recipe {recipe.value} does not fit --quantize "
                              f"{'none' if quantization == 'fp32' else 'int8'}")

    def load(self, path, tower, num_threads=None):
        """Core ML ``predict`` (macOS only: it needs the Core ML framework). ``num_threads`` is not applied."""
        if sys.platform != "darwin":
            raise BackendMissingError("Core ML models run only on macOS/iOS (coremltools predict needs the Core ML "
                                      "framework); on Linux use the executorch or tflite exports")
        try:
            import coremltools as ct
        except ImportError:
            raise BackendMissingError("running .mlpackage files needs coremltools (pip install coremltools)") from None
        mlmodel = ct.models.MLModel(str(path))
        name, dtype = INPUTS[tower]

        def fn(x):
            return np.asarray(mlmodel.predict({name: x.numpy().astype(dtype)})["embedding"])

        return fn

    @staticmethod
    def prepared(module: nn.Module) -> nn.Module:
        return fold_batchnorm(copy.deepcopy(module)).eval()

    def export(self, module, example, tower, quantization, recipe, calib, path: Path) -> Lowered:
        import coremltools as ct
        import coremltools.optimize.coreml as cto

        module = self.prepared(module)
        name, dtype = INPUTS[tower]
        with torch.no_grad():
            ep = strip_aliases(torch.export.export(module, (example,), strict=False).run_decompositions({}))
        compute = "float32" if recipe is Recipe.FP32 else "float16"
        mlmodel = ct.convert(
            ep, convert_to="mlprogram", minimum_deployment_target=getattr(ct.target, MIN_TARGET),
            compute_precision=getattr(ct.precision, compute.upper()),
            inputs=[ct.TensorType(name=name, shape=tuple(example.shape), dtype=np.dtype(dtype).type)],
            outputs=[ct.TensorType(name="embedding", dtype=np.float32)])
        if quantization == "int8":
            granularity = "per_channel" if recipe is Recipe.INT8_PER_CHANNEL else "per_tensor"
            config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
                mode="linear_symmetric", dtype="int8", granularity=granularity, weight_threshold=WEIGHT_THRESHOLD),
                op_name_configs={n: None for n in unquantisable_constants(mlmodel)})
            mlmodel = cto.linear_quantize_weights(mlmodel, config)
        mlmodel.short_description = f"mobileclip-kd {tower} tower ({quantization}, {recipe.value})"
        atomic_save_dir(path, lambda p: mlmodel.save(str(p)))
        return Lowered(info={"minimum_deployment_target": MIN_TARGET, "compute_precision": compute},
                       summary=f"ML program, {MIN_TARGET}, {compute.replace('float', 'fp')} compute")

    def embedder(self, path, tower, module, lowered):
        module = self.prepared(module)
        info = inspect_program(path, tower, module)
        name = INPUTS[tower][0]
        problems = []
        if name not in info["io"] or info["io"][name]["dtype"] != EXPECTED_DTYPES[name]:
            problems.append(f"input {name!r} {info['io'].get(name)} (want {EXPECTED_DTYPES[name]})")
        out = info["io"].get("embedding")
        if not out or out["dtype"] != "fp32" or len(out["shape"]) != 2 or out["shape"][0] != 1:
            problems.append(f"output 'embedding' {out} (want fp32 [1, D])")
        if info["large_matched"] < info["large_tensors"]:
            problems.append(f"only {info['large_matched']}/{info['large_tensors']} large weight tensors found by "
                            f"name in the package")
        if problems:
            raise ExportError(f"coreml {tower} tower: MIL program check failed: {'; '.join(problems)}")
        lowered.info.update({"mil_ops": info["ops"], "io": info["io"],
                             "weights_decoded": f"{info['matched']}/{info['tensors']}",
                             "int8_weight_tensors": info["quantized_tensors"]})
        if sys.platform == "darwin":
            return self.load(path, tower), "run with Core ML predict (macOS)"
        sim = copy.deepcopy(module)
        with torch.no_grad():
            state = sim.state_dict()
            for k, v in info["decoded"].items():
                state[k].copy_(v)

        def fn(x):
            with torch.no_grad():
                return sim(x).numpy()

        return fn, (f"Linux static check (Core ML predict not run, needs macOS): MIL program ops/dtypes/shapes; "
                    f"{info['matched']}/{info['tensors']} weights decoded from the .mlpackage "
                    f"({info['quantized_tensors']} int8) run in PyTorch fp32")


BACKEND = CoreMLBackend()


def main(argv=None):
    return cli_main(BACKEND, argv, __doc__)


if __name__ == "__main__":
    main()

"""Export a student to ExecuTorch ``.pte`` files delegated to XNNPACK.

    python -m export.executorch CKPT [--out DIR] [--quantize none|int8] [--recipe ...]

Steps (as in the ExecuTorch examples): ``torch.export`` -> [PT2E quantisation with the XNNPACK
quantizer: ``prepare_pt2e`` -> calibrate -> ``convert_pt2e``] -> ``to_edge_transform_and_lower`` with the
``XnnpackPartitioner`` -> ``to_executorch`` -> ``.pte``. int8 recipes (``--recipe image=NAME,text=NAME``):

* ``xnnpack-int8-dynamic`` (image default): int8 per-channel weights for every conv and Linear XNNPACK
  can run dynamically quantised (all but the depthwise convs, ~2 % of the weights), activations
  quantised per inference from their actual range -- no calibration, so no clipped outlier images;
* ``xnnpack-int8-static``: static int8, per-channel symmetric weights, activations calibrated on the
  calibration images (int8 end to end: usually the fastest on ARM, but on the ``make demo`` student it
  misses the verification gate -- README, "int8 recipes for the image tower");
* ``xnnpack-int8-static-conv``: static convs, dynamic Linear layers (head + projection);
* ``xnnpack-int8-dynamic-linear`` (text default): dynamically quantised int8 Linear layers only (the
  attention mask and softmax stay float: static quantisation would clip its -inf entries), plus a
  weight-only int8 token embedding (row-wise scales); ``xnnpack-int8-dynamic`` also fits the text tower.

The LSRA text tower is lowered in its export-friendly form (``mobileclip.models.lite_transformer.export_friendly``:
LayerNorm, convolutions, masks and EOT pooling in operators XNNPACK delegates; same outputs), so only the
embedding lookup and the ids' int->float cast run outside XNNPACK. The MobileNetV3 image tower is lowered as
:class:`DelegableImageTower` (Hardsigmoid with float constants, L2 normalisation without ``pow``/``sum``): all of
it in one XNNPACK subgraph.

Verification runs the written ``.pte`` in ExecuTorch's Python runtime (``executorch.runtime``).
"""
from __future__ import annotations

import copy
import enum
from pathlib import Path

import torch

from mobileclip.utils.errors import BackendMissingError
from mobileclip.utils.fileio import atomic_write
from mobileclip.utils.shims import executorch_private, torchao_private

from .backends import Backend, Lowered
from .cli import cli_main
from .errors import ExportError
from .towers import with_int8_embedding


class Recipe(str, enum.Enum):
    FP32 = "xnnpack-fp32"
    INT8_DYNAMIC = "xnnpack-int8-dynamic"  # dynamic per-channel on every supported conv and Linear
    INT8_STATIC = "xnnpack-int8-static"  # static per-channel weights + calibrated activations
    INT8_STATIC_CONV = "xnnpack-int8-static-conv"  # static convs, dynamic Linear (head + projection)
    INT8_DYNAMIC_LINEAR = "xnnpack-int8-dynamic-linear"  # dynamic, nn.Linear only (+ int8 embedding for text)


def _silence_executorch_logs():
    import logging

    for name in ("executorch", "torchao"):
        logging.getLogger(name).setLevel(logging.ERROR)


def delegation_summary(edge_program_manager) -> dict:
    """How much of the lowered graph XNNPACK runs: delegated vs non-delegated operator nodes."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge_program_manager.exported_program().graph_module)
    total = info.num_delegated_nodes + info.num_non_delegated_nodes
    df = info.get_operator_delegation_dataframe()
    non = {str(op): int(n) for op, n in zip(df["op_type"], df["occurrences_in_non_delegated_graphs"])
           if int(n) > 0 and str(op) != "Total"}
    return {"delegated_subgraphs": int(info.num_delegated_subgraphs), "delegated_nodes": int(info.num_delegated_nodes),
            "non_delegated_nodes": int(info.num_non_delegated_nodes),
            "delegated_fraction": round(info.num_delegated_nodes / total, 4) if total else 0.0,
            "non_delegated_ops": non}


def delegable(module, tower):
    """``module`` with an LSRA text tower or a MobileNetV3 image tower swapped for its XNNPACK-friendly copy
    (other modules unchanged)."""
    from mobileclip.models.image_encoder import MobileNetV3Image
    from mobileclip.models.lite_transformer import LiteTransformerText, export_friendly

    if tower == "image" and isinstance(getattr(module, "visual", None), MobileNetV3Image):
        return DelegableImageTower(module.visual).eval()
    if tower != "text" or not isinstance(getattr(module, "text", None), LiteTransformerText):
        return module
    friendly = export_friendly(module.text)
    return copy.deepcopy(module, memo={id(module.text): friendly})  # the copy holds ``friendly`` as .text


class _Hardsigmoid(torch.nn.Module):
    """``relu6(x + 3) / 6`` with float scalars. aten's own decomposition of ``hardsigmoid`` adds an int64
    constant 3 and casts it (a ``_to_dim_order_copy`` on a constant), which XNNPACK does not run: 16 such
    nodes were left on portable kernels in the MobileNetV3 tower (its squeeze-excite gates)."""

    def forward(self, x):
        return torch.nn.functional.relu6(x + 3.0) * (1.0 / 6.0)


class DelegableImageTower(torch.nn.Module):
    """Same outputs as ``ImageTower(visual)`` (to float rounding), in operators XNNPACK runs in one subgraph:
    Hardswish not in place (kept whole: XNNPACK has the op), Hardsigmoid as :class:`_Hardsigmoid`, and the final
    L2 normalisation as ``x / sqrt(mean(x*x) * D)`` (``F.normalize``'s ``pow``/``sum`` are not delegated and cut
    the graph in three). ``visual`` itself is not changed."""

    def __init__(self, visual):
        super().__init__()
        self.visual = copy.deepcopy(visual).eval()
        for parent in list(self.visual.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Hardswish):
                    setattr(parent, name, torch.nn.Hardswish(inplace=False))
                elif isinstance(child, torch.nn.Hardsigmoid):
                    setattr(parent, name, _Hardsigmoid())
        dim = self.visual.projection.out_features
        self.register_buffer("averager", torch.full((dim, 1), 1.0 / dim), persistent=False)

    def forward(self, image):
        x = self.visual.projection(self.visual.forward_features(image))
        return x / torch.sqrt((x * x) @ self.averager * float(x.shape[-1])).clamp(min=1e-12)


def _dynamic_quantizer():
    """``XNNPACKQuantizer`` that also annotates a conv consumed by a ReLU for dynamic int8.

    The stock quantizer leaves such a conv to its ``conv_relu`` pattern, which exists only for static
    quantisation, so in dynamic mode every conv -> ReLU (MobileNetV3's expand convs in blocks 2-6 and the
    first conv of each squeeze-excite) silently stays fp32: 0.77 M of the image tower's 4.8 M weights.
    XNNPACK runs a dynamically quantised conv followed by a separate ReLU (clamp) as well as any other
    conv, so annotate those too (2-D, non-depthwise only, the same rule the stock annotator applies).
    """
    from executorch.backends.xnnpack.quantizer import xnnpack_quantizer_utils as qutils
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    class DynamicConvReluQuantizer(XNNPACKQuantizer):
        def annotate(self, model):
            model = super().annotate(model)
            config = self.global_config
            for node in model.graph.nodes:
                if not executorch_private.is_conv_node(node) or executorch_private.is_annotated([node]):
                    continue
                weight = node.args[1]
                shape = weight.meta["val"].shape
                if len(shape) != 4 or qutils.is_depthwise_conv(shape, 1, False):
                    continue
                if not (len(node.users) == 1 and qutils.is_relu_node(next(iter(node.users)))):
                    continue
                node.meta["quantization_annotation"] = torchao_private.annotated(
                    {node.args[0]: qutils.get_input_act_qspec(config), weight: qutils.get_weight_qspec(config)})
                executorch_private.mark_annotated([node, weight])
            return model

    return DynamicConvReluQuantizer()


class ExecuTorchBackend(Backend):
    name = "executorch"
    suffix = ".pte"
    android = True
    packages = ("executorch", "executorch.exir", "executorch.backends.xnnpack.partition.xnnpack_partitioner",
                "torchao.quantization.pt2e")
    Recipe = Recipe

    def default_recipe(self, tower, quantization):
        if quantization == "fp32":
            return Recipe.FP32
        return Recipe.INT8_DYNAMIC if tower == "image" else Recipe.INT8_DYNAMIC_LINEAR

    def check_recipe(self, recipe, tower, quantization):
        if (quantization == "fp32") != (recipe is Recipe.FP32):
            raise ExportError(f"executorch recipe {recipe.value} does not fit --quantize "
                              f"{'none' if quantization == 'fp32' else 'int8'}")
        if tower == "text" and recipe in (Recipe.INT8_STATIC, Recipe.INT8_STATIC_CONV):
            raise ExportError("executorch recipe xnnpack-int8-static would quantise the text tower's attention "
                              "mask (-inf entries); use xnnpack-int8-dynamic-linear or xnnpack-int8-dynamic")

    def _quantize(self, module, example, tower, recipe, calib):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (XNNPACKQuantizer,
                                                                             get_symmetric_quantization_config)
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        if tower == "text":
            module = with_int8_embedding(module)
        quantizer = _dynamic_quantizer() if recipe is Recipe.INT8_DYNAMIC else XNNPACKQuantizer()
        if recipe in (Recipe.INT8_STATIC, Recipe.INT8_STATIC_CONV):
            quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True))
            if recipe is Recipe.INT8_STATIC_CONV:
                quantizer.set_module_type(torch.nn.Linear,
                                          get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        elif recipe is Recipe.INT8_DYNAMIC:
            quantizer.set_global(get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        else:
            quantizer.set_module_type(torch.nn.Linear,
                                      get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True))
        graph = torch.export.export(module, (example,), strict=False).module()
        prepared = prepare_pt2e(graph, quantizer)
        with torch.no_grad():
            # static: activation observers see the calibration set; dynamic: one pass records the
            # (constant) weight ranges, more would only repeat it
            static = recipe in (Recipe.INT8_STATIC, Recipe.INT8_STATIC_CONV)
            for x in calib if static else calib[:1]:
                prepared(x.unsqueeze(0))
        return convert_pt2e(prepared)

    def export(self, module, example, tower, quantization, recipe, calib, path: Path) -> Lowered:
        _silence_executorch_logs()
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        module = delegable(module, tower)
        with torch.no_grad():
            if quantization == "int8":
                module = self._quantize(module, example, tower, recipe, calib)
            ep = torch.export.export(module, (example,), strict=False)
            edge = to_edge_transform_and_lower(ep, partitioner=[XnnpackPartitioner()])
            info = delegation_summary(edge)
            program = edge.to_executorch()
        atomic_write(path, program.buffer)
        return Lowered(info=info, summary=f"XNNPACK runs {info['delegated_nodes']}/"
                       f"{info['delegated_nodes'] + info['non_delegated_nodes']} nodes "
                       f"({info['delegated_fraction']:.1%}) in {info['delegated_subgraphs']} subgraph(s)"
                       + (f"; CPU: {', '.join(f'{k} x{v}' for k, v in sorted(info['non_delegated_ops'].items()))}"
                          if info["non_delegated_ops"] else ""))

    def load(self, path, tower, num_threads=None):
        """``num_threads`` is not applied: XNNPACK's threadpool is one per process (``benchmarks.latency``
        resizes it before loading)."""
        try:
            method = load_pte(path)
        except ImportError as e:
            raise BackendMissingError(f"running .pte files needs executorch (pip install executorch): {e}") from None

        def fn(x):
            return method.execute([x.contiguous()])[0].numpy()

        return fn

    def embedder(self, path, tower, module, lowered):
        return self.load(path, tower), "run in ExecuTorch Python runtime (executorch.runtime, XNNPACK delegate)"


def load_pte(path):
    """The ``forward`` method of a ``.pte`` file in ExecuTorch's Python runtime."""
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(Path(path))
    return program.load_method("forward")


BACKEND = ExecuTorchBackend()


def main(argv=None):
    return cli_main(BACKEND, argv, __doc__)


if __name__ == "__main__":
    main()

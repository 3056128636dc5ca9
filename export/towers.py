"""Fixed-shape tower wrappers: image 1x3xSxS float32, text 1x77 int32 ids, both returning the L2-normalised
embedding; the int8 token embedding and the graph clean-up some converters need."""
from __future__ import annotations

import copy

import torch
from torch import nn

from mobileclip import get_tokenizer

# each tower's one input: (name, dtype) in every exported file
INPUTS = {"image": ("image", "float32"), "text": ("input_ids", "int32")}


class ImageTower(nn.Module):
    """``image`` (1, 3, S, S) float32, already normalised -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


class TextTower(nn.Module):
    """``input_ids`` (1, 77) int32 CLIP BPE ids -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, text: nn.Module):
        super().__init__()
        self.text = text

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text(input_ids)

    def token_embedding_owner(self) -> nn.Module:
        """The module whose ``token_embedding`` the int8 recipes replace."""
        return self.text


# LiteRT names every tensor of a .tflite file after the Python path of the module it came from
# ("export.common.ImageTower/mobileclip.image_encoder..."). The wrappers keep the path they were first
# exported under, so moving this code does not change exported files (the demo student's .tflite files
# are byte-identical to those made before export/common.py was split). Nothing imports export.common.
ImageTower.__module__ = TextTower.__module__ = "export.common"


class Int8RowwiseEmbedding(nn.Module):
    """Weight-only int8 token embedding: int8 table + one fp32 scale per row (symmetric).

    The lookup is an ``index_select`` on the int8 table followed by a multiply, so every runtime runs it
    with its stock gather kernel. The text tower's 49,408-row table is most of its weights; without this
    an "int8" text model would still carry it in fp32.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        self.register_buffer("qweight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.float())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1)
        rows = self.qweight.index_select(0, flat).to(torch.float32) * self.scale.index_select(0, flat)
        return rows.reshape(*ids.shape, self.qweight.shape[1])


def with_int8_embedding(tower: nn.Module) -> nn.Module:
    """A copy of a text tower (student or teacher: one with ``token_embedding_owner()``) whose token embedding
    is :class:`Int8RowwiseEmbedding`."""
    tower = copy.deepcopy(tower)
    owner = tower.token_embedding_owner()
    owner.token_embedding = Int8RowwiseEmbedding(owner.token_embedding.weight.detach())
    return tower


def example_input(tower: str, image_size: int, context_length: int = 77) -> torch.Tensor:
    if tower == "image":
        return torch.zeros(1, 3, image_size, image_size, dtype=torch.float32)
    tok = get_tokenizer(context_length)
    return tok(["a photo of a cat."]).to(torch.int32)


def io_spec(tower: str, image_size: int, embed_dim: int, context_length: int = 77) -> dict:
    shape = [1, 3, image_size, image_size] if tower == "image" else [1, context_length]
    inp = {"name": INPUTS[tower][0], "shape": shape, "dtype": INPUTS[tower][1]}
    return {"inputs": [inp], "outputs": [{"name": "embedding", "shape": [1, embed_dim], "dtype": "float32"}]}


def wrap_towers(model) -> dict[str, nn.Module]:
    return {"image": ImageTower(model.visual).eval(), "text": TextTower(model.text).eval()}


def strip_aliases(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Rewrite two no-op spellings some converters reject: drop ``aten.alias`` (a full-length slice becomes
    one) and spell ``aten.__and__`` on the boolean attention masks as ``aten.logical_and``."""
    gm = ep.graph_module
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target in (torch.ops.aten.alias.default, torch.ops.aten.alias_copy.default):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            changed = True
        elif node.target == torch.ops.aten.__and__.Tensor and all(
                getattr(a, "meta", {}).get("val") is not None and a.meta["val"].dtype == torch.bool for a in node.args):
            node.target = torch.ops.aten.logical_and.default
            changed = True
    if changed:
        gm.graph.lint()
        gm.recompile()
    return ep


"""Export the teacher through the students' pipeline, so latency tables compare like with like.

``python -m export.teacher TEACHER --out DIR --backends executorch,tflite [--quantize int8]``

TEACHER is any single teacher spec (docs/teachers.md): an HF ``CLIPModel`` or ``SiglipModel`` (hub name,
``save_pretrained`` folder), an open_clip model (``open_clip:MODEL/WEIGHTS``), or a random-weight architecture
(``vit-b-32-random``, ``siglip-base-patch16-224-random``, ``open_clip:MODEL/random``: right for latency and never
for accuracy). Its towers are wrapped like the student's: image ``1x3xSxS`` float32 (normalised pixels), text
``1x77`` int32 CLIP BPE ids, both returning the L2-normalised embedding. A text tower that reads another tokenizer's
ids (SigLIP's SentencePiece, Gemma) cannot take the pipeline's CLIP ids: export its image tower (``--towers image``).
An ensemble is exported member by member (its latency is the members' sum). HF CLIP's text tower passes no padding
mask: CLIP's text transformer is causal and pools at the end-of-text token, which attends only to the tokens before
it, so the padding after it cannot change the embedding (verification checks it against
:class:`mobileclip.models.teacher.Teacher`, which masks the padding); open_clip's reads the zero-padded 77 ids.
Each backend then quantises (optionally), lowers, verifies against the PyTorch teacher with the same gates as a
student, and writes ``DIR/manifest.json`` with ``"role": "teacher"`` -- a folder of its own, so a student's
manifest is never mixed with the teacher's. ``python -m benchmarks.latency --teacher-export DIR`` reads it.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mobileclip.models.options import TEACHER_SPECS
from mobileclip.models.teacher import RANDOM_VIT_B_32

from mobileclip.utils.cli import add_threads
from mobileclip.utils.errors import MobileClipError, cli_errors

from .backends import BACKENDS, get_backend
from .errors import ExportError, export_faults
from .manifest import QUANTIZATIONS, TOWERS, manifest_path, teacher_base_manifest
from .pipeline import _Steps, check_options, export_model
from .verify import Thresholds

PROG = "python -m export.teacher"


class TeacherImageTower(nn.Module):
    """``image`` (1, 3, S, S) float32, already normalised -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, clip):
        super().__init__()
        self.vision_model, self.visual_projection = clip.vision_model, clip.visual_projection

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        pooled = self.vision_model(pixel_values=image).pooler_output
        return F.normalize(self.visual_projection(pooled), dim=-1)


class SiglipImageTower(nn.Module):
    """SigLIP's image tower: the attention-pooled (MAP head) output is the embedding."""

    def __init__(self, model):
        super().__init__()
        self.vision_model = model.vision_model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.vision_model(pixel_values=image).pooler_output, dim=-1)


class OpenClipImageTower(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image(image), dim=-1)


class OpenClipTextTower(nn.Module):
    """``input_ids`` (1, 77) int32 CLIP BPE ids (zero-padded, as open_clip's tokenizer gives them) -> (1, D)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_text(input_ids.long()), dim=-1)

    def token_embedding_owner(self) -> nn.Module:
        return getattr(self.model, "text", self.model)


class TeacherTextTower(nn.Module):
    """``input_ids`` (1, 77) int32 CLIP BPE ids -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, clip):
        super().__init__()
        self.text_model, self.text_projection = clip.text_model, clip.text_projection

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pooled = self.text_model(input_ids=input_ids.long()).pooler_output  # causal: padding after EOT is inert
        return F.normalize(self.text_projection(pooled), dim=-1)

    def token_embedding_owner(self) -> nn.Module:
        """The module whose ``token_embedding`` the int8 recipes replace."""
        return self.text_model.embeddings


BMM_ATTENTION = "mobileclip_bmm"


def bmm_attention(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Transformers' eager attention written with 3-D ``bmm`` (the student's form): the 4-D ``matmul`` of the
    stock one lowers to ``expand_copy`` + ``bmm``, and XNNPACK does not delegate ``expand_copy``, which cut the
    teacher's ExecuTorch graph into 28 delegated pieces. Inference only (no dropout); same outputs."""
    b, h, length, d = query.shape
    q, k, v = (t.reshape(b * h, length, d) for t in (query, key, value))
    weights = torch.bmm(q, k.transpose(1, 2)) * scaling
    if attention_mask is not None:
        weights = (weights.view(b, h, length, length) + attention_mask).view(b * h, length, length)
    out = torch.bmm(weights.softmax(-1), v).view(b, h, length, d).transpose(1, 2)
    return out, None


def check_exportable(teacher, towers) -> None:
    """One line before any export: a NaFlex model, or a text tower that reads its own tokenizer's ids."""
    family = getattr(teacher, "family", "hf-clip")
    if getattr(teacher, "naflex", False):
        raise ExportError(f"{teacher.label}: SigLIP2 NaFlex (variable patch count) has no fixed-shape export here")
    if "text" in towers and family != "hf-clip" and not getattr(teacher, "pass_ids", False):
        raise ExportError(f"{teacher.label}: its text tower reads its own tokenizer's ids, not the pipeline's CLIP "
                          "BPE ids -- export the image tower with --towers image")


def wrap_teacher(teacher) -> dict[str, nn.Module]:
    """The two towers of an export-friendly copy of the teacher: every LayerNorm written as mean, subtract, rsqrt
    (:class:`mobileclip.models.lite_transformer.DecomposedLayerNorm`, as the student's text tower), and for HF models
    attention with 3-D products (:func:`bmm_attention`, registered with transformers' ``AttentionInterface``, and
    eager's additive mask through ``AttentionMaskInterface``: an unregistered name would get no causal mask; SDPA's
    mask handling adds ``any``/``where`` ops and eager's 4-D matmul ``expand_copy`` ops that XNNPACK does not
    delegate), so the teacher is not measured on portable kernels the student avoids. Same outputs within the fp32
    gate. open_clip models keep their own attention."""
    from mobileclip.models.lite_transformer import DecomposedLayerNorm

    family = getattr(teacher, "family", "hf-clip")
    model = copy.deepcopy(teacher.clip)
    if family in ("hf-clip", "hf-siglip"):
        from transformers import AttentionInterface, AttentionMaskInterface
        from transformers.masking_utils import eager_mask

        AttentionInterface.register(BMM_ATTENTION, bmm_attention)
        AttentionMaskInterface.register(BMM_ATTENTION, eager_mask)  # the causal text mask, as eager attention gets it
        model.set_attn_implementation(BMM_ATTENTION)
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, nn.LayerNorm):
                setattr(mod, child_name, DecomposedLayerNorm(child))
    if family == "open_clip":
        return {"image": OpenClipImageTower(model).eval(), "text": OpenClipTextTower(model).eval()}
    if family == "hf-siglip":
        return {"image": SiglipImageTower(model).eval()}
    return {"image": TeacherImageTower(model).eval(), "text": TeacherTextTower(model).eval()}


def weights_sha256(module: nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes): identifies the teacher's weights."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


@dataclass
class TeacherExportConfig:
    teacher: str
    out: Path
    backends: list[str] = field(default_factory=lambda: ["executorch", "tflite"])
    quantize: str = "none"
    towers: list[str] = field(default_factory=lambda: list(TOWERS))
    calibration: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    per_class: int = 4
    n_calib: int = 32


def check_out(out: Path) -> None:
    """Refuse a folder whose manifest describes a student: the teacher gets a folder of its own."""
    path = manifest_path(out)
    if path.is_file():
        import json
        try:
            role = json.loads(path.read_text()).get("role", "student")
        except (json.JSONDecodeError, AttributeError):
            raise ExportError(f"{path} exists and is not a readable manifest; choose another --out") from None
        if role != "teacher":
            raise ExportError(f"{path} describes a student export; give the teacher a folder of its own")


def export_teacher(cfg: TeacherExportConfig) -> dict:
    """Export the teacher's towers with every backend of ``cfg``; returns the merged manifest.
    Raises :class:`VerificationError` after writing files and manifest when a gate fails."""
    from mobileclip.models.teacher import load_teacher
    from mobileclip.models.teacher_spec import parse_teacher_spec

    out = Path(cfg.out)
    backends = [get_backend(b) for b in cfg.backends]  # unknown names: one line before any work
    options = {b.name: check_options(b, cfg.quantize, None, cfg.towers) for b in backends}
    check_out(out)
    if parse_teacher_spec(cfg.teacher).family == "ensemble":
        raise ExportError(f"{cfg.teacher} is an ensemble: export each member (python -m export.teacher MEMBER); "
                          "its latency is the sum of the members'")
    print(f"loading teacher {cfg.teacher}", flush=True)
    teacher = load_teacher(cfg.teacher)
    check_exportable(teacher, cfg.towers)
    base = teacher_base_manifest(teacher, cfg.teacher, weights_sha256(teacher.clip))
    modules = wrap_teacher(teacher)
    manifest = None
    for backend in backends:
        towers, quantization, recipes = options[backend.name]
        step = _Steps(5)
        step(f"teacher {teacher.label} (embed {teacher.embed_dim}, image {teacher.image_size}px, "
             f"context {teacher.context_length}), sha256 {base['source_checkpoint']['sha256'][:12]}…")
        manifest = export_model(backend, teacher, modules, base, out, towers, quantization, recipes,
                                teacher.context_length, cfg.calibration, cfg.thresholds, cfg.per_class, cfg.n_calib,
                                step)
    return manifest


def parse_args(argv=None) -> TeacherExportConfig:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("teacher", help=f"a teacher spec ({TEACHER_SPECS}; not an ensemble), e.g. {RANDOM_VIT_B_32} "
                   "(ViT-B/32 architecture, random weights: latency only)")
    p.add_argument("--out", required=True, help="output folder (not a student's export folder)")
    p.add_argument("--backends", default="executorch,tflite",
                   help=f"comma-separated, from {', '.join(BACKENDS)} (litert = tflite) (default: %(default)s)")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), default="none",
                   help="none: fp32; int8: each backend's default int8 recipe (default: none)")
    p.add_argument("--towers", default="image,text", help="comma-separated towers (default: image,text)")
    p.add_argument("--calibration", default=None, metavar="DATA",
                   help="verification/calibration data, as for python -m export.executorch (default: sample photos)")
    add_threads(p)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    split = lambda v: [x.strip() for x in v.split(",") if x.strip()]  # noqa: E731
    return TeacherExportConfig(teacher=a.teacher, out=Path(a.out), backends=split(a.backends), quantize=a.quantize,
                               towers=split(a.towers), calibration=a.calibration)


def main(argv=None):
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # torch/executorch pytree deprecation chatter
    with cli_errors("export.teacher"):
        cfg = parse_args(argv)
        if not cfg.backends:
            raise MobileClipError("--backends is empty")
        with export_faults(cfg.out):  # Ctrl-C, a full disk: one line; the folder keeps its previous export
            return export_teacher(cfg)


if __name__ == "__main__":
    main()

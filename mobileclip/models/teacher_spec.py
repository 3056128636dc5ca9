"""The ``--teacher`` grammar: which frozen model(s) a student distils from, parsed before anything loads.

::

    spec      := "ensemble:" single ("," single)+  |  single
    single    := "open_clip:" MODEL ["/" WEIGHTS]      create_model_and_transforms(MODEL, pretrained=WEIGHTS)
               | "open_clip:local-dir:" DIR            open_clip's own schemas (no WEIGHTS: the folder/repo has them)
               | "open_clip:hf-hub:" ORG/REPO
               | "hf:" NAME_OR_DIR                     CLIPModel, SiglipModel or Siglip2Model (the config's model_type)
               | RANDOM_NAME                           an architecture with random weights (params and latency only)
               | NAME_OR_DIR                           as "hf:" (the specs of before keep working)
    WEIGHTS   := an open_clip pretrained tag (laion2b_s34b_b79k) | a local file | "random"

``WEIGHTS`` starts after the first ``/`` of the open_clip part, so a relative file reads
``open_clip:ViT-B-32/weights/open_clip_pytorch_model.bin`` and an absolute one ``open_clip:ViT-B-32//abs/path.bin``.
Ensemble members are separated by commas (a path with a comma cannot be a member).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..utils.errors import TeacherLoadError

RANDOM_VIT_B_32 = "vit-b-32-random"
RANDOM_SIGLIP_B16 = "siglip-base-patch16-224-random"
RANDOM_SIGLIP2_B16 = "siglip2-base-patch16-224-random"
RANDOM_NAMES = (RANDOM_VIT_B_32, RANDOM_SIGLIP_B16, RANDOM_SIGLIP2_B16)
OPEN_CLIP_SCHEMAS = ("local-dir:", "hf-hub:")
LOCAL_FILE_HINT = "open_clip:{model}/path/to/open_clip_pytorch_model.bin"


@dataclass(frozen=True)
class TeacherSpec:
    """One parsed spec. ``family``: ``hf`` | ``open_clip`` | ``random`` | ``ensemble``; ``name``: the HF name/dir,
    the open_clip model or the random architecture; ``weights``: open_clip's WEIGHTS (None if not given);
    ``members``: an ensemble's parsed members."""

    family: str
    name: str = ""
    weights: str | None = None
    members: tuple["TeacherSpec", ...] = ()

    def canonical(self) -> str:
        """The spec written out in full (``hf:`` explicit, local paths absolute): equal specs name the same teacher."""
        if self.family == "ensemble":
            return "ensemble:" + ",".join(m.canonical() for m in self.members)
        if self.family == "random":
            return self.name
        if self.family == "hf":
            return "hf:" + (os.path.abspath(self.name) if os.path.isdir(self.name) else self.name)
        name = self.name
        if name.startswith("local-dir:"):
            name = "local-dir:" + os.path.abspath(name[len("local-dir:"):])
        weights = self.weights
        if weights and weights != "random" and os.path.isfile(weights):
            weights = os.path.abspath(weights)
        return f"open_clip:{name}" + (f"/{weights}" if weights else "")


def _single(text: str, whole: str) -> TeacherSpec:
    if not text:
        raise TeacherLoadError(f"--teacher {whole!r}: an empty teacher spec")
    if text.startswith("ensemble:"):
        raise TeacherLoadError(f"--teacher {whole!r}: an ensemble cannot be a member of an ensemble")
    if text.startswith("open_clip:"):
        rest = text[len("open_clip:"):]
        if rest.startswith(OPEN_CLIP_SCHEMAS):
            return TeacherSpec("open_clip", rest)
        model, sep, weights = rest.partition("/")
        if not model:
            raise TeacherLoadError(f"--teacher {whole!r}: open_clip:MODEL[/WEIGHTS] needs a MODEL (e.g. ViT-B-32)")
        if sep and not weights:
            raise TeacherLoadError(f"--teacher {whole!r}: nothing after '/': give a pretrained tag or a local file")
        return TeacherSpec("open_clip", model, weights or None)
    if text.startswith("hf:"):
        if not text[3:]:
            raise TeacherLoadError(f"--teacher {whole!r}: hf: needs a hub name or a save_pretrained directory")
        return TeacherSpec("hf", text[3:])
    if text in RANDOM_NAMES:
        return TeacherSpec("random", text)
    return TeacherSpec("hf", text)


def parse_teacher_spec(spec: str) -> TeacherSpec:
    """``--teacher`` text -> :class:`TeacherSpec`; a malformed spec is one line (:class:`TeacherLoadError`)."""
    spec = str(spec).strip()
    if not spec.startswith("ensemble:"):
        return _single(spec, spec)
    parts = [p.strip() for p in spec[len("ensemble:"):].split(",")]
    members = tuple(_single(p, spec) for p in parts)
    if len(members) < 2:
        raise TeacherLoadError(f"--teacher {spec!r}: an ensemble needs two or more comma-separated teachers")
    return TeacherSpec("ensemble", members=members)


def canonical_teacher_spec(spec: str) -> str:
    return parse_teacher_spec(spec).canonical()

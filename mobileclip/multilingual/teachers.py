"""Frozen teacher *text* encoders for multilingual text distillation (:mod:`mobileclip.train_text`).

Two kinds, one interface (``encode(texts) -> (N, D)`` L2-normalised, ``embed_dim``, ``kind``, ``source``,
``label``, ``describe()``):

* :class:`ClipTextTeacher` -- the text tower of a CLIP teacher loaded with :func:`mobileclip.load_teacher`
  (hub name, ``save_pretrained`` directory such as a proxy teacher, or ``vit-b-32-random``), read with the
  CLIP BPE tokenizer. Its space is shared with the teacher's image tower, so a student distilled into it can
  be paired with an image student distilled from the same teacher.
* :class:`SentenceTeacher` -- any local Hugging Face sentence-encoder directory (``AutoModel`` +
  ``AutoTokenizer``; mean pooling over the attention mask, then L2 normalisation, as sentence-transformers
  does for ``all-MiniLM-L6-v2``). Text only: there is no image tower in its space.

:func:`load_text_teacher` picks the kind from the directory's ``config.json`` (``model_type == "clip"`` ->
CLIP) or from a hub name / ``vit-b-32-random`` (-> CLIP).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..utils.errors import TeacherLoadError
from ..models.teacher import RANDOM_VIT_B_32

CLIP_KIND, SENTENCE_KIND = "clip", "sentence"


def _batches(texts: list[str], batch_size: int):
    for i in range(0, len(texts), batch_size):
        yield texts[i:i + batch_size]


class ClipTextTeacher:
    """The text tower of a CLIP :class:`mobileclip.Teacher` behind the text-teacher interface."""

    kind = CLIP_KIND

    def __init__(self, teacher, source: str):
        from ..models.tokenizer import get_tokenizer

        self.teacher = teacher
        self.source = source
        self.embed_dim = teacher.embed_dim
        self.tokenizer = get_tokenizer(teacher.context_length)
        self.label = f"CLIP text tower of {teacher.label}"

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        out = [self.teacher.encode_text(self.tokenizer(list(b))) for b in _batches(list(texts), batch_size)]
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim)

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, "embed_dim": self.embed_dim, "label": self.label,
                "random_weights": bool(self.teacher.random_weights)}


class SentenceTeacher:
    """A Hugging Face encoder directory used as a sentence encoder: mean pooling + L2 normalisation."""

    kind = SENTENCE_KIND

    def __init__(self, path: str, max_length: int = 128):
        from transformers import AutoModel, AutoTokenizer

        self.source = str(path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModel.from_pretrained(path).eval()
        except Exception as e:  # OSError, ValueError: missing files / unknown architecture
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise TeacherLoadError(f"cannot load sentence encoder {path!r}: {first}") from None
        self.model.requires_grad_(False)
        self.max_length = max_length
        self.embed_dim = int(self.model.config.hidden_size)
        self.label = f"sentence encoder {Path(path).name or path} (mean pooling)"

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 128) -> torch.Tensor:
        """Batches of similar length (sorted by characters, results put back in input order): little padding."""
        texts = list(texts)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = torch.zeros(len(texts), self.embed_dim)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            enc = self.tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            out[idx] = F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1).float()
        return out

    def describe(self) -> dict:
        return {"kind": self.kind, "source": self.source, "embed_dim": self.embed_dim, "label": self.label,
                "random_weights": False}


def _config_model_type(path: Path) -> str | None:
    cfg = path / "config.json"
    if not cfg.is_file():
        return None
    try:
        return json.loads(cfg.read_text()).get("model_type")
    except (OSError, ValueError):
        raise TeacherLoadError(f"{cfg} is not readable JSON") from None


def load_text_teacher(spec: str):
    """``spec``: a local directory (CLIP ``save_pretrained`` or a sentence encoder), a CLIP hub name, or
    ``vit-b-32-random``. Returns a :class:`ClipTextTeacher` or a :class:`SentenceTeacher`."""
    from ..models.teacher import load_teacher

    path = Path(spec)
    if path.is_dir():
        model_type = _config_model_type(path)
        if model_type is None:
            raise TeacherLoadError(f"teacher directory {spec!r} has no config.json (not a Hugging Face model)")
        if model_type == "clip":
            return ClipTextTeacher(load_teacher(str(path)), str(path))
        return SentenceTeacher(str(path))
    looks_local = spec.startswith((".", os.sep, "~")) or spec.count("/") > 1
    if spec != RANDOM_VIT_B_32 and looks_local:
        raise TeacherLoadError(f"teacher directory not found: {spec}")
    return ClipTextTeacher(load_teacher(spec), spec)


def teacher_fingerprint(teacher) -> str:
    """A short hash of the teacher's identity and of its outputs on fixed probe sentences: two checkpoints
    with the same fingerprint live in the same embedding space."""
    probe = ["a photo of a dog.", "two people walking on a beach.", "a red car parked on the street."]
    emb = teacher.encode(probe).to(torch.float32)
    h = hashlib.sha256(json.dumps([teacher.kind, teacher.embed_dim]).encode())
    h.update(torch.round(emb * 1e3).to(torch.int32).numpy().tobytes())
    return h.hexdigest()[:16]

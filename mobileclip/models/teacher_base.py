"""What every teacher shares (:class:`TeacherBase`), how it scores pairs (:class:`Scoring`), and the helpers of the
families' loaders (:mod:`.teacher` loads them)."""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..utils.errors import TeacherLoadError
from .teacher_spec import RANDOM_VIT_B_32
from .tokenizer import eot_positions, get_tokenizer

RANDOM_LABEL = " (RANDOM WEIGHTS: params/latency only, not accuracy)"


@dataclass(frozen=True)
class Member:
    """How one teacher scores an image-text pair: ``softmax`` over the batch of ``scale * cos`` (CLIP) or
    ``sigmoid(scale * cos + bias)`` per pair (SigLIP). ``dim``: its block of the (ensemble) embedding."""

    label: str
    dim: int
    kind: str  # "softmax" | "sigmoid"
    scale: float
    bias: float = 0.0


@dataclass(frozen=True)
class Scoring:
    """The teacher's members in embedding order (one for a single teacher)."""

    members: tuple[Member, ...]

    @property
    def plain_softmax(self) -> bool:
        """One softmax teacher: response distillation as it always was (the teacher's own logit scale)."""
        return len(self.members) == 1 and self.members[0].kind == "softmax"

    def to_meta(self) -> list[dict]:
        return [asdict(m) for m in self.members]

    @classmethod
    def from_meta(cls, meta: list[dict]) -> "Scoring":
        return cls(tuple(Member(**m) for m in meta))


_DETACHED = re.compile(r" (?=[.,!?;:]|'(?:s|t|re|ve|m|ll|d)\b)")


def captions_from_ids(ids: torch.Tensor) -> list[str]:
    """CLIP BPE ids (B, L) -> the captions as the CLIP tokenizer normalised them (lower case, clean whitespace;
    the space BPE decoding leaves before punctuation and contractions removed). Captions longer than the ids'
    context were cut there."""
    tok = get_tokenizer()
    ends = eot_positions(ids, tok.eot_token_id).tolist()
    return [_DETACHED.sub("", tok.decode(row[1:end].tolist())) for row, end in zip(ids.cpu(), ends)]


class TeacherBase(nn.Module):
    """What every teacher offers: frozen, always in eval mode, ``forward(images, texts)`` -> normalised embeddings
    (``image_embeds``/``text_embeds``), ``logit_scale`` (a tensor) and ``scoring``; ``encode_image``/``encode_text``;
    ``image_towers``/``text_towers`` (parameter counts); ``preprocess_cfg``, ``embed_dim``, ``image_size``,
    ``context_length`` (CLIP BPE ids it accepts) and ``label``."""

    family = "?"

    def __init__(self, source: str, random_weights: bool = False):
        super().__init__()
        self.source, self.random_weights, self.spec = source, random_weights, source

    def freeze(self):
        self.requires_grad_(False)
        return self.eval()

    @property
    def label(self) -> str:
        return self.source + (RANDOM_LABEL if self.random_weights else "")

    def train(self, mode: bool = True):  # always frozen in eval mode
        return super().train(False)

    def logit_scale(self) -> torch.Tensor:
        raise NotImplementedError

    def image_features(self, images: torch.Tensor) -> dict:
        raise NotImplementedError

    def text_features(self, ids: torch.Tensor) -> dict:
        raise NotImplementedError

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_features(images)["image_embeds"]

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.text_features(ids)["text_embeds"]

    def text_tower_call(self, ids: torch.Tensor):
        """``(fn, x)`` with ``fn(x) == encode_text(ids)`` and ``x`` already in the model's own token ids: what a
        benchmark times and counts (a teacher's own tokenization is not its text tower's cost)."""
        return self.encode_text, ids

    @torch.no_grad()
    def forward(self, images: torch.Tensor | None = None, texts: torch.Tensor | None = None) -> dict:
        out = {"logit_scale": self.logit_scale(), "scoring": self.scoring}
        if images is not None:
            out.update(self.image_features(images))
        if texts is not None:
            out.update(self.text_features(texts))
        return out


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def hf_load_error(name: str, e: BaseException) -> TeacherLoadError:
    where = "local directory" if os.path.isdir(name) else "hub name"
    return TeacherLoadError(f"cannot load CLIP teacher {name!r} ({where}): {first_line(e)} -- use a local "
                            f"save_pretrained directory, or {RANDOM_VIT_B_32!r} for params/latency only")


def seeded(build):
    """``build()`` under seed 0 (the same random weights every time; the caller's RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build()

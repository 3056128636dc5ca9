"""The CLIP BPE tokenizer (open_clip's implementation, vocabulary from the ``open_clip_torch`` wheel).

Same ids as OpenAI CLIP and HF ``CLIPTokenizer``: ftfy + HTML clean-up, whitespace collapse,
lower-casing, byte-level BPE over 49,408 tokens, ``<|startoftext|>`` ... ``<|endoftext|>``, a
77-token context, truncation that keeps the end token, and zero padding.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..utils.torchvision_guard import import_torchvision

DEFAULT_CONTEXT_LENGTH = 77
EOT_TOKEN_ID = 49407  # <|endoftext|>: every tower pools (and stops attending) at the first one


def _open_clip_tokenizer_module():
    import_torchvision()  # open_clip imports torchvision: guard first
    from open_clip import tokenizer

    return tokenizer


def vocab_path() -> Path:
    """Path of ``bpe_simple_vocab_16e6.txt.gz`` shipped in the open_clip_torch wheel."""
    return Path(_open_clip_tokenizer_module().default_bpe())


class Tokenizer:
    """Callable: ``tok(["a photo of a cat."])`` -> LongTensor (N, context_length)."""

    def __init__(self, context_length: int = DEFAULT_CONTEXT_LENGTH, bpe_path: str | None = None):
        mod = _open_clip_tokenizer_module()
        self.bpe_path = Path(bpe_path or mod.default_bpe())
        self._tok = mod.SimpleTokenizer(bpe_path=str(self.bpe_path), context_length=context_length)
        self.context_length = context_length
        self.vocab_size = self._tok.vocab_size
        self.sot_token_id = self._tok.sot_token_id
        self.eot_token_id = self._tok.eot_token_id
        self.pad_token_id = 0

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        return self._tok(texts, context_length=context_length or self.context_length)

    def encode(self, text: str) -> list[int]:
        """BPE ids of ``text`` without start/end tokens or padding."""
        return self._tok.encode(text)

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids if int(i) not in (self.pad_token_id, self.sot_token_id, self.eot_token_id)]
        return self._tok.decode(ids).strip()

    def export_vocab(self, folder: str | Path) -> dict[str, Path]:
        """Write the vocabulary in the HF CLIP format apps read: ``vocab.json`` (token -> id) and
        ``merges.txt`` (BPE merges by rank). Same tokens and ids as this tokenizer."""
        import json

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # open_clip spells the specials <start_of_text>/<end_of_text>; OpenAI and HF spell them as below
        special = {self.sot_token_id: "<|startoftext|>", self.eot_token_id: "<|endoftext|>"}
        encoder = {special.get(i, tok): i for tok, i in self._tok.encoder.items()}
        ranks = sorted(self._tok.bpe_ranks.items(), key=lambda kv: kv[1])
        paths = {"vocab": folder / "vocab.json", "merges": folder / "merges.txt"}
        paths["vocab"].write_text(json.dumps(encoder, ensure_ascii=False, allow_nan=False), encoding="utf-8")
        paths["merges"].write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for (a, b), _ in ranks), encoding="utf-8")
        return paths

    def settings(self) -> dict:
        """What a checkpoint or an app needs to rebuild this tokenizer."""
        return {
            "type": "clip-bpe",
            "vocab_file": self.bpe_path.name,
            "vocab_size": self.vocab_size,
            "context_length": self.context_length,
            "sot_token_id": self.sot_token_id,
            "eot_token_id": self.eot_token_id,
            "pad_token_id": self.pad_token_id,
            "lower_case": True,
            "clean": "ftfy+html+whitespace",
        }


@lru_cache(maxsize=4)
def get_tokenizer(context_length: int = DEFAULT_CONTEXT_LENGTH) -> Tokenizer:
    return Tokenizer(context_length=context_length)


def eot_positions(ids: torch.Tensor, eot_token_id: int = EOT_TOKEN_ID) -> torch.Tensor:
    """Index of the first end-of-text token in each row of ``ids`` (B, L) -> (B,)."""
    return (ids == eot_token_id).to(torch.int32).argmax(-1)


def eot_attention_mask(ids: torch.Tensor, eot_token_id: int = EOT_TOKEN_ID) -> torch.Tensor:
    """(B, L) long mask: 1 up to and including each row's end-of-text token, 0 on the padding after it."""
    eot = eot_positions(ids, eot_token_id)
    return (torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]).long()


def trim_padding(ids: torch.Tensor, eot_token_id: int = EOT_TOKEN_ID) -> torch.Tensor:
    """Drop the all-padding tail: both towers are causal/masked and pool at EOT, so this is exact."""
    last = int(eot_positions(ids, eot_token_id).max()) + 1
    return ids[:, :last]

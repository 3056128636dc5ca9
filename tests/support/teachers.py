"""Tiny random-weight teachers of every family, built and saved here (no hub): each is then loaded through the
real path (open_clip's ``local-dir:`` schema / a registered config + weights file, ``from_pretrained``)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import torch

import mobileclip  # noqa: F401  (before anything imports torchvision)
from mobileclip.models.transform import CLIP_MEAN, CLIP_STD
from mobileclip.utils.torchvision_guard import import_torchvision

OPEN_CLIP_CFG = {"embed_dim": 24,
                 "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
                 "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
SP_CORPUS = ["a photo of a cat.", "a photo of a dog.", "a bird sitting on a tree", "two men playing football",
             "a red car parked by the road", "children are running on the beach", "a black and white horse",
             "a photo of a red square", "a photo of a green square", "a photo of a blue square"]


def open_clip_module():
    import_torchvision()
    import open_clip

    return open_clip


def tiny_open_clip_dir(path: Path, seed: int = 0, sigmoid: bool = False) -> Path:
    """``path/open_clip_config.json`` (model + preprocess config) and ``path/open_clip_pytorch_model.bin``: what
    ``open_clip:local-dir:PATH`` reads. ``sigmoid``: a logit bias (SigLIP-style scoring)."""
    oc = open_clip_module()
    cfg = dict(OPEN_CLIP_CFG, **({"init_logit_bias": -3.0} if sigmoid else {}))
    torch.manual_seed(seed)
    model = oc.model.CLIP(**cfg)
    path.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path / "open_clip_pytorch_model.bin")
    (path / "open_clip_config.json").write_text(json.dumps(
        {"model_cfg": cfg, "preprocess_cfg": {"mean": list(CLIP_MEAN), "std": list(CLIP_STD)}}))
    return path


def sentencepiece_file(path: Path) -> Path:
    """A tiny SentencePiece model trained here (SigLIP's tokenizer is SentencePiece)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(SP_CORPUS * 10), model_writer=buf, vocab_size=40,
                                   model_type="unigram", unk_id=0, pad_id=1, eos_id=2, bos_id=-1,
                                   character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    path.write_bytes(buf.getvalue())
    return path


def tiny_siglip_config(image_size: int = 48, dim: int = 32, naflex: bool = False):
    from transformers import Siglip2Config, SiglipConfig

    text = dict(vocab_size=64, hidden_size=dim, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                max_position_embeddings=16, projection_size=dim, bos_token_id=None, eos_token_id=None, pad_token_id=1)
    vision = dict(hidden_size=dim, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, patch_size=8)
    if naflex:
        return Siglip2Config(text_config=text, vision_config=dict(vision, num_patches=(image_size // 8) ** 2))
    return SiglipConfig(text_config=text, vision_config=dict(vision, image_size=image_size))


def tiny_siglip_dir(path: Path, seed: int = 0, naflex: bool = False, tokenizer: bool = True) -> Path:
    """A tiny ``SiglipModel`` (``naflex``: ``Siglip2Model``) and its SentencePiece ``SiglipTokenizer``, saved with
    ``save_pretrained``: what ``hf:PATH`` reads."""
    from transformers import Siglip2Model, SiglipModel, SiglipTokenizer

    torch.manual_seed(seed)
    model = (Siglip2Model if naflex else SiglipModel)(tiny_siglip_config(naflex=naflex))
    with torch.no_grad():  # SigLIP's trained values (log 10 and -10 at init): nowhere near 0.5 per pair
        model.logit_scale.fill_(2.3)
        model.logit_bias.fill_(-4.0)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    if tokenizer:
        SiglipTokenizer(vocab_file=str(sentencepiece_file(path.parent / f"{path.name}.spm")), model_max_length=16
                        ).save_pretrained(path)
    return path

"""open_clip teachers: ``open_clip:MODEL/WEIGHTS`` through open_clip_torch's own loading path.

``create_model_and_transforms(MODEL, pretrained=WEIGHTS)`` builds the model (LAION/DataComp/DFN ViTs, SigLIP ports,
MobileCLIP/MobileCLIP2, ...) and loads the weights: a pretrained tag (from the local hub cache, or downloaded), or
a local file. ``open_clip:local-dir:DIR`` reads ``DIR/open_clip_config.json`` and the weights beside it (open_clip's
``local-dir:`` schema; the tokenizer too, for models with a Hugging Face tokenizer). ``WEIGHTS = random`` builds
the architecture with random weights (params and latency only, labelled so). A spec that names no weights is an
error: open_clip would silently build a random model.

The model's tokenizer (``open_clip.get_tokenizer``) and preprocessing (its ``preprocess_cfg``) are used: when the
tokenizer is the CLIP BPE one at 77 tokens the pipeline's ids go in as they are, zero-padded to the context (open_clip
text towers read the full context); otherwise the captions are decoded and tokenized again with the model's own
tokenizer. Pairs are scored with softmax, or with sigmoid when the model has a logit bias (SigLIP).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os

import torch
import torch.nn.functional as F
from torch import nn

from ..utils.errors import TeacherLoadError
from ..utils.torchvision_guard import import_torchvision
from .teacher_base import Member, Scoring, TeacherBase, captions_from_ids, first_line
from .teacher_spec import LOCAL_FILE_HINT, OPEN_CLIP_SCHEMAS, TeacherSpec
from .tokenizer import get_tokenizer

PROBE = ["a photo of a Cat, two dogs & a bird!"]


def _open_clip():
    import_torchvision()  # open_clip imports torchvision: guard first
    import open_clip

    return open_clip


class _Params(nn.Module):
    """A view on some of a model's parameters (open_clip's ``CLIP`` keeps its text tower's at the top level)."""

    def __init__(self, named: dict[str, nn.Parameter]):
        super().__init__()
        for name, p in named.items():
            self.register_parameter(name.replace(".", "__"), p)


class OpenClipTeacher(TeacherBase):
    """A frozen open_clip ``CLIP`` / ``CustomTextCLIP``; ``tokenizer`` None: random weights (ids folded into the
    vocabulary, zero-padded: the real shapes and costs of a meaningless input)."""

    family = "open_clip"

    def __init__(self, model, source: str, tokenizer=None, random_weights: bool = False):
        super().__init__(source, random_weights)
        oc = _open_clip()
        self.clip = model.eval()
        self.clip.requires_grad_(False)
        self.tokenizer = tokenizer
        text = getattr(model, "text", model)
        self.text_context_length, self.vocab_size = int(text.context_length), int(text.vocab_size)
        self.context_length = 77  # the CLIP BPE ids it reads
        pre = oc.get_model_preprocess_cfg(model)
        size = pre["size"] if isinstance(pre["size"], int) else pre["size"][0]
        if not isinstance(pre["size"], int) and len(set(pre["size"])) != 1:
            raise TeacherLoadError(f"teacher {source!r}: non-square input {pre['size']} is not supported")
        self.image_size = int(size)
        if pre.get("resize_mode", "shortest") not in ("shortest", "squash"):
            raise TeacherLoadError(f"teacher {source!r}: resize mode {pre['resize_mode']!r} is not supported "
                                   "(shortest side + centre crop, or squash)")
        self.preprocess_cfg = {"image_size": self.image_size, "resize_mode": pre.get("resize_mode", "shortest"),
                               "interpolation": pre.get("interpolation", "bicubic"), "mean": list(pre["mean"]),
                               "std": list(pre["std"])}
        self.pass_ids = tokenizer is None or self._reads_clip_ids(tokenizer)
        with torch.no_grad():
            self.embed_dim = int(model.encode_text(self._own_ids(get_tokenizer()(PROBE))).shape[-1])
        bias = model.logit_bias
        self.scoring = Scoring((Member(self.label, self.embed_dim, "softmax" if bias is None else "sigmoid",
                                       float(model.logit_scale.exp()), 0.0 if bias is None else float(bias)),))
        self.eval()

    def _reads_clip_ids(self, tokenizer) -> bool:
        """Whether the model's tokenizer gives the pipeline's CLIP BPE ids (then they go in as they are)."""
        if self.text_context_length != 77:
            return False
        ours = get_tokenizer()(PROBE)
        try:
            theirs = tokenizer(PROBE)
        except Exception:  # an HF tokenizer that needs other arguments: certainly not the CLIP BPE one
            return False
        return isinstance(theirs, torch.Tensor) and torch.equal(theirs.long(), ours.long())

    def _own_ids(self, ids: torch.Tensor) -> torch.Tensor:
        if self.pass_ids:  # CLIP ids (or random weights): fold into the vocabulary, pad to the full context
            out = torch.zeros(ids.shape[0], self.text_context_length, dtype=torch.long, device=ids.device)
            n = min(ids.shape[1], self.text_context_length)
            out[:, :n] = ids[:, :n].long() % self.vocab_size
            return out
        return self.tokenizer(captions_from_ids(ids)).long().to(ids.device)

    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.exp().reshape(())

    def image_towers(self) -> list[nn.Module]:
        return [self.clip.visual]

    def text_towers(self) -> list[nn.Module]:
        if hasattr(self.clip, "text"):
            return [self.clip.text]
        return [_Params({n: p for n, p in self.clip.named_parameters()
                         if not n.startswith("visual.") and n not in ("logit_scale", "logit_bias")})]

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> dict:
        feats = self.clip.encode_image(images)
        return {"image_features": feats, "image_embeds": F.normalize(feats, dim=-1)}

    def _encode_own(self, own_ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(own_ids), dim=-1)

    def text_tower_call(self, ids: torch.Tensor):
        return self._encode_own, self._own_ids(ids)

    @torch.no_grad()
    def text_features(self, ids: torch.Tensor) -> dict:
        feats = self.clip.encode_text(self._own_ids(ids))
        return {"text_features": feats, "text_embeds": F.normalize(feats, dim=-1)}


def _tags(tags: list[str]) -> str:
    return ", ".join(tags[:4]) + (f", ... ({len(tags)} tags)" if len(tags) > 4 else "") if tags else "none"


def _weights_help(oc, model: str, tag: str | None) -> str:
    cfg = (oc.get_pretrained_cfg(model, tag) or {}) if tag else {}
    where = (f" (hub repo {cfg['hf_hub'].rstrip('/')})" if cfg.get("hf_hub") else
             f" ({cfg['url']})" if cfg.get("url") else "")
    return (f"point at a local file{where}: {LOCAL_FILE_HINT.format(model=model)} "
            f"(open_clip:{model}/random: the architecture with random weights, params/latency only)")


def _check_weights(oc, spec: TeacherSpec) -> None:
    """Before open_clip runs: a known model, and WEIGHTS that name a tag, an existing file or ``random``."""
    model, weights = spec.name, spec.weights
    if oc.get_model_config(model) is None:
        raise TeacherLoadError(f"--teacher open_clip:{model}: open_clip has no model {model!r} "
                               "(open_clip.list_models(): ViT-B-32, ViT-B-16-SigLIP, MobileCLIP2-S0, ...)")
    tags = oc.list_pretrained_tags_by_model(model)
    if weights is None:
        raise TeacherLoadError(f"--teacher open_clip:{model}: the pretrained weights of {model} are missing from the "
                               f"spec (open_clip would build it with random weights) -- name a pretrained tag "
                               f"({_tags(tags)}) to load from the hub cache, or {_weights_help(oc, model, None)}")
    if weights != "random" and weights not in tags and not os.path.isfile(weights):
        raise TeacherLoadError(f"--teacher open_clip:{model}/{weights}: the weights file {weights} does not exist and "
                               f"is not a pretrained tag of {model} ({_tags(tags)}) -- "
                               f"{_weights_help(oc, model, None)}")


def _local_dir_check(path: str) -> None:
    cfg = os.path.join(path, "open_clip_config.json")
    if not os.path.isfile(cfg):
        raise TeacherLoadError(f"--teacher open_clip:local-dir:{path}: no open_clip_config.json there")
    try:
        json.load(open(cfg, encoding="utf-8"))["model_cfg"]
    except (ValueError, KeyError, TypeError) as e:
        raise TeacherLoadError(f"{cfg}: not an open_clip config with a model_cfg ({first_line(e)})") from None


@contextlib.contextmanager
def _quiet_errors():
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def load_open_clip(spec: TeacherSpec) -> OpenClipTeacher:
    oc = _open_clip()
    schema = spec.name.startswith(OPEN_CLIP_SCHEMAS)
    if spec.name.startswith("local-dir:"):
        _local_dir_check(spec.name[len("local-dir:"):])
    elif not schema:
        _check_weights(oc, spec)
    random = spec.weights == "random"
    try:
        with _quiet_errors():  # open_clip logs a failed download at ERROR, then raises: the raise is our one line
            model = oc.create_model_and_transforms(spec.name, pretrained=None if random or schema else spec.weights,
                                                   require_pretrained=not random, pretrained_text=not random)[0]
    except Exception as e:  # download refused or offline, a checkpoint that does not fit the model, ...
        what = f"weights {spec.weights!r} of {spec.name}" if spec.weights else f"the weights in {spec.name}"
        fix = ("put open_clip_pytorch_model.bin (or .safetensors) beside open_clip_config.json" if schema else
               _weights_help(oc, spec.name, spec.weights))
        raise TeacherLoadError(f"--teacher open_clip:{spec.name}{'/' + spec.weights if spec.weights else ''}: cannot "
                               f"load {what}: {first_line(e)} -- {fix}") from None
    tokenizer = None
    if not random:
        try:
            tokenizer = oc.get_tokenizer(spec.name)
        except Exception as e:
            raise TeacherLoadError(f"--teacher open_clip:{spec.name}: cannot load its tokenizer: {first_line(e)} -- "
                                   "use open_clip:local-dir:DIR with the tokenizer files in DIR") from None
    label = f"open_clip {spec.name}" + (f" ({spec.weights})" if spec.weights and not random else "")
    return OpenClipTeacher(model, label, tokenizer, random_weights=random)

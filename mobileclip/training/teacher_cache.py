"""Reader of the precomputed teacher embeddings written by ``python -m mobileclip.cache_teacher``.

Both forms store each teacher's own L2-normalised embeddings, one block per ensemble member side by side, and how
each member scores pairs (``scoring``: softmax or sigmoid, scale, bias, dim); a lookup returns the teacher's
embedding (the blocks concatenated and normalised, as :class:`~mobileclip.models.teacher_ensemble.EnsembleTeacher`
computes it online) with that scoring. Files written before teachers had a scoring (format version 1) are one
softmax teacher with the stored logit scale.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ..models.teacher import Member, Scoring
from ..models.teacher_spec import canonical_teacher_spec
from ..utils.errors import MobileClipError, TrainError

VERSION = 2


def cache_scoring(meta: dict, dim: int, logit_scale: float) -> Scoring:
    """The scoring a cache's ``meta`` records (a version-1 cache: one softmax teacher)."""
    if meta.get("scoring"):
        return Scoring.from_meta(meta["scoring"])
    return Scoring((Member(str(meta.get("teacher", "teacher")), dim, "softmax", logit_scale),))


def check_cache_teacher(meta: dict, teacher: str | None, where) -> None:
    """Refuse a cache built for another teacher spec than ``teacher`` (None: no spec to compare)."""
    if teacher is None or "teacher_spec" not in meta:
        return
    try:
        want = canonical_teacher_spec(teacher)
    except MobileClipError as e:
        raise TrainError(str(e)) from None
    if meta["teacher_spec"] != want:
        raise TrainError(f"{where} was built for teacher {meta['teacher_spec']}, not {want}: rebuild it "
                         "(python -m mobileclip.cache_teacher --teacher ...) or pass the teacher it was built for")

class TeacherCache:
    """Precomputed teacher embeddings (``python -m mobileclip.cache_teacher``) looked up by (variant, index)."""

    FORMAT = "mobileclip-kd-teacher-cache"

    def __init__(self, path: str | os.PathLike):
        try:
            d = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise TrainError(f"teacher cache not found: {path}") from None
        except Exception as e:
            raise TrainError(f"{path}: unreadable teacher cache ({type(e).__name__})") from None
        if not isinstance(d, dict) or d.get("format") != self.FORMAT:
            raise TrainError(f"{path} is not a {self.FORMAT} file")
        if int(d.get("format_version", 1)) > VERSION:
            raise TrainError(f"{path}: teacher cache format version {d['format_version']} is newer than this "
                             f"toolkit reads ({VERSION})")
        self.path = path
        self.meta = {k: v for k, v in d.items() if not isinstance(v, torch.Tensor)}
        self.image, self.text, self.covered = d["image_embeds"], d["text_embeds"], d["covered"]
        self.variants, self.embed_dim = self.image.shape[0], self.image.shape[-1]
        self.logit_scale = float(d["logit_scale"])
        self.scoring = cache_scoring(self.meta, self.embed_dim, self.logit_scale)

    def check_teacher(self, teacher: str | None) -> None:
        """Refuse a cache built for another teacher spec than ``teacher`` (None: nothing to compare)."""
        check_cache_teacher(self.meta, teacher, f"teacher cache {self.path}")

    def check(self, data_path: str, n: int, seed: int, scale, student_size):
        m = self.meta
        problems = []
        if os.path.abspath(m["data"]) != os.path.abspath(data_path):
            problems.append(f"data {m['data']} != {data_path}")
        if m["n"] != n:
            problems.append(f"{m['n']} samples != {n}")
        if m["seed"] != seed:
            problems.append(f"augmentation seed {m['seed']} != --seed {seed}")
        if list(m["crop_scale"]) != list(scale):
            problems.append(f"crop scale {m['crop_scale']} != {list(scale)}")
        if problems:
            raise TrainError("teacher cache does not match this run: " + "; ".join(problems))

    def member_embeds(self, variant: int, indices: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each member teacher's own (image, text) embeddings of ``indices``, fp32, in ensemble order."""
        v, dims = variant % self.variants, [m.dim for m in self.scoring.members]
        image, text = self.image[v, indices].float(), self.text[v, indices].float()
        return list(zip(torch.split(image, dims, dim=-1), torch.split(text, dims, dim=-1)))

    def lookup(self, variant: int, indices: torch.Tensor, device) -> dict:
        v = variant % self.variants
        if not bool(self.covered[indices].all()):
            raise TrainError("teacher cache has no entry for some training samples (built on another subset?)")
        return {"image_embeds": F.normalize(self.image[v, indices].float(), dim=-1).to(device),
                "text_embeds": F.normalize(self.text[v, indices].float(), dim=-1).to(device),
                "logit_scale": torch.tensor(self.logit_scale, device=device), "scoring": self.scoring}



class StreamedTeacherCache:
    """Per-shard teacher sidecars (``python -m mobileclip.cache_teacher`` on tar shards) for a streamed run.

    Every sidecar is checked up front (same teacher, seed, crop scale, variants; each shard's name and size);
    then embeddings are looked up by the TarShards index and read one shard at a time, keeping the last
    ``keep`` shards loaded, so memory stays flat however many shards the dataset has."""

    def __init__(self, folder, shards, seed: int, crop_scale, keep: int = 2):
        from ..utils.errors import MobileClipError
        from .shard_cache import ShardTeacherCache, read_meta, sidecar_path

        first = sidecar_path(shards[0], folder)
        if not first.is_file():
            raise TrainError(f"--teacher-cache {folder}: no teacher sidecar {first.name} for shard {shards[0]}")
        meta = read_meta(first)
        problems = [f"augmentation seed {meta.get('seed')} != --seed {seed}"] if meta.get("seed") != seed else []
        if meta.get("crop_scale") != list(crop_scale):
            problems.append(f"crop scale {meta.get('crop_scale')} != {list(crop_scale)}")
        if problems:
            raise TrainError("teacher sidecars do not match this run: " + "; ".join(problems))
        settings = {k: v for k, v in meta.items() if k not in ("format", "version", "shard", "shard_bytes",
                                                               "variants")}
        try:
            self.reader = ShardTeacherCache(shards, settings, meta["variants"], folder)
        except MobileClipError as e:
            raise TrainError(str(e)) from None
        self.shards, self.keep, self.variants, self.folder = list(shards), max(1, keep), meta["variants"], folder
        self.meta = meta
        self._loaded = {}  # shard number -> ShardEmbeddings, least recently used first
        self.embed_dim = next((e.image.shape[-1] for e in map(self._shard, range(len(self.shards)))
                               if e.image.shape[1] > 0), 0)
        self.scoring = cache_scoring(meta, self.embed_dim, self._shard(0).logit_scale)

    def check_teacher(self, teacher: str | None) -> None:
        """Refuse sidecars built for another teacher spec than ``teacher`` (None: nothing to compare)."""
        check_cache_teacher(self.meta, teacher, f"the teacher sidecars in {self.folder}")

    def _shard(self, number: int):
        emb = self._loaded.pop(number, None)
        if emb is None:
            emb = self.reader.load(self.shards[number])
            while len(self._loaded) >= self.keep:
                self._loaded.pop(next(iter(self._loaded)))
        self._loaded[number] = emb
        return emb

    def lookup(self, variant: int, indices: torch.Tensor, device) -> dict:
        from ..data.shards import SHARD_STRIDE

        images, texts, scale = [], [], None
        for index in indices.tolist():
            emb = self._shard(index // SHARD_STRIDE)
            row = emb.row_of_index.get(index)
            if row is None:
                raise TrainError(f"teacher sidecar of {self.shards[index // SHARD_STRIDE].name} has no entry for "
                                 f"sample {index % SHARD_STRIDE} (rebuild it)")
            images.append(torch.from_numpy(emb.image[variant % self.variants, row].astype("float32")))
            texts.append(torch.from_numpy(emb.text[row].astype("float32")))
            scale = emb.logit_scale
        return {"image_embeds": F.normalize(torch.stack(images), dim=-1).to(device),
                "text_embeds": F.normalize(torch.stack(texts), dim=-1).to(device),
                "logit_scale": torch.tensor(scale, device=device), "scoring": self.scoring}

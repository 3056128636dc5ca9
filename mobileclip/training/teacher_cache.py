"""Reader of the precomputed teacher embeddings written by ``python -m mobileclip.cache_teacher``."""
from __future__ import annotations

import os

import torch

from ..errors import TrainError

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
        self.meta = {k: v for k, v in d.items() if not isinstance(v, torch.Tensor)}
        self.image, self.text, self.covered = d["image_embeds"], d["text_embeds"], d["covered"]
        self.variants, self.embed_dim = self.image.shape[0], self.image.shape[-1]
        self.logit_scale = float(d["logit_scale"])

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

    def lookup(self, variant: int, indices: torch.Tensor, device) -> dict:
        v = variant % self.variants
        if not bool(self.covered[indices].all()):
            raise TrainError("teacher cache has no entry for some training samples (built on another subset?)")
        return {"image_embeds": self.image[v, indices].float().to(device),
                "text_embeds": self.text[v, indices].float().to(device),
                "logit_scale": torch.tensor(self.logit_scale, device=device)}


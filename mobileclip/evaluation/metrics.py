"""Evaluate a student checkpoint or a CLIP teacher the same way: zero-shot, retrieval, teacher agreement.

* **zero-shot** classification on a class-folder dataset (``root/<class>/<image>``): each class embedding
  is the mean of the normalised embeddings of every prompt template filled with the class name,
  renormalised (CLIP); an image's prediction is the class with the highest cosine. Top-1/top-5.
* **retrieval** on an ``image,caption`` CSV (several captions per image allowed): text->image R@k is the
  share of captions whose own image is among the k most similar images; image->text R@k the share of
  images with at least one of their captions among the k most similar captions.
* **agreement** of a student with a teacher on the zero-shot set: top-1 agreement (share of images where
  both predict the same class) and the mean cosine between the student's image embeddings mapped into
  the teacher's space (through the checkpoint's KD heads, or directly when the dimensions match) and
  the teacher's. ``mean_cosine_text`` does the same for the prompt embeddings.

Scores (top-1, top-5, R@k, agreement) are fractions in [0, 1] in the Python API and the JSON (open_clip's
convention); the printed table shows them in %. Every model is fed with its own preprocessing
(``encoder.preprocess_cfg``) and tokenizer context, so a 224 px teacher and a 32 px student see the same
files. Unreadable images are skipped and counted.

    python -m mobileclip.eval student.pt --zeroshot DIR --retrieval CSV --teacher TEACHER --json out.json

(the command: :mod:`.evaluate`)
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..data.datasets import ClassFolder, SkipCounter, collate_count, load_image, read_caption_csv
from ..data.templates import get_templates
from ..utils.errors import MobileClipError
from ..utils.fileio import atomic_path
from ..utils.finite import check_finite
from ..utils.validate import check_zero_shot_classes
from .encoders import encoder_label, kd_heads_from_checkpoint, load_encoder, prepare_inputs

__all__ = ["agreement", "agreement_from_images", "class_embeddings", "confusion_matrix", "encoder_label",
           "kd_heads_from_checkpoint", "load_encoder", "plot_zero_shot", "retrieval", "zero_shot", "zero_shot_images",
           "zero_shot_scores"]


# ----------------------------------------------------------------------------------------------------------
# embedding helpers
# ----------------------------------------------------------------------------------------------------------
class _ImageFiles(Dataset):
    """``(image, position)`` for a list of files, ``None`` for an unreadable one (counted)."""

    def __init__(self, paths, transform):
        self.paths, self.transform = list(paths), transform
        self.skip_counter = SkipCounter(len(self.paths))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        image, reason = load_image(self.paths[i])
        if image is None:
            self.skip_counter.add(i, reason)
            return None
        return self.transform(image), i


@torch.no_grad()
def encode_image_files(encoder, paths, batch_size=64, num_workers=0, progress=False, desc="images"):
    """Normalised embeddings of the readable files: ``(embeddings (M, D), kept positions (M,), skip_counter)``."""
    transform, _, device = prepare_inputs(encoder)
    ds = _ImageFiles(paths, transform)
    loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_count)
    embs, kept = [], []
    for batch, _ in tqdm(loader, desc=desc, unit="batch", disable=not progress, file=sys.stderr):
        if batch is None:
            continue
        images, idx = batch
        embs.append(F.normalize(check_finite(encoder.encode_image(images.to(device)).float().cpu(),
                                             f"{encoder_label(encoder)} image embeddings"), dim=-1))
        kept.append(idx)
    if not embs:
        raise MobileClipError(f"no readable image among {len(ds)} files ({ds.skip_counter.examples[:1]})")
    return torch.cat(embs), torch.cat(kept), ds.skip_counter


@torch.no_grad()
def encode_texts(encoder, texts, batch_size=256, progress=False, desc="texts") -> torch.Tensor:
    _, tokenizer, device = prepare_inputs(encoder)
    out = []
    for i in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch", disable=not progress, file=sys.stderr):
        ids = tokenizer(list(texts[i:i + batch_size])).to(device)
        out.append(F.normalize(check_finite(encoder.encode_text(ids).float().cpu(),
                                            f"{encoder_label(encoder)} text embeddings"), dim=-1))
    return torch.cat(out)


def prompt_embeddings(encoder, classnames, templates, batch_size=256, progress=False) -> torch.Tensor:
    """``(C, T, D)`` normalised embeddings of every template filled with every class name."""
    texts = [t.format(c) for c in classnames for t in templates]
    return encode_texts(encoder, texts, batch_size, progress, "prompts").view(len(classnames), len(templates), -1)


def class_embeddings(prompts: torch.Tensor) -> torch.Tensor:
    """CLIP's ensemble: mean of the normalised template embeddings, renormalised. ``(C, T, D) -> (C, D)``."""
    return F.normalize(F.normalize(prompts, dim=-1).mean(1), dim=-1)


def _subset(n: int, limit: int | None) -> np.ndarray:
    """``limit`` evenly spaced positions out of ``n`` (deterministic, covers every class of a sorted folder)."""
    if limit is None or limit >= n:
        return np.arange(n)
    if limit < 1:
        raise MobileClipError(f"--limit must be >= 1, got {limit}")
    return np.unique(np.linspace(0, n - 1, num=limit).round().astype(int))


@dataclass
class ZeroShotImages:
    """Image side of a zero-shot evaluation (computed once, reused for several template sets / agreement)."""
    encoder: object
    root: str
    classnames: list
    image: torch.Tensor  # (M, D)
    labels: torch.Tensor  # (M,)
    indices: torch.Tensor  # (M,) positions in the sorted folder scan
    skipped: int
    skip_examples: list
    prompts: dict = field(default_factory=dict)

    def prompt_embeddings(self, templates, batch_size=256, progress=False):
        key = tuple(templates)
        if key not in self.prompts:
            self.prompts[key] = prompt_embeddings(self.encoder, self.classnames, templates, batch_size, progress)
        return self.prompts[key]


def zero_shot_images(encoder, root, batch_size=64, limit=None, num_workers=0, progress=False) -> ZeroShotImages:
    ds = ClassFolder(root, transform=None, tokenizer=None)
    check_zero_shot_classes(root, ds.classnames)  # one class: top-1 would be 100 % by construction
    pick = _subset(len(ds.samples), limit)
    paths = [ds.samples[i][0] for i in pick]
    emb, kept, counter = encode_image_files(encoder, paths, batch_size, num_workers, progress,
                                            f"zero-shot images [{encoder_label(encoder)}]")
    indices = torch.as_tensor(pick)[kept]
    labels = torch.as_tensor([ds.targets[i] for i in indices.tolist()])
    return ZeroShotImages(encoder, str(root), ds.classnames, emb, labels, indices, counter.count, counter.examples)


def zero_shot_scores(zs: ZeroShotImages, templates, progress=False) -> dict:
    """Zero-shot scores of precomputed image embeddings (:func:`zero_shot_images`) with one template set."""
    templates = get_templates(templates)
    cls = class_embeddings(zs.prompt_embeddings(templates, progress=progress))
    logits = zs.image @ cls.T
    k = min(5, len(zs.classnames))
    topk = logits.topk(k, dim=-1).indices
    preds = topk[:, 0]
    conf = confusion_matrix(preds, zs.labels, len(zs.classnames))
    per_class = (conf.diag().float() / conf.sum(1).clamp(min=1)).tolist()
    return {"top1": (preds == zs.labels).float().mean().item(),
            "top5": (topk == zs.labels[:, None]).any(-1).float().mean().item(), "per_class_top1": per_class,
            "n": int(len(zs.labels)), "n_classes": len(zs.classnames), "n_templates": len(templates),
            "skipped": zs.skipped, "predictions": preds.tolist(), "labels": zs.labels.tolist(),
            "indices": zs.indices.tolist(), "classnames": list(zs.classnames)}


def confusion_matrix(predictions, labels, n_classes: int) -> torch.Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    p, y = torch.as_tensor(predictions).long(), torch.as_tensor(labels).long()
    return torch.bincount(y * n_classes + p, minlength=n_classes * n_classes).view(n_classes, n_classes)


def plot_zero_shot(scores: dict, path, title: str = ""):
    """Row-normalised confusion matrix of a zero-shot result (``zero_shot(...)`` dict), saved to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from ..utils.errors import BackendMissingError

        raise BackendMissingError("--plot needs matplotlib: pip install 'mobileclip-kd[bench]'") from None
    names = scores["classnames"]
    conf = confusion_matrix(scores["predictions"], scores["labels"], len(names)).float()
    conf = conf / conf.sum(1, keepdim=True).clamp(min=1)
    side = min(12.0, 3 + 0.45 * len(names))
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    im = ax.imshow(conf.numpy(), cmap="Blues", vmin=0, vmax=1)
    if len(names) <= 40:
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right")
        ax.set_yticks(range(len(names)), names)
    if len(names) <= 12:
        for i in range(len(names)):
            for j in range(len(names)):
                if conf[i, j] >= 0.005:
                    ax.text(j, i, f"{100 * conf[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if conf[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}\nzero-shot top-1 {100 * scores['top1']:.2f}% (n={scores['n']}, "
                 f"{scores['n_templates']} prompt{'s' if scores['n_templates'] != 1 else ''})", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------------------
# public evaluations
# ----------------------------------------------------------------------------------------------------------
def zero_shot(encoder, root, templates="ensemble", batch_size=64, limit=None, num_workers=0, progress=False) -> dict:
    """Zero-shot top-1/top-5 (fractions in [0, 1]) on a class folder. ``templates``: "single", "ensemble" or a list.
    Returns ``top1, top5, n, n_classes, n_templates, skipped, predictions, labels, indices, classnames``."""
    zs = zero_shot_images(encoder, root, batch_size, limit, num_workers, progress)
    return zero_shot_scores(zs, templates, progress)


def recall_at_k(sim: torch.Tensor, correct, ks=(1, 5, 10)) -> dict:
    """``sim`` (queries, candidates); ``correct(topk_indices) -> (queries, k) bool``. Percent per k."""
    out = {}
    for k in ks:
        kk = min(k, sim.shape[1])
        top = sim.topk(kk, dim=1).indices
        out[f"R@{k}"] = correct(top).any(1).float().mean().item()
    return out


def retrieval(encoder, csv, batch_size=64, limit=None, num_workers=0, progress=False) -> dict:
    """Image<->text retrieval R@1/5/10 (fractions) on an ``image,caption`` CSV. ``limit``: first N distinct images
    (with all their captions). Captions of unreadable images are dropped (``skipped`` counts images)."""
    rows = read_caption_csv(csv)
    images, where = [], {}
    for path, _ in rows:
        if path not in where:
            where[path] = len(images)
            images.append(path)
    if limit is not None:
        if limit < 1:
            raise MobileClipError(f"--limit must be >= 1, got {limit}")
        images = images[:limit]
    img_emb, kept, counter = encode_image_files(encoder, images, batch_size, num_workers, progress,
                                                f"retrieval images [{encoder_label(encoder)}]")
    column = {int(p): j for j, p in enumerate(kept.tolist())}  # image position -> row of img_emb
    captions, cap_img = [], []
    for path, caption in rows:
        pos = where[path]
        if pos in column:
            captions.append(caption)
            cap_img.append(column[pos])
    txt_emb = encode_texts(encoder, captions, batch_size=max(batch_size, 256), progress=progress, desc="captions")
    cap_img = torch.as_tensor(cap_img)
    sim = txt_emb @ img_emb.T  # (captions, images)
    t2i = recall_at_k(sim, lambda top: top == cap_img[:, None])
    i2t = recall_at_k(sim.T, lambda top: cap_img[top] == torch.arange(len(img_emb))[:, None])
    return {"image_to_text": i2t, "text_to_image": t2i, "n_images": int(len(img_emb)),
            "n_captions": int(len(captions)), "skipped": counter.count}


def agreement_from_images(s: ZeroShotImages, t: ZeroShotImages, templates, kd_heads=None, progress=False) -> dict:
    """:func:`agreement` from precomputed student (``s``) and teacher (``t``) zero-shot image embeddings."""
    templates = get_templates(templates)
    s_res, t_res = zero_shot_scores(s, templates, progress), zero_shot_scores(t, templates, progress)
    common = sorted(set(s.indices.tolist()) & set(t.indices.tolist()))
    if not common:
        raise MobileClipError("student and teacher share no readable image")
    s_row = {p: j for j, p in enumerate(s.indices.tolist())}
    t_row = {p: j for j, p in enumerate(t.indices.tolist())}
    si = torch.as_tensor([s_row[p] for p in common])
    ti = torch.as_tensor([t_row[p] for p in common])
    s_pred, t_pred = torch.as_tensor(s_res["predictions"])[si], torch.as_tensor(t_res["predictions"])[ti]

    def to_teacher(x, tower):
        if kd_heads and tower in kd_heads:
            return F.normalize(kd_heads[tower](x), dim=-1), "kd_heads"
        if x.shape[-1] == t.image.shape[-1]:
            return x, "direct"
        return None, None

    s_img, space_i = to_teacher(s.image[si], "image")
    s_txt, space_t = to_teacher(s.prompt_embeddings(templates).flatten(0, 1), "text")
    t_txt = t.prompt_embeddings(templates).flatten(0, 1)
    cos_i = (s_img * t.image[ti]).sum(-1).mean().item() if s_img is not None else None
    cos_t = (s_txt * t_txt).sum(-1).mean().item() if s_txt is not None else None
    return {"top1_agreement": (s_pred == t_pred).float().mean().item(),
            "mean_cosine": cos_i, "mean_cosine_image": cos_i, "mean_cosine_text": cos_t,
            "space": {"image": space_i, "text": space_t}, "n": len(common),
            "student_top1": s_res["top1"], "teacher_top1": t_res["top1"], "n_templates": len(templates)}


def agreement(student, teacher, root, templates="ensemble", kd_heads=None, batch_size=64, limit=None,
              num_workers=0, progress=False) -> dict:
    """Top-1 agreement (fraction) of student and teacher zero-shot predictions on ``root`` and the mean cosine of
    the student's embeddings mapped into the teacher's space (``kd_heads`` from
    :func:`kd_heads_from_checkpoint`; with equal dims and no heads, compared directly; else ``None``).
    ``mean_cosine`` is the image-embedding cosine; ``mean_cosine_text`` the prompt-embedding cosine."""
    s = zero_shot_images(student, root, batch_size, limit, num_workers, progress)
    t = zero_shot_images(teacher, root, batch_size, limit, num_workers, progress)
    return agreement_from_images(s, t, templates, kd_heads, progress)

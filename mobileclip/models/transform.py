"""CLIP-style image preprocessing built with torchvision from a model's preprocessing config."""
from __future__ import annotations

from ..utils.torchvision_guard import import_torchvision

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _to_rgb(image):
    """The one photo policy, shared with the Android and iOS apps: apply the EXIF orientation, then RGB
    (golden/images/exif_orientation_6.jpg checks that Python, Java and Swift agree)."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(image).convert("RGB")


def image_transform(preprocess: dict, train: bool = False, scale=(0.9, 1.0)):
    """Eval: resize shortest side (bicubic) -> center crop -> tensor -> normalise; with ``resize_mode: squash``
    (SigLIP's processor) the whole photo is resized to S x S instead, no crop.
    Train: random resized crop with ``scale`` -> tensor -> normalise (CLIP's training recipe)."""
    T = import_torchvision().transforms
    size = int(preprocess.get("image_size", 224))
    interp = T.InterpolationMode(preprocess.get("interpolation", "bicubic"))
    mean, std = preprocess.get("mean", CLIP_MEAN), preprocess.get("std", CLIP_STD)
    to_rgb = T.Lambda(_to_rgb)  # a named function keeps the transform picklable for workers
    if train:
        return T.Compose([to_rgb, T.RandomResizedCrop(size, scale=scale, interpolation=interp),
                          T.ToTensor(), T.Normalize(mean, std)])
    squash = preprocess.get("resize_mode", "shortest") == "squash"
    return T.Compose([to_rgb, T.Resize((size, size) if squash else size, interpolation=interp), T.CenterCrop(size),
                      T.ToTensor(), T.Normalize(mean, std)])

"""Prompt templates for zero-shot classification and for captions made from class names.

``SINGLE`` is one plain prompt; ``ENSEMBLE`` is the 18-template CIFAR-10 prompt ensemble of the CLIP
paper (Radford et al. 2021, the ``CLIP/notebooks/Prompt_Engineering_for_ImageNet.ipynb`` companion
``data/prompts.md``). Zero-shot class embeddings average the normalised embeddings of every template
filled with the class name (see :func:`mobileclip.evaluation.metrics.zero_shot`).
"""
from __future__ import annotations

from ..utils.errors import MobileClipError

SINGLE = ["a photo of a {}."]

ENSEMBLE = [
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
]

TEMPLATE_SETS = {"single": SINGLE, "ensemble": ENSEMBLE}


def get_templates(name) -> list[str]:
    """``"single"`` / ``"ensemble"``, or a list of templates each holding one ``{}`` (returned as a list)."""
    if isinstance(name, str):
        try:
            return list(TEMPLATE_SETS[name.lower()])
        except KeyError:
            raise MobileClipError(f"unknown template set {name!r}; choose from {sorted(TEMPLATE_SETS)} "
                                  f"or pass a list of templates with one '{{}}'") from None
    templates = list(name)
    bad = [t for t in templates if not isinstance(t, str) or t.count("{}") != 1]
    if not templates or bad:
        raise MobileClipError(f"templates must be a non-empty list of strings with exactly one '{{}}'; bad: {bad[:3]}")
    return templates

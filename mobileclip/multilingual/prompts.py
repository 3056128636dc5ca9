"""CIFAR-10 zero-shot prompts written in English, German, French and Czech (written for this project).

Each language has templates with one ``{}`` and, per CIFAR-10 class folder name, the phrase that fills it
(article and case included: German "von einer Katze", French "d'une voiture", Czech genitive "kočky").
The English phrases keep the folder names (``automobile``) as the rest of the toolkit's prompts do, so the
English row is the pipeline's usual reference.
"""
from __future__ import annotations

from ..utils.errors import MobileClipError

CIFAR10_PROMPTS = {
    "en": {
        "templates": ["a photo of {}.", "a blurry photo of {}.", "a photo of the small {}.", "a good photo of {}."],
        "classes": {"airplane": "an airplane", "automobile": "an automobile", "bird": "a bird", "cat": "a cat",
                    "deer": "a deer", "dog": "a dog", "frog": "a frog", "horse": "a horse", "ship": "a ship",
                    "truck": "a truck"},
    },
    "de": {
        "templates": ["ein Foto {}.", "ein unscharfes Foto {}.", "ein Bild {}.", "ein gutes Foto {}."],
        "classes": {"airplane": "von einem Flugzeug", "automobile": "von einem Auto", "bird": "von einem Vogel",
                    "cat": "von einer Katze", "deer": "von einem Hirsch", "dog": "von einem Hund",
                    "frog": "von einem Frosch", "horse": "von einem Pferd", "ship": "von einem Schiff",
                    "truck": "von einem Lastwagen"},
    },
    "fr": {
        "templates": ["une photo {}.", "une photo floue {}.", "une image {}.", "une bonne photo {}."],
        "classes": {"airplane": "d'un avion", "automobile": "d'une voiture", "bird": "d'un oiseau",
                    "cat": "d'un chat", "deer": "d'un cerf", "dog": "d'un chien", "frog": "d'une grenouille",
                    "horse": "d'un cheval", "ship": "d'un bateau", "truck": "d'un camion"},
    },
    "cs": {
        "templates": ["fotografie {}.", "rozmazaná fotografie {}.", "obrázek {}.", "dobrá fotografie {}."],
        "classes": {"airplane": "letadla", "automobile": "auta", "bird": "ptáka", "cat": "kočky", "deer": "jelena",
                    "dog": "psa", "frog": "žáby", "horse": "koně", "ship": "lodi", "truck": "nákladního auta"},
    },
}


def class_prompts(lang: str, classnames: list[str]) -> list[list[str]]:
    """Per class (in ``classnames`` order), the prompts of ``lang``."""
    if lang not in CIFAR10_PROMPTS:
        raise MobileClipError(f"no zero-shot prompts written for language {lang!r}; have {sorted(CIFAR10_PROMPTS)}")
    table = CIFAR10_PROMPTS[lang]
    missing = [c for c in classnames if c not in table["classes"]]
    if missing:
        raise MobileClipError(f"no {lang} prompt phrase for classes {missing} (the table covers CIFAR-10)")
    return [[t.format(table["classes"][c]) for t in table["templates"]] for c in classnames]

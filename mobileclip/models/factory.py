"""Model registry: JSON configs in ``model_configs/``, ``create_model(name, **overrides)``."""
from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path

from ..utils.errors import UnknownModelError
from .model import MobileCLIP

CONFIG_DIR = Path(__file__).parent / "model_configs"
DEFAULT_MODEL = "mnv3l-lsra-512"


@lru_cache(maxsize=None)
def _registry() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(CONFIG_DIR.glob("*.json"))}


def list_models() -> list[str]:
    return sorted(_registry())


def _merge(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def get_model_config(name: str, **overrides) -> dict:
    """The full config of a registered model, with nested ``overrides`` merged in."""
    if name not in _registry():
        raise UnknownModelError(f"unknown model config {name!r}; known: {', '.join(list_models())}")
    return _merge(_registry()[name], overrides)


def create_model_from_config(cfg: dict) -> MobileCLIP:
    cfg = copy.deepcopy(cfg)
    cfg.pop("name", None)
    return MobileCLIP(**cfg)


def create_model(name: str = DEFAULT_MODEL, **overrides) -> MobileCLIP:
    """Build a registered student, e.g. ``create_model('mnv3l-lsra-256', text_cfg={'layers': 4})``."""
    cfg = get_model_config(name, **overrides)
    model = create_model_from_config(cfg)
    model.config = {"name": name, **cfg}
    return model

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


def merge_config(base: dict, overrides: dict) -> dict:
    """``base`` with the nested ``overrides`` merged in (dicts merged key by key, other values replaced)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def check_overrides(base: dict, overrides: dict, flag: str = "overrides", where: str = "") -> None:
    """Every key of ``overrides`` names a setting of ``base`` (a model config), at every level: a misspelt or
    unknown key is one line naming it (the model's constructor would reject it with a traceback, or ignore it)."""
    for key, value in overrides.items():
        path = f"{where}{key}"
        if key not in base or key == "name":
            known = ", ".join(k for k in base if k not in ("name", "description"))
            raise UnknownModelError(f"{flag}: unknown key {path!r}; the {where.rstrip('.') or 'model'} config has "
                                    f"{known}")
        if isinstance(value, dict):
            if not isinstance(base[key], dict):
                raise UnknownModelError(f"{flag}: {path!r} is a {type(base[key]).__name__}, not a section")
            check_overrides(base[key], value, flag, f"{path}.")


def get_model_config(name: str, **overrides) -> dict:
    """The full config of a registered model, with nested ``overrides`` merged in."""
    if name not in _registry():
        raise UnknownModelError(f"unknown model config {name!r}; known: {', '.join(list_models())}")
    return merge_config(_registry()[name], overrides)


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

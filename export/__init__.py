"""The export package's public face: what a Python caller needs, loaded on first use.

    from export import get_backend, export_checkpoint, Thresholds, load_exported
    manifest = export_checkpoint(get_backend("executorch"), "student.pt", "exports", quantize="int8")
    encoder = load_exported("exports", "executorch", quantization="int8")

Each name lives in one module (``docs/export_api.md`` lists them); ``import export`` itself imports nothing, so
the light modules (``export.errors``, ``export.manifest``) stay light. The package stands on ``mobileclip``'s
utils, models and data only (``tests/mobileclip/test_layout.py``).
"""
from __future__ import annotations

import importlib

_FACE = {
    "export_checkpoint": "pipeline", "export_model": "pipeline",
    "BACKENDS": "backends", "Backend": "backends", "get_backend": "backends",
    "Thresholds": "verify", "verification_table": "verify",
    "load_exported": "runtime", "list_exported": "runtime", "ExportedEncoder": "runtime",
    "read_manifest": "manifest", "validate_manifest": "manifest", "manifest_path": "manifest",
    "export_teacher": "teacher",
    "write_golden": "golden",
    "ExportError": "errors", "VerificationError": "errors",
}
__all__ = sorted(_FACE)


def __getattr__(name: str):
    if name in _FACE:
        return getattr(importlib.import_module(f"{__name__}.{_FACE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

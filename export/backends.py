"""The backend registry: which backends exist, their other names, and the one way to load and run an exported file.

A backend (``export/executorch.py``, ``export/coreml.py``, ``export/tflite.py``) is a :class:`Backend`
subclass with a recipe enum, an ``export`` step (quantise + lower + write one file), a ``load`` step that
runs a written file, and an ``embedder`` used by verification (``load``, or for Core ML on Linux a static
check of the package). Every caller that runs an exported file (verification, ``export.runtime``,
``benchmarks.latency``) goes through :meth:`Backend.load`.
"""
from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from mobileclip.utils.errors import BackendMissingError, MobileClipError

# backend (the export.<name> module, the manifest's "backend" value) -> runtime that runs its files
# (the name benchmarks report: LiteRT is the runtime's current name, tflite the file format's)
RUNTIMES = {"executorch": "executorch", "coreml": "coreml", "tflite": "litert"}
BACKENDS = tuple(RUNTIMES)
# every name a user may type -> backend (litert -> tflite)
ALIASES = {**{runtime: backend for backend, runtime in RUNTIMES.items()}, **{b: b for b in RUNTIMES}}

Runner = Callable[[torch.Tensor], np.ndarray]


def backend_name(name: str) -> str:
    """The backend a name stands for (``litert`` -> ``tflite``); a one-line error for an unknown name."""
    if name in ALIASES:
        return ALIASES[name]
    raise MobileClipError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} (litert = tflite)")


def runtime_name(name: str) -> str:
    """The runtime that runs ``name``'s files, as benchmarks report it (``tflite`` -> ``litert``)."""
    return RUNTIMES[backend_name(name)]


def get_backend(name: str) -> "Backend":
    """The :class:`Backend` of ``export.<name>`` (aliases accepted); importing it needs none of its packages."""
    return importlib.import_module(f"export.{backend_name(name)}").BACKEND


def backend_for_file(path) -> str | None:
    """The backend whose files end like ``path`` (``.pte``, ``.mlpackage``, ``.tflite``), or None."""
    for name in BACKENDS:
        if str(path).endswith(get_backend(name).suffix):
            return name
    return None


@dataclass
class Lowered:
    """What a backend's ``export`` step returns (the file is already written at the given path)."""

    info: dict = field(default_factory=dict)  # backend-specific facts for the manifest (delegation, ops, ...)
    summary: str = ""  # one line for the console


class Backend:
    """Subclass per runtime. ``Recipe`` is an Enum of recipe names; ``export`` writes ``path``."""

    name: str = ""
    suffix: str = ""
    android: bool = False  # the phone apps / on-device runners run these files
    packages: tuple[str, ...] = ()  # import names; missing -> BackendMissingError
    install_hint: str = "pip install 'mobileclip-kd[export]'"
    Recipe: type[enum.Enum]

    def require(self) -> None:
        for pkg in self.packages:
            try:
                importlib.import_module(pkg)
            except ImportError as e:
                raise BackendMissingError(
                    f"{self.name} export needs the Python package {pkg!r} ({type(e).__name__}: {e}); "
                    f"install it with {self.install_hint}") from None

    def default_recipe(self, tower: str, quantization: str) -> enum.Enum:
        raise NotImplementedError

    def precision(self, recipe: enum.Enum, quantization: str) -> str:
        """Which threshold applies: "fp32", "fp16" (unquantised but fp16 weights/compute) or "int8"."""
        return quantization

    def check_recipe(self, recipe: enum.Enum, tower: str, quantization: str) -> None:
        """Raise ExportError when ``recipe`` does not fit the tower/quantisation."""

    def export(self, module: nn.Module, example: torch.Tensor, tower: str, quantization: str,
               recipe: enum.Enum, calib: torch.Tensor, path: Path) -> Lowered:
        raise NotImplementedError

    def load(self, path: Path, tower: str, num_threads: int | None = None) -> Runner:
        """Load the written file at ``path`` in this backend's runtime: ``fn(x)`` maps one input (1, ...) to
        its (1, D) numpy output. Raises :class:`BackendMissingError` when the runtime is not installed."""
        raise NotImplementedError

    def embedder(self, path: Path, tower: str, module: nn.Module, lowered: Lowered) -> tuple[Runner, str]:
        """``(fn, method)``: ``fn(x)`` maps one input (1, ...) to a (1, D) numpy embedding computed from the
        file at ``path``; ``method`` says in words how (run in which runtime, or what was checked)."""
        raise NotImplementedError

"""Which tools wrote and verified an exported file, and the oldest app-side runtime that may load it.

``entry_fields(backend, path, info)`` returns the two manifest fields of one model entry:

- ``toolchain``: the installed versions of the packages that wrote the file and ran its verification
  (ExecuTorch: ``executorch``; Core ML: ``coremltools`` + the ML program's minimum deployment target;
  LiteRT: ``litert-torch``, ``ai-edge-quantizer``, and ``ai-edge-litert``, whose interpreter ran it);
- ``min_runtime``: what the app must ship to load it (the Maven artifact and its lowest version, or the
  lowest iOS/macOS release), with the reason.

The rules (one place; the apps' pins are tested against them in ``tests/export/test_runtime_pins.py``):

* ExecuTorch promises that a runtime reads programs written by the same or an older release, not newer
  ones, so the Android AAR ``org.pytorch:executorch-android`` must be at least the ``executorch`` that wrote
  the ``.pte`` (the demo app pins them equal).
* LiteRT: ai-edge-quantizer stores large weights after the flatbuffer (``Buffer.offset``/``size``), which
  older runtimes reject at run time ("Input tensor ... lacks data"). Such a file is only known to load in
  the LiteRT release that verified it, so that release is its minimum (``com.google.ai.edge.litert:litert``
  shares its version numbers with the ``ai-edge-litert`` wheel). Files without offset buffers record the
  same minimum: no older runtime was run on them either.
* Core ML: the ML program's ``minimum_deployment_target`` (for example ``iOS17`` -> iOS 17.0, macOS 14.0).
"""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

PACKAGES = {
    "executorch": ("executorch",),
    "coreml": ("coremltools",),
    "tflite": ("litert-torch", "ai-edge-quantizer", "ai-edge-litert"),
}
ANDROID_ARTIFACTS = {
    "executorch": "org.pytorch:executorch-android",
    "tflite": "com.google.ai.edge.litert:litert",
}
# Core ML deployment targets -> the OS releases that load them (coremltools' ct.target names)
COREML_OS = {"iOS15": ("15.0", "12.0"), "iOS16": ("16.0", "13.0"), "iOS17": ("17.0", "14.0"),
             "iOS18": ("18.0", "15.0")}


def version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def release(version: str) -> str:
    """``1.5.1+cpu`` / ``2.3.0.dev1`` -> ``1.5.1`` / ``2.3.0`` (the Maven-comparable part)."""
    m = re.match(r"\d+(\.\d+)*", version)
    if not m:
        raise ValueError(f"not a version: {version!r}")
    return m.group(0)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in release(version).split("."))


def tflite_offset_buffers(path: Path) -> int | None:
    """How many buffers of a ``.tflite`` file live after the flatbuffer (``Buffer.offset > 1``); None when the
    file is not a TFLite flatbuffer (file identifier ``TFL3``)."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    if data[4:8] != b"TFL3":
        return None
    model = schema.Model.GetRootAsModel(data, 0)
    return sum(1 for i in range(model.BuffersLength()) if model.Buffers(i).Offset() > 1)


def toolchain(backend: str, info: dict | None = None) -> dict:
    """The installed versions of the packages that wrote and verified a ``backend`` file."""
    out = {name: version_of(name) or "not installed" for name in PACKAGES[backend]}
    if backend == "coreml":
        out["minimum_deployment_target"] = (info or {}).get("minimum_deployment_target", "unknown")
    return out


def min_runtime(backend: str, path: Path, info: dict | None = None) -> dict:
    """The oldest app-side runtime that may load the file at ``path`` (see the module docstring)."""
    if backend == "coreml":
        target = (info or {}).get("minimum_deployment_target")
        if target is None:
            return {"reason": "the backend recorded no minimum_deployment_target: unknown"}
        if target not in COREML_OS:
            raise ValueError(f"unknown Core ML deployment target {target!r}")
        ios, macos = COREML_OS[target]
        return {"ios": ios, "macos": macos, "reason": f"ML program with minimum_deployment_target {target}"}
    if backend == "executorch":
        wrote = version_of("executorch")
        return {"android_artifact": ANDROID_ARTIFACTS[backend], "version": release(wrote) if wrote else "unknown",
                "reason": "ExecuTorch runtimes read programs of the same or an older release"}
    verified = version_of("ai-edge-litert")
    offsets = tflite_offset_buffers(path)
    why = ("not a TFLite flatbuffer: its features are unknown" if offsets is None else
           f"{offsets} weight buffers stored after the flatbuffer (Buffer.offset), which older runtimes reject"
           if offsets else "no older runtime was run on this file")
    return {"android_artifact": ANDROID_ARTIFACTS[backend], "version": release(verified) if verified else "unknown",
            **({"offset_buffers": offsets} if offsets is not None else {}),
            "reason": f"verified with ai-edge-litert {verified}; {why}"}


def entry_fields(backend: str, path: Path, info: dict | None = None) -> dict:
    """``{"toolchain": ..., "min_runtime": ...}`` for one manifest model entry."""
    return {"toolchain": toolchain(backend, info), "min_runtime": min_runtime(backend, Path(path), info)}

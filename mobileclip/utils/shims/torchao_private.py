"""torchao private APIs used by mobileclip-kd, in one place.

* ``QuantizationAnnotation(..., _annotated=True)``: the flag PT2E quantizers set on an annotated node
  (``export.executorch`` annotates conv -> ReLU for dynamic int8).

:data:`SYMBOLS` lists them; ``tests/export/test_shims.py`` fails when one disappears.
"""
from __future__ import annotations

import importlib

CHECKED_AGAINST = "torchao==0.18.0"
QUANTIZER = "torchao.quantization.pt2e.quantizer"
SYMBOLS = {QUANTIZER: ("QuantizationAnnotation",)}
PRIVATE_FIELDS = {"QuantizationAnnotation": ("_annotated",)}


def annotated(input_qspec_map: dict):
    """A ``QuantizationAnnotation`` of a node whose inputs are quantised as ``input_qspec_map``, marked annotated."""
    cls = importlib.import_module(QUANTIZER).QuantizationAnnotation
    return cls(input_qspec_map=input_qspec_map, _annotated=True)

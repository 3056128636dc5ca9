"""coremltools private APIs used by mobileclip-kd, in one place.

* ``coremltools.converters.mil.frontend.milproto.load.load``: rebuilds the MIL program of a saved
  ``.mlpackage`` from its files (``export.coreml`` checks the written package on Linux, where Core ML
  ``predict`` is unavailable).

:data:`SYMBOLS` lists them; ``tests/export/test_shims.py`` fails when one disappears.
"""
from __future__ import annotations

import importlib

CHECKED_AGAINST = "coremltools==9.0"
MILPROTO_LOAD = "coremltools.converters.mil.frontend.milproto.load"
SYMBOLS = {MILPROTO_LOAD: ("load",)}


def load_milproto(spec, specification_version: int, weights_dir: str):
    """The MIL program of ``spec`` (an ``MLModel.get_spec()``), its weights read from ``weights_dir``."""
    return importlib.import_module(MILPROTO_LOAD).load(spec, specification_version, weights_dir)

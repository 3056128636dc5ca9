"""Drop known-harmless third-party log lines and warnings that would bury our one-line errors.

Every command imports ``mobileclip`` first, whose ``__init__`` calls :func:`quiet_known_noise` -- the one
place these are filtered. Each filter matches one exact message; everything else still shows.

Logging:

* torchao's CUDA-only kernels (``_C_mxfp8``, ``_C_cutlass_*``) cannot load with the CPU torch wheel;
  torchao logs a warning for each at import (transformers imports torchao). CPU paths are unaffected.
* torchao registers Enums as pytree constants, which torch 2.13 now logs as deprecated.
* coremltools (not on macOS): its native library ``coremltools.libcoremlpython`` ships for macOS only, so it
  logs one "Failed to load _ML...Proxy" line per proxy class at import (about ten). Conversion works without it;
  running a model needs macOS, which the export says in its own words. On macOS the lines still show.

Warnings (``KNOWN_WARNINGS``):

* ``isinstance(treespec, LeafSpec)`` (FutureWarning): torch 2.13 deprecates ``LeafSpec``; torch.export and
  ExecuTorch still copy pytree specs built with it, and torch's own ``catch_warnings`` blocks reset the
  once-per-location registry, so one export printed it dozens of times.
"""
from __future__ import annotations

import logging
import sys
import warnings

# (category, regular expression matched against the start of the message)
KNOWN_WARNINGS = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
)


class _DropMessages(logging.Filter):
    def __init__(self, *needles: str):
        super().__init__()
        self.needles = needles

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not all(n in msg for n in self.needles)


def quiet_known_noise() -> None:
    logging.getLogger("torchao").addFilter(_DropMessages("Failed to load", "torchao/_C"))
    logging.getLogger("torch.utils._pytree").addFilter(_DropMessages("is an Enum subclass", "register_constant"))
    if sys.platform != "darwin":
        logging.getLogger("coremltools").addFilter(
            _DropMessages("Failed to load _ML", "No module named 'coremltools.libcoremlpython'"))
    for category, message in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)

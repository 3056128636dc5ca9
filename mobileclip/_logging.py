"""Drop two known-harmless third-party log lines that would bury our one-line errors.

* torchao's CUDA-only kernels (``_C_mxfp8``, ``_C_cutlass_*``) cannot load with the CPU torch wheel;
  torchao logs a warning for each at import (transformers imports torchao). CPU paths are unaffected.
* torchao registers Enums as pytree constants, which torch 2.13 now logs as deprecated.
Only these exact messages are filtered; everything else from those loggers still shows.
"""
from __future__ import annotations

import logging


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

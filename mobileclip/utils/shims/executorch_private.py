"""ExecuTorch private APIs used by mobileclip-kd, in one place.

* ``portable_lib._threadpool_get_thread_count`` / ``_unsafe_reset_threadpool``: the size of XNNPACK's
  process-wide threadpool (``benchmarks.latency`` measures at fixed thread counts);
* ``_C._load_for_executorch`` and the same two threadpool calls on the pybindings extension itself:
  ``benchmarks.cold_start`` imports ``_C`` directly (``portable_lib`` imports ``executorch.exir`` first);
* ``xnnpack_quantizer_utils._is_conv_node`` / ``_is_annotated`` / ``_mark_nodes_as_annotated``: the
  XNNPACK quantizer's annotation helpers (``export.executorch`` annotates conv -> ReLU for dynamic int8).

:data:`SYMBOLS` lists them; ``tests/export/test_shims.py`` fails when one disappears.
"""
from __future__ import annotations

import importlib

CHECKED_AGAINST = "executorch==1.5.1"
PORTABLE_LIB = "executorch.extension.pybindings.portable_lib"
PYBINDINGS_C = "executorch.extension.pybindings._C"
QUANTIZER_UTILS = "executorch.backends.xnnpack.quantizer.xnnpack_quantizer_utils"
SYMBOLS = {PORTABLE_LIB: ("_threadpool_get_thread_count", "_unsafe_reset_threadpool"),
           PYBINDINGS_C: ("_load_for_executorch", "_threadpool_get_thread_count", "_unsafe_reset_threadpool"),
           QUANTIZER_UTILS: ("_is_conv_node", "_is_annotated", "_mark_nodes_as_annotated")}


def set_threadpool_size(threads: int) -> None:
    """Resize XNNPACK's threadpool to ``threads`` when it has another size.

    In executorch 1.5 ``_unsafe_reset_threadpool`` aborts the process when the pool was never used or already
    has that size, and delegates loaded before a reset keep a dangling pool (segfault): release every loaded
    program first and load programs afresh after the call.
    """
    lib = importlib.import_module(PORTABLE_LIB)
    if lib._threadpool_get_thread_count() != threads:
        lib._unsafe_reset_threadpool(threads)


def is_conv_node(node) -> bool:
    """The XNNPACK quantizer's test for a convolution node of an exported graph."""
    return importlib.import_module(QUANTIZER_UTILS)._is_conv_node(node)


def is_annotated(nodes: list) -> bool:
    """Whether the XNNPACK quantizer already annotated any of ``nodes``."""
    return importlib.import_module(QUANTIZER_UTILS)._is_annotated(nodes)


def mark_annotated(nodes: list) -> None:
    """Mark ``nodes`` annotated, so no later quantizer pattern annotates them again."""
    importlib.import_module(QUANTIZER_UTILS)._mark_nodes_as_annotated(nodes)

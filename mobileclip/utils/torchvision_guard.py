"""Import torchvision safely beside a CPU-only torch.

PyPI's torchvision wheels are CUDA builds. Beside the CPU torch wheel their C extension
(``torchvision/_C.so``) cannot load, and ``import torchvision`` then dies with
``operator torchvision::nms does not exist`` because ``torchvision._meta_registrations``
registers fake kernels for two operators whose schemas the extension should have defined.

When -- and only when -- the extension cannot load, we define those two schemas with
``torch.library`` before the first import. The models we use (MobileNetV3, transforms) never
call the detection operators; calling ``torchvision.ops.nms`` in that state raises a clear error
from torch ("no kernel registered"), not a wrong answer.
"""
from __future__ import annotations

import importlib.util
import os
import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIB = None  # keep the Library object alive for the life of the process
extension_loaded: bool | None = None


def _extension_loads() -> bool:
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # nothing to guard; the import will report the missing package itself
    folder = list(spec.submodule_search_locations)[0]
    lib = next((os.path.join(folder, f) for f in os.listdir(folder) if f.startswith("_C.") and f.endswith((".so", ".pyd"))), None)
    if lib is None:
        return False
    try:
        torch.ops.load_library(lib)
        return True
    except OSError:
        return False


def import_torchvision():
    """Return the ``torchvision`` module, defining missing operator schemas first if needed."""
    global _LIB, extension_loaded
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    import torch

    extension_loaded = _extension_loads()
    if not extension_loaded and _LIB is None:
        _LIB = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901
        for schema in _SCHEMAS.values():
            _LIB.define(schema)
    import torchvision

    return torchvision

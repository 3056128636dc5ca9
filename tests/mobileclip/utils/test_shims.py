"""Every private API mobileclip uses sits in mobileclip/utils/shims/, one module per library: fail loudly when a
library update removes or changes one (the module's CHECKED_AGAINST says which version was last checked)."""
import importlib
import pkgutil

import pytest
import torch
from torch import nn

import mobileclip.utils.shims


def test_every_shim_names_its_checked_version():
    names = [m.name for m in pkgutil.iter_modules(mobileclip.utils.shims.__path__)]
    assert {"torch_private", "python_html"} <= set(names)
    for name in names:
        mod = importlib.import_module(f"mobileclip.utils.shims.{name}")
        assert "==" in getattr(mod, "CHECKED_AGAINST", ""), f"{name} lacks CHECKED_AGAINST"


def test_torch_batchnorm_base():
    from mobileclip.utils.shims.torch_private import BatchNormBase

    for cls in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm):
        assert issubclass(cls, BatchNormBase), f"torch {torch.__version__}: {cls.__name__} no longer a _BatchNorm"
    assert hasattr(BatchNormBase, "reset_running_stats")


def test_python_html_tables():
    from mobileclip.utils.shims.python_html import INVALID_CHARREFS, INVALID_CODEPOINTS

    assert INVALID_CHARREFS[0x80] == "\u20ac" and 0x1 in INVALID_CODEPOINTS


def test_load_teacher_and_untrained_student_leave_the_global_rng_alone():
    from mobileclip.evaluation.encoders import load_encoder

    torch.manual_seed(123)
    before = torch.get_rng_state()
    with pytest.warns(UserWarning):
        load_encoder("vit-b-32-random")
    a = load_encoder("tiny-lsra-light")
    assert torch.equal(torch.get_rng_state(), before)
    b = load_encoder("tiny-lsra-light")
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), k  # the same init every time

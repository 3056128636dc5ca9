"""One check for NaN/inf in weights and embeddings: a clear error instead of plausible-looking numbers.

A checkpoint with a NaN weight otherwise evaluates to some top-1 (argmax of NaN rows is index 0), and an
export of it "verifies" against equally broken references.
"""
from __future__ import annotations

import torch

from .errors import MobileClipError


class NonFiniteError(MobileClipError):
    pass


def check_finite(x, what: str):
    """Return ``x`` (a tensor, or a module / state dict whose floating tensors are checked) if every value is
    finite; else raise :class:`NonFiniteError` naming ``what`` (and the first bad tensor of a module)."""
    if isinstance(x, torch.nn.Module):
        items = list(x.state_dict().items())
    elif isinstance(x, dict):
        items = [(k, v) for k, v in x.items() if isinstance(v, torch.Tensor)]
    else:
        items = [("", torch.as_tensor(x))]
    for name, t in items:
        if t.is_floating_point() or t.is_complex():
            bad = ~torch.isfinite(t.detach())
            if bool(bad.any()):
                n = int(bad.sum())
                where = f" in {name}" if name else ""
                raise NonFiniteError(f"{what}: {n} non-finite value(s) (NaN or infinity){where}; "
                                     f"the weights are broken (diverged training or a damaged file)")
    return x

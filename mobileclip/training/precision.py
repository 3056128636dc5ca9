"""Training precision: ``fp32 | amp | amp_bf16`` -> the autocast dtype and whether a GradScaler is needed.

``amp`` is fp16 autocast with dynamic loss scaling (CUDA only: fp16 gradients underflow without it);
``amp_bf16`` is bf16 autocast, which has fp32's exponent range and so needs no scaler (CPU or a GPU with
bf16 support). Parameters, optimizer state and the loss terms stay fp32 in every mode.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

PRECISIONS = ("fp32", "amp", "amp_bf16")


@dataclass(frozen=True)
class Precision:
    name: str
    device_type: str
    dtype: torch.dtype | None  # autocast dtype; None = no autocast
    scaler: bool  # whether losses go through a GradScaler

    def autocast(self):
        """Context for the forward passes (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, disabled (a pass-through whose state_dict is empty) unless fp16 needs it."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scaler)


def precision_for(name: str, device: torch.device | str) -> Precision:
    """Validate ``name`` for ``device`` (one clear error for an impossible combination)."""
    device = torch.device(device)
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
    if name == "fp32":
        return Precision(name, device.type, None, False)
    if name == "amp":
        if device.type != "cuda":
            raise ValueError("precision 'amp' (fp16 with loss scaling) needs a CUDA device; use amp_bf16 on CPU")
        return Precision(name, device.type, torch.float16, True)
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision 'amp_bf16': {torch.cuda.get_device_name(device)} has no bf16 support; use amp")
    return Precision(name, device.type, torch.bfloat16, False)

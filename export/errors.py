"""Exceptions of the export package."""
from __future__ import annotations

from mobileclip.utils.errors import MobileClipError


class ExportError(MobileClipError):
    """Export could not be produced (bad option, lowering failure)."""


class VerificationError(MobileClipError):
    """An exported model computes something too far from the PyTorch fp32 model."""

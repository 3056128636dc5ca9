"""Exceptions of the export package, and :func:`export_faults`: Ctrl-C and OS errors of an export run as one line."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from mobileclip.utils.errors import MobileClipError


class ExportError(MobileClipError):
    """Export could not be produced (bad option, lowering failure)."""


class VerificationError(MobileClipError):
    """An exported model computes something too far from the PyTorch fp32 model."""


class InterruptedAfterCommit(KeyboardInterrupt):
    """Ctrl-C that came while a finished export was being moved into its folder (held back until it was in)."""


@contextmanager
def export_faults(out):
    """Ctrl-C or an OS error (a full disk, a folder that cannot be written) during an export run becomes one
    :class:`ExportError` line saying what ``out`` now holds (exports are transactions: ``export/files.py``)."""
    try:
        yield
    except InterruptedAfterCommit:
        raise ExportError(f"interrupted (Ctrl-C) after the new export was moved into {out}: it is complete there; "
                          f"`python -m export.runtime {out}` lists it") from None
    except KeyboardInterrupt:
        raise ExportError(f"interrupted (Ctrl-C); {out} keeps its previous export (nothing of this run was "
                          f"moved in)") from None
    except OSError as e:
        where = f" ({Path(e.filename).name})" if e.filename else ""
        raise ExportError(f"{e.strerror or e}{where} while exporting; {out} keeps its previous export (nothing of "
                          f"this run was moved in)") from None

"""One exception family for everything a user can get wrong; CLIs turn it into a one-line error."""
from __future__ import annotations

import sys
from contextlib import contextmanager


class MobileClipError(Exception):
    """Base class: bad input, missing backend, unknown name. Message is one line for the user."""


class UnknownModelError(MobileClipError, KeyError):
    def __str__(self):  # KeyError would quote the message
        return str(self.args[0])


class CheckpointError(MobileClipError):
    pass


class TeacherLoadError(MobileClipError):
    pass


class BackendMissingError(MobileClipError):
    pass


class TrainError(MobileClipError):
    """A training run cannot start or continue (bad configuration, data or checkpoint)."""


@contextmanager
def cli_errors(prog: str):
    """Run a CLI body; a MobileClipError becomes ``prog: error: ...`` on stderr and exit code 2."""
    try:
        yield
    except MobileClipError as e:
        msg = " ".join(str(e).split())  # one line
        print(f"{prog}: error: {msg}", file=sys.stderr)
        raise SystemExit(2) from None

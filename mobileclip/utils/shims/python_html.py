"""Private tables of the standard library's ``html`` module (golden fixtures record them for the apps' ports)."""
from __future__ import annotations

import html as _html

CHECKED_AGAINST = "python==3.11.7"

INVALID_CHARREFS: dict = _html._invalid_charrefs
INVALID_CODEPOINTS = _html._invalid_codepoints

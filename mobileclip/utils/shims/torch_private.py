"""Private torch names used by mobileclip, in one place (tests/mobileclip/utils/test_shims.py fails loudly if one disappears)."""
from __future__ import annotations

from torch import nn

CHECKED_AGAINST = "torch==2.13.0"

# every BatchNorm{1,2,3}d / SyncBatchNorm derives from it; there is no public base class with running stats
BatchNormBase = nn.modules.batchnorm._BatchNorm

"""mobileclip.utils.logs: the known third-party warning floods are filtered in one place, nothing else."""
import warnings

import mobileclip  # noqa: F401  (installs the filters)
from mobileclip.utils.logs import quiet_known_noise


def test_known_flood_filtered_other_warnings_kept():
    quiet_known_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("default")  # what a user's session shows by default ...
        quiet_known_noise()  # ... with our filters applied, as at import
        for _ in range(3):
            warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) "
                          "and treespec.is_leaf()` instead.", FutureWarning)
        warnings.warn("some other deprecation", FutureWarning)
    assert [str(w.message) for w in caught] == ["some other deprecation"]


def test_coremltools_macos_only_library_lines_dropped_off_macos(caplog):
    import logging
    import sys

    quiet_known_noise()
    log = logging.getLogger("coremltools")
    with caplog.at_level(logging.WARNING, logger="coremltools"):
        log.warning("Failed to load _MLModelProxy: No module named 'coremltools.libcoremlpython'")
        log.warning("Saving value type of int64 into a builtin type of int32, might lose precision!")
    kept = [r.getMessage() for r in caplog.records]
    assert kept[-1].startswith("Saving value type")  # anything else still shows
    assert any("libcoremlpython" in m for m in kept) == (sys.platform == "darwin")

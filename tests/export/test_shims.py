"""The private APIs the export side relies on still exist in the installed libraries (fails loudly when one goes)."""
from __future__ import annotations

import dataclasses
import importlib
import importlib.resources
from importlib import metadata

import pytest

SHIMS = ["executorch_private", "torchao_private", "coremltools_private"]


def _shim(name):
    return importlib.import_module(f"mobileclip.utils.shims.{name}")


@pytest.mark.parametrize("name", SHIMS)
def test_shim_names_a_pinned_version(name):
    shim = _shim(name)
    dist, _, version = shim.CHECKED_AGAINST.partition("==")
    constraints = (importlib.resources.files("mobileclip").parent / "constraints.txt")
    if constraints.is_file():  # a source checkout: the shim was checked against the pinned version
        assert shim.CHECKED_AGAINST in constraints.read_text().splitlines(), \
            f"{name}.CHECKED_AGAINST {shim.CHECKED_AGAINST} is not the pin in constraints.txt: re-check the shim"
    assert dist and version


@pytest.mark.parametrize("name", SHIMS)
def test_private_symbols_exist(name):
    shim = _shim(name)
    dist = shim.CHECKED_AGAINST.partition("==")[0]
    try:
        installed = metadata.version(dist)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{dist} not installed: its private APIs are not used here")
    missing = []
    for module, attrs in shim.SYMBOLS.items():
        mod = importlib.import_module(module)
        missing += [f"{module}.{a}" for a in attrs if not hasattr(mod, a)]
        for cls, fields in getattr(shim, "PRIVATE_FIELDS", {}).items():
            if hasattr(mod, cls):
                have = {f.name for f in dataclasses.fields(getattr(mod, cls))}
                missing += [f"{module}.{cls}.{f}" for f in fields if f not in have]
    assert not missing, (f"{dist} {installed} (shim checked against {shim.CHECKED_AGAINST}) lacks "
                         f"{', '.join(missing)}: update mobileclip/utils/shims/{name}.py")

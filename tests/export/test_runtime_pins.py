"""The apps load what the exporter writes: one set of runtime pins, checked against the exporter's toolchain.

- Android keeps its versions in one Gradle version catalog (android_demo/gradle/libs.versions.toml);
- iOS keeps its deployment target in one place (ios_demo/App/project.yml; Package.swift repeats it);
- the exporter's toolchain is pinned in constraints.txt and recorded per file by export/toolchain.py.
"""
from __future__ import annotations

import plistlib
import re
import tomllib
from pathlib import Path

import pytest

from export import toolchain

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "android_demo" / "gradle" / "libs.versions.toml"
IOS_APP = REPO / "ios_demo" / "App"
PACKAGE_SWIFT = REPO / "ios_demo" / "MobileCLIPKit" / "Package.swift"


def catalog() -> dict:
    return tomllib.loads(CATALOG.read_text())


def constraint(package: str) -> str:
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower().replace("_", "-") == package:
            return version.strip()
    raise AssertionError(f"constraints.txt pins no {package}")


def catalog_version(artifact: str) -> str:
    """The version the catalog gives the Maven ``group:name`` artifact."""
    cat = catalog()
    for lib in cat["libraries"].values():
        if lib["module"] == artifact:
            return cat["versions"][lib["version"]["ref"]]
    raise AssertionError(f"{CATALOG.name} has no library {artifact}")


def ios_app_target() -> tuple[int, ...]:
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load((IOS_APP / "project.yml").read_text())
    return toolchain.version_tuple(str(spec["options"]["deploymentTarget"]["iOS"]))


def test_android_versions_live_in_the_catalog_only():
    """Every dependency and plugin of the Gradle build comes from the catalog (no inline versions)."""
    cat = catalog()
    assert {"executorch-android", "litert"} <= cat["libraries"].keys()
    for gradle in (REPO / "android_demo").rglob("*.gradle"):
        text = gradle.read_text()
        inline = re.findall(r"""(?:implementation|testImplementation|api|classpath)\s*\(?\s*['"][\w.-]+:[\w.-]+:[\w.+-]+""",
                            text)
        assert not inline, f"{gradle.relative_to(REPO)} hard-codes versions: {inline}"
        assert not re.search(r"""id\s*\(?['"][\w.]+['"]\)?\s+version""", text), f"{gradle} pins a plugin inline"


def test_executorch_aar_reads_the_exported_pte():
    """ExecuTorch runtimes read programs of their own or an older release: the AAR equals the exporter's pin."""
    aar = catalog_version(toolchain.ANDROID_ARTIFACTS["executorch"])
    assert aar == toolchain.release(constraint("executorch")), (
        f"app pins executorch-android {aar}, the exporter writes .pte files with executorch "
        f"{constraint('executorch')}")


def test_litert_aar_reads_the_exported_tflite():
    """The int8 .tflite files keep weights after the flatbuffer; only the verifying LiteRT release is known to
    read them, so the AAR is at least the ai-edge-litert that ran the verification."""
    aar = catalog_version(toolchain.ANDROID_ARTIFACTS["tflite"])
    verified = constraint("ai-edge-litert")
    assert toolchain.version_tuple(aar) >= toolchain.version_tuple(verified), (
        f"app pins litert {aar}, the exporter verifies with ai-edge-litert {verified}")
    # LiteRT 2.0.x dropped org.tensorflow.lite.Interpreter from the litert artifact; 2.1.0 brought it back
    assert toolchain.version_tuple(aar) >= (2, 1), "litert 2.0.x has no org.tensorflow.lite.Interpreter"


def test_ios_deployment_target_covers_the_coreml_models():
    from export import coreml

    app = ios_app_target()
    models = toolchain.version_tuple(toolchain.COREML_OS[coreml.MIN_TARGET][0])
    assert app >= models, f"the app targets iOS {app}, the Core ML models need iOS {models}"
    swift = re.search(r"\.iOS\(\.v(\d+)\)", PACKAGE_SWIFT.read_text())
    assert swift and (int(swift[1]),) == app[:1], "Package.swift's iOS platform differs from project.yml"
    with open(IOS_APP / "Info.plist", "rb") as f:
        assert "MinimumOSVersion" not in plistlib.load(f), "Info.plist must not hard-code a second iOS target"


@pytest.mark.parametrize("target,ios", [("iOS16", "16.0"), ("iOS17", "17.0"), ("iOS18", "18.0")])
def test_coreml_min_runtime(target, ios, tmp_path):
    m = toolchain.min_runtime("coreml", tmp_path, {"minimum_deployment_target": target})
    assert m["ios"] == ios and target in m["reason"]
    assert toolchain.toolchain("coreml", {"minimum_deployment_target": target})["minimum_deployment_target"] == target
    with pytest.raises(ValueError):
        toolchain.min_runtime("coreml", tmp_path, {"minimum_deployment_target": "iOS9"})
    assert "unknown" in toolchain.min_runtime("coreml", tmp_path, {})["reason"]


def test_tflite_min_runtime_reads_the_flatbuffer(tmp_path):
    pytest.importorskip("ai_edge_litert")
    fake = tmp_path / "m.tflite"
    fake.write_bytes(b"stand-in model")
    m = toolchain.min_runtime("tflite", fake)
    assert "offset_buffers" not in m and "not a TFLite flatbuffer" in m["reason"]


def test_release_and_version_tuple():
    assert toolchain.release("2.13.0+cpu") == "2.13.0" and toolchain.release("2.3.0.dev20260922") == "2.3.0"
    assert toolchain.version_tuple("1.5.1") > toolchain.version_tuple("1.0.1")
    assert toolchain.version_tuple("2.3.0") > toolchain.version_tuple("1.4.1")
    with pytest.raises(ValueError):
        toolchain.release("latest")

"""The backend registry and the manifest module (fast: no backend package needed)."""
from __future__ import annotations

import json

import pytest

from export.backends import BACKENDS, backend_for_file, backend_name, get_backend, runtime_name
from export.manifest import (preprocess_cfg, preprocess_entry, quantization_name, read_manifest, schema_path,
                             validate_manifest)
from mobileclip import MobileClipError


def test_names_aliases_and_runtimes():
    assert BACKENDS == ("executorch", "coreml", "tflite")
    assert backend_name("litert") == "tflite" and backend_name("tflite") == "tflite"
    assert runtime_name("tflite") == "litert" and runtime_name("executorch") == "executorch"
    assert get_backend("litert") is get_backend("tflite")
    assert [get_backend(b).name for b in BACKENDS] == list(BACKENDS)
    with pytest.raises(MobileClipError, match="unknown backend 'onnx'"):
        backend_name("onnx")


def test_backend_for_file_and_android():
    assert backend_for_file("a/image_int8.pte") == "executorch"
    assert backend_for_file("text_fp32.tflite") == "tflite" and backend_for_file("x.mlpackage") == "coreml"
    assert backend_for_file("model.onnx") is None
    assert {b for b in BACKENDS if get_backend(b).android} == {"executorch", "tflite"}


def test_schema_enumerates_the_registry():
    def enums(node, key):
        if isinstance(node, dict):
            if isinstance(node.get(key), dict) and "enum" in node[key]:
                yield node[key]["enum"]
            for v in node.values():
                yield from enums(v, key)
        elif isinstance(node, list):
            for v in node:
                yield from enums(v, key)

    schema = json.loads(schema_path().read_text())
    assert list(enums(schema, "backend")) == [list(BACKENDS)]


def test_preprocess_round_trip_and_quantization_names():
    cfg = {"image_size": 256, "resize_mode": "shortest", "interpolation": "bilinear", "mean": [0.5] * 3,
           "std": [0.25] * 3}
    entry = preprocess_entry(cfg)
    assert entry["resize"] == "shortest_side" and entry["crop"] == "center"
    assert preprocess_cfg(entry) == cfg
    squash = dict(cfg, resize_mode="squash")
    assert preprocess_cfg(preprocess_entry(squash)) == squash
    assert quantization_name("none") == "fp32" and quantization_name("int8") == "int8"


def test_read_manifest_errors(tmp_path):
    with pytest.raises(MobileClipError, match="no export manifest"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(MobileClipError, match="not valid JSON"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(MobileClipError, match="not a mobileclip-kd-export manifest"):
        read_manifest(tmp_path)


def test_validate_names_the_bad_field():
    pytest.importorskip("jsonschema")
    from export.errors import ExportError

    with pytest.raises(ExportError, match="manifest.schema.json at"):
        validate_manifest({"format": "mobileclip-kd-export", "format_version": "one"})

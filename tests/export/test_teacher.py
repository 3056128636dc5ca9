"""python -m export.teacher: the HF CLIP teacher's towers through the students' pipeline (a tiny HF CLIPModel)."""
from __future__ import annotations

import json

import pytest

from tests.support.export_helpers import require

from export.manifest import read_manifest, schema_path


@pytest.fixture(scope="module")
def teacher_export(tiny_teacher_dir, tmp_path_factory):
    require("executorch")
    from export import teacher as T

    out = tmp_path_factory.mktemp("teacher_export")
    T.main([str(tiny_teacher_dir), "--out", str(out), "--backends", "executorch"])
    T.main([str(tiny_teacher_dir), "--out", str(out), "--backends", "executorch", "--quantize", "int8",
            "--towers", "text"])
    return out


def test_teacher_towers_exported_and_verified(teacher_export, tiny_teacher_dir):
    from export.teacher import weights_sha256
    from mobileclip.models.teacher import load_teacher

    manifest = read_manifest(teacher_export)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(manifest, json.loads(schema_path().read_text()))
    assert manifest["role"] == "teacher" and manifest["embed_dim"] == 32 and manifest["preprocess"]["image_size"] == 32
    assert manifest["source_checkpoint"]["sha256"] == weights_sha256(load_teacher(str(tiny_teacher_dir)).clip)
    got = {(m["tower"], m["quantization"]): m for m in manifest["models"]}
    assert set(got) == {("image", "fp32"), ("text", "fp32"), ("text", "int8")}
    for m in got.values():
        assert m["verification"]["passed"] and m["macs"] > 0 and (teacher_export / m["file"]).is_file()
    assert got["text", "fp32"]["inputs"] == [{"name": "input_ids", "shape": [1, 77], "dtype": "int32"}]
    assert got["image", "fp32"]["inputs"][0]["shape"] == [1, 3, 32, 32]
    for t in ("image", "text"):
        assert got[t, "fp32"]["verification"]["cosine_min"] >= 0.9999
        # 3-D bmm attention + decomposed LayerNorm: no expand_copy cutting the graph into pieces (28 before)
        info = got[t, "fp32"]["backend_info"]
        # (what is left does not grow with depth: embedding lookups, mask set-up, EOT pooling, the final
        # normalisation; ViT-B/32: 97 % text / 98 % image of the nodes delegated)
        assert info["delegated_subgraphs"] <= 4, (t, info)
        assert info["non_delegated_ops"].get("aten_expand_copy_default", 0) <= 2, info
    # the int8 recipe replaced the teacher's token embedding too: the file is far smaller than fp32's
    assert got["text", "int8"]["size_bytes"] < 0.6 * got["text", "fp32"]["size_bytes"]


def test_teacher_export_matches_pytorch_teacher(teacher_export, tiny_teacher_dir):
    import torch

    from export.backends import get_backend
    from mobileclip import get_tokenizer
    from mobileclip.models.teacher import load_teacher

    teacher = load_teacher(str(tiny_teacher_dir))
    ids = get_tokenizer()(["a photo of a red bicycle."])
    run = get_backend("executorch").load(teacher_export / "executorch" / "text_fp32.pte", "text")
    got = torch.as_tensor(run(ids.to(torch.int32))).reshape(1, -1)
    assert torch.nn.functional.cosine_similarity(got, teacher.encode_text(ids)).item() > 0.9999


def test_teacher_export_refuses_student_folder_and_bad_backend(tiny_teacher_dir, tmp_path, capsys):
    from export import teacher as T

    (tmp_path / "manifest.json").write_text(json.dumps({"format": "mobileclip-kd-export", "models": []}))
    with pytest.raises(SystemExit) as e:
        T.main([str(tiny_teacher_dir), "--out", str(tmp_path), "--backends", "executorch"])
    assert e.value.code != 0 and "describes a student export" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        T.main([str(tiny_teacher_dir), "--out", str(tmp_path / "t"), "--backends", "tensorrt"])
    assert e.value.code != 0 and "unknown backend 'tensorrt'" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()

"""python -m export.teacher with the new teacher specs: an open_clip model (both towers), a SigLIP model (image tower;
its text tower reads SentencePiece ids) and the one-line refusals (an ensemble, SigLIP's text tower)."""
from __future__ import annotations

import pytest

from tests.support.export_helpers import require
from tests.support.teachers import tiny_open_clip_dir, tiny_siglip_dir


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher_families")
    return tiny_open_clip_dir(root / "oc"), tiny_siglip_dir(root / "siglip")


@pytest.mark.slow
def test_open_clip_and_siglip_teachers_export_and_verify(dirs, tmp_path):
    require("executorch")
    import torch

    from export import teacher as T
    from export.backends import get_backend
    from export.verify import Thresholds
    from mobileclip import get_tokenizer, load_teacher
    from tests.support.export_helpers import TEST_INT8_AGREEMENT

    oc, sig = dirs
    m = T.main([f"open_clip:local-dir:{oc}", "--out", str(tmp_path / "oc"), "--backends", "executorch"])
    assert m["role"] == "teacher" and m["embed_dim"] == 24
    assert {x["tower"] for x in m["models"]} == {"image", "text"}
    assert all(x["verification"]["passed"] and x["verification"]["cosine_min"] >= 0.9999 for x in m["models"])
    ids = get_tokenizer()(["a photo of a red bicycle."])
    run = get_backend("executorch").load(tmp_path / "oc" / "executorch" / "text_fp32.pte", "text")
    got = torch.as_tensor(run(ids.to(torch.int32))).reshape(1, -1)
    want = load_teacher(f"open_clip:local-dir:{oc}").encode_text(ids)
    assert torch.nn.functional.cosine_similarity(got, want).item() > 0.9999
    # the int8 recipe replaces open_clip's token embedding too (random tiny model: near-tie zero-shot margins, so
    # agreement is recorded, not gated, as for the tiny students: tests/support/export_helpers.py)
    th = Thresholds(int8_agreement=TEST_INT8_AGREEMENT)
    cfg = T.TeacherExportConfig(teacher=f"open_clip:local-dir:{oc}", out=tmp_path / "oc", towers=["text"],
                                backends=["executorch"], quantize="int8", thresholds=th)
    m = T.export_teacher(cfg)
    sizes = {x["quantization"]: x["size_bytes"] for x in m["models"] if x["tower"] == "text"}
    assert all(x["verification"]["passed"] for x in m["models"]) and sizes["int8"] < 0.6 * sizes["fp32"]
    m = T.main([str(sig), "--out", str(tmp_path / "sig"), "--backends", "executorch", "--towers", "image"])
    (entry,) = m["models"]
    assert entry["tower"] == "image" and entry["verification"]["passed"] and m["preprocess"]["resize"] == "squash"
    assert entry["inputs"][0]["shape"] == [1, 3, 48, 48]


@pytest.mark.parametrize("which, words", [("ensemble", "export each member"), ("siglip-text", "--towers image")])
def test_refusals_are_one_line_before_any_export(which, words, dirs, tmp_path, capsys):
    from export import teacher as T

    oc, sig = dirs
    spec = f"ensemble:open_clip:local-dir:{oc},{sig}" if which == "ensemble" else str(sig)
    with pytest.raises(SystemExit) as e:
        T.main([spec, "--out", str(tmp_path / "out"), "--backends", "executorch"])
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]  # (transformers' load bar)
    assert e.value.code == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "out").exists()

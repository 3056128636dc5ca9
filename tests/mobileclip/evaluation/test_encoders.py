"""One encoder protocol: student, teacher (and exported models, tests/benchmarks/test_exported.py) satisfy it;
one load_encoder for every kind, with clear errors."""
import pytest
import torch

from mobileclip import MobileClipError, create_model, save_checkpoint
from mobileclip.evaluation.encoders import Encoder, load_encoder


def test_student_and_teacher_are_encoders(tiny_teacher_dir, tmp_path):
    path = tmp_path / "s.pt"
    save_checkpoint(create_model("tiny-lsra-light"), path)
    student, payload = load_encoder(path, return_payload=True)
    teacher = load_encoder(tiny_teacher_dir)
    for enc in (student, teacher, load_encoder("tiny-lsra-light")):
        assert isinstance(enc, Encoder)
        assert enc.context_length == 77 and enc.label and enc.preprocess_cfg["image_size"] > 0
        size = enc.preprocess_cfg["image_size"]
        assert enc.encode_image(torch.zeros(1, 3, size, size)).shape[0] == 1
    assert payload is not None and student.label == "tiny-lsra-light (s.pt)"
    assert load_encoder("tiny-lsra-light").label == "tiny-lsra-light (untrained init)"


def test_load_encoder_errors(tiny_teacher_dir, tmp_path):
    with pytest.raises(MobileClipError, match="not a student"):
        load_encoder(tiny_teacher_dir, kind="student")
    with pytest.raises(MobileClipError, match="model not found"):
        load_encoder(str(tmp_path / "nope.pt"))
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "manifest.json").write_text("{}")
    with pytest.raises(MobileClipError, match="export folder: load it with export.runtime.load_exported"):
        load_encoder(tmp_path / "exp")

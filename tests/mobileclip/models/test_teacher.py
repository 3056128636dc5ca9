import pytest
import torch

from mobileclip import MobileClipError, count_parameters, get_tokenizer, load_teacher
from mobileclip.models.teacher import RANDOM_VIT_B_32


def test_local_teacher_frozen_eval_normalised(tiny_teacher_dir):
    teacher = load_teacher(str(tiny_teacher_dir))
    assert not teacher.training and not teacher.clip.training
    teacher.train()  # stays frozen in eval mode
    assert not teacher.clip.training
    assert all(not p.requires_grad for p in teacher.parameters())
    ids = get_tokenizer()(["a photo of a cat.", "a dog"])
    out = teacher(torch.randn(2, 3, 32, 32), ids)
    assert out["image_embeds"].shape == (2, 32) and out["text_embeds"].shape == (2, 32)
    torch.testing.assert_close(out["image_embeds"].norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(out["text_embeds"].norm(dim=-1), torch.ones(2))
    assert out["image_features"].shape == (2, 32) and out["text_tokens"].shape == (2, 77, 32)
    assert not out["image_embeds"].requires_grad
    assert teacher.label == str(tiny_teacher_dir) and not teacher.random_weights


def test_teacher_text_ignores_padding(tiny_teacher_dir):
    teacher = load_teacher(str(tiny_teacher_dir))
    ids = get_tokenizer()(["a photo of a cat."])
    short = ids[:, :8]
    torch.testing.assert_close(teacher.encode_text(ids), teacher.encode_text(short), atol=1e-6, rtol=0)


def test_random_vit_b_32_is_labelled():
    with pytest.warns(UserWarning, match="RANDOM"):
        teacher = load_teacher(RANDOM_VIT_B_32)
    assert teacher.random_weights and "RANDOM" in teacher.label
    assert abs(count_parameters(teacher) - 151_277_313) == 0
    assert teacher.image_size == 224 and teacher.embed_dim == 512


def test_missing_teacher_is_one_line_error(tmp_path):
    with pytest.raises(MobileClipError) as e:
        load_teacher(str(tmp_path / "nowhere"))
    assert "cannot load CLIP teacher" in str(e.value) and "\n" not in str(e.value)

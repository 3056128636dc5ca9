import json

import pytest

from mobileclip import DEFAULT_MODEL, MobileClipError, count_parameters, create_model, get_model_config, list_models
from mobileclip.models.factory import CONFIG_DIR
from mobileclip.models.teacher import vit_b_32_config


def test_registry_lists_required_configs():
    names = list_models()
    assert {"mnv3l-lsra-512", "mnv3l-lsra-256"} <= set(names)
    assert DEFAULT_MODEL == "mnv3l-lsra-512"
    assert names == sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def test_unknown_name_lists_known_ones():
    with pytest.raises(MobileClipError) as e:
        create_model("no-such-model")
    msg = str(e.value)
    assert "no-such-model" in msg and "mnv3l-lsra-512" in msg and "\n" not in msg


def test_overrides_merge_nested():
    cfg = get_model_config("mnv3l-lsra-512", embed_dim=128, text_cfg={"layers": 2, "kernel_sizes": [3, 5]})
    assert cfg["embed_dim"] == 128 and cfg["text_cfg"]["layers"] == 2
    assert cfg["text_cfg"]["width"] == 256  # untouched keys survive
    assert get_model_config("mnv3l-lsra-512")["text_cfg"]["layers"] == 8  # registry not mutated


def test_embed_dims():
    assert get_model_config("mnv3l-lsra-512")["embed_dim"] == 512
    assert get_model_config("mnv3l-lsra-256")["embed_dim"] == 256


def test_default_student_is_at_most_15_percent_of_vit_b_32():
    from transformers import CLIPModel

    teacher = count_parameters(CLIPModel(vit_b_32_config()))
    assert abs(teacher - 151.28e6) < 0.05e6  # the real ViT-B/32 count
    student = count_parameters(create_model("mnv3l-lsra-512"))
    assert student <= 0.15 * teacher, f"{student / 1e6:.2f}M is {100 * student / teacher:.1f}% of the teacher"


def test_configs_are_valid_json_with_preprocessing():
    for p in CONFIG_DIR.glob("*.json"):
        cfg = json.loads(p.read_text())
        v = cfg["vision_cfg"]
        assert len(v["mean"]) == 3 and len(v["std"]) == 3 and v["image_size"] > 0, p.name
        assert len(cfg["text_cfg"]["kernel_sizes"]) == cfg["text_cfg"]["layers"], p.name

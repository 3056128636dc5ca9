import pytest
import torch

from mobileclip import MobileClipError, create_model, load_checkpoint, read_checkpoint, save_checkpoint


@pytest.mark.parametrize("name", ["tiny-lsra-light", "tiny-lsra-dyn"])
def test_roundtrip_identical_outputs(tmp_path, name):
    torch.manual_seed(0)
    model = create_model(name, embed_dim=24).eval()
    path = save_checkpoint(model, tmp_path / "m.pt", extra={"step": 7})
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp file left behind
    again, payload = load_checkpoint(path, return_payload=True)
    assert payload["model_config"]["embed_dim"] == 24 and payload["extra"] == {"step": 7}
    assert payload["tokenizer"]["context_length"] == 77 and payload["tokenizer"]["eot_token_id"] == 49407
    assert payload["preprocess"]["image_size"] == 32
    images = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([[49406, 320, 2368, 49407] + [0] * 73])
    with torch.no_grad():
        assert torch.equal(model.encode_image(images), again.encode_image(images))
        assert torch.equal(model.encode_text(ids), again.encode_text(ids))
    assert not again.training


def test_corrupt_file_is_clear_error(tmp_path):
    path = save_checkpoint(create_model("tiny-lsra-light"), tmp_path / "m.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(MobileClipError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_foreign_file_is_clear_error(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(MobileClipError, match="not a mobileclip-kd checkpoint"):
        read_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(MobileClipError, match="not a readable checkpoint"):
        read_checkpoint(tmp_path / "text.pt")
    with pytest.raises(MobileClipError, match="not found"):
        read_checkpoint(tmp_path / "missing.pt")


def test_mismatched_weights_are_clear_error(tmp_path):
    path = save_checkpoint(create_model("tiny-lsra-light"), tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["model_config"]["embed_dim"] = 99
    torch.save(payload, path)
    with pytest.raises(MobileClipError, match="do not match"):
        load_checkpoint(path)


def test_failed_write_leaves_previous_file(tmp_path, monkeypatch):
    model = create_model("tiny-lsra-light")
    path = save_checkpoint(model, tmp_path / "m.pt")
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(MobileClipError, match="disk full; m.pt is as it was"):  # one line, the old file kept
        save_checkpoint(model, path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["m.pt"]

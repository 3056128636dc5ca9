"""Datasets: caption CSV, class folders, tar shards, skip counting, synthetic data, shared archives."""
from __future__ import annotations

import csv
import io
import tarfile

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import MobileClipError, get_tokenizer, image_transform
from mobileclip.data.datasets import (CaptionCsv, ClassFolder, collate_count, extract_shared, read_caption_csv,
                                      skip_report)
from mobileclip.data.prepare import main
from mobileclip.data.shard_writer import write_tar_shards
from mobileclip.data.shards import TarShards, expand_shards
from mobileclip.data.synthetic import write_synthetic_dataset
from mobileclip.data.templates import ENSEMBLE, SINGLE, get_templates

PRE = {"image_size": 16, "interpolation": "bicubic"}


def _png(path, colour, size=20):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


@pytest.fixture()
def caption_dir(tmp_path):
    """3 good images, 1 corrupt file, 1 missing file; 6 caption rows (image a has two)."""
    _png(tmp_path / "img" / "a.png", (255, 0, 0))
    _png(tmp_path / "img" / "b.png", (0, 255, 0))
    _png(tmp_path / "img" / "c.png", (0, 0, 255), size=40)
    (tmp_path / "img" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    rows = [("img/a.png", "a red square"), ("img/a.png", "something red"), ("img/b.png", "a green square"),
            ("img/bad.jpg", "corrupt"), ("img/missing.png", "missing"), ("img/c.png", "a blue square")]
    with open(tmp_path / "captions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "caption"])
        w.writerows(rows)
    return tmp_path


def test_templates():
    assert SINGLE == ["a photo of a {}."]
    assert len(ENSEMBLE) == 18 and len(set(ENSEMBLE)) == 18 and all(t.count("{}") == 1 for t in ENSEMBLE)
    assert get_templates("ensemble") == ENSEMBLE and get_templates(["x {} y"]) == ["x {} y"]
    with pytest.raises(MobileClipError):
        get_templates("nope")
    with pytest.raises(MobileClipError):
        get_templates(["no placeholder"])


def test_caption_csv_items_and_skips(caption_dir):
    tok = get_tokenizer()
    ds = CaptionCsv(caption_dir / "captions.csv", image_transform(PRE), tok)
    assert len(ds) == 6
    image, ids, index = ds[2]
    assert image.shape == (3, 16, 16) and index == 2
    assert torch.equal(ids, tok(["a green square"])[0])
    assert ds[3] is None and ds[4] is None and ds.skipped == 2
    assert ds[3] is None and ds.skipped == 2  # a bad file seen again is not counted twice
    batch, _ = collate_count([ds[i] for i in range(6)])
    assert batch[0].shape == (4, 3, 16, 16) and batch[2].tolist() == [0, 1, 2, 5]
    assert collate_count([None, None]) == (None, 2)
    assert "2 skipped" in skip_report(ds)


def test_caption_csv_skips_counted_across_workers(caption_dir):
    ds = CaptionCsv(caption_dir / "captions.csv", image_transform(PRE), get_tokenizer())
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate_count)
    seen = sum(len(b[2]) for b, _ in loader if b is not None)
    assert seen == 4 and ds.skipped == 2


def test_caption_csv_bad_input(tmp_path):
    with pytest.raises(MobileClipError, match="not found"):
        read_caption_csv(tmp_path / "nope.csv")
    (tmp_path / "wrong.csv").write_text("file,text\na.png,hello\n")
    with pytest.raises(MobileClipError, match="image,caption"):
        read_caption_csv(tmp_path / "wrong.csv")


def test_class_folder(tmp_path):
    for i in range(2):
        _png(tmp_path / "red_car" / f"{i}.png", (200, 0, 0))
        _png(tmp_path / "blue" / f"{i}.png", (0, 0, 200))
    (tmp_path / "blue" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    tok = get_tokenizer()
    ds = ClassFolder(tmp_path, image_transform(PRE), tok, templates="single")
    assert ds.classnames == ["blue", "red car"] and len(ds) == 5
    items = [ds[i] for i in range(len(ds))]
    assert sum(x is None for x in items) == 1 and ds.skipped == 1
    image, ids, label = items[-1]
    assert label == 1 and image.shape == (3, 16, 16)
    assert torch.equal(ids, tok(["a photo of a red car."])[0])
    train = ClassFolder(tmp_path, image_transform(PRE, train=True), tok, templates="ensemble", train=True)
    torch.manual_seed(0)
    captions = {train.caption(1) for _ in range(40)}
    assert len(captions) > 5 and captions <= {t.format("red car") for t in ENSEMBLE}


def test_class_folder_bad_input(tmp_path):
    with pytest.raises(MobileClipError, match="not found"):
        ClassFolder(tmp_path / "nope", None, None)
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(MobileClipError):
        ClassFolder(tmp_path / "empty", None, None)


def test_expand_shards(tmp_path):
    assert [p.name for p in expand_shards("d/s-{008..010}.tar")] == ["s-008.tar", "s-009.tar", "s-010.tar"]
    assert [p.name for p in expand_shards("d/{a,b}.tar")] == ["a.tar", "b.tar"]


def test_tar_shards(caption_dir, tmp_path):
    paths = write_tar_shards(caption_dir / "captions.csv", tmp_path / "shards", samples_per_shard=4)
    assert [p.name for p in paths] == ["shard-000000.tar", "shard-000001.tar"]
    # a hand-made extra shard: an orphan caption and a corrupt image
    with tarfile.open(tmp_path / "shards" / "shard-000002.tar", "w") as tar:
        for name, data in (("x.txt", b"orphan caption"), ("y.jpg", b"garbage"), ("y.txt", b"bad image")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tok = get_tokenizer()
    ds = TarShards(str(tmp_path / "shards" / "shard-{000000..000002}.tar"), image_transform(PRE), tok)
    items = list(ds)
    assert len(items) == 4  # a (x2), b, c
    assert sorted(i[2] for i in items) == [0, 1, 2, 1_000_000]  # the missing image's row is not written
    assert torch.equal(items[-1][1], tok(["a blue square"])[0]) and items[-1][0].shape == (3, 16, 16)
    assert ds.skipped == 3  # corrupt from the CSV, orphan caption + corrupt image
    loader = torch.utils.data.DataLoader(
        TarShards(str(tmp_path / "shards" / "*.tar"), image_transform(PRE), tok), batch_size=8, num_workers=2,
        collate_fn=collate_count)
    assert sum(len(b[2]) for b, _ in loader if b is not None) == 4  # shards split across workers, none twice
    with pytest.raises(MobileClipError):
        TarShards(str(tmp_path / "none-*.tar"), None, None)


def test_synthetic_dataset(tmp_path):
    out = tmp_path / "synth"
    meta = write_synthetic_dataset(out, n_train=16, n_test=8, size=32, seed=1)
    assert meta["counts"]["train"] == {"images": 16, "captions": 32}
    tok = get_tokenizer()
    ds = CaptionCsv(out / "captions.csv", image_transform(PRE), tok)
    assert len(ds) == 32 and all(ds[i] is not None for i in range(len(ds))) and ds.skipped == 0
    cf = ClassFolder(out / "classes" / "test", image_transform(PRE), tok)
    assert cf.classnames == sorted(meta["classes"]) and len(cf) == 8
    test_rows = read_caption_csv(out / "captions_test.csv")
    assert len(test_rows) == 16 and all(c.split()[1] in meta["colours"] for _, c in test_rows[::2])
    # both captions of an image name the shape of its class folder
    captions = {}
    for p, c in read_caption_csv(out / "captions.csv"):
        captions.setdefault(p.name, []).append(c)
    samples = ClassFolder(out / "classes" / "train", None, None).samples
    assert len(samples) == 16
    for path, _ in samples:
        assert len(captions[path.name]) == 2 and all(f" {path.parent.name}" in c for c in captions[path.name])
    # colour_bias=1: every shape in its typical colour (first caption: "a <colour> <shape> on a ...")
    biased = write_synthetic_dataset(tmp_path / "biased", n_train=16, n_test=0, size=16, colour_bias=1.0)
    rows = read_caption_csv(tmp_path / "biased" / "captions.csv")[::2]
    assert all(c.split()[1] == biased["shape_colour"][c.split()[2]] for _, c in rows)
    with pytest.raises(MobileClipError, match="colour_bias"):
        write_synthetic_dataset(tmp_path / "bad", n_train=4, n_test=0, colour_bias=1.5)
    # deterministic, reused, and protected
    again = write_synthetic_dataset(out, n_train=16, n_test=8, size=32, seed=1)
    assert again == meta
    with pytest.raises(MobileClipError, match="exists"):
        write_synthetic_dataset(out, n_train=4, n_test=4, size=32)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "thesis.txt").write_text("keep me")
    with pytest.raises(MobileClipError, match="refusing"):
        write_synthetic_dataset(tmp_path / "precious", n_train=4, n_test=4, size=16, overwrite=True)
    assert (tmp_path / "precious" / "thesis.txt").read_text() == "keep me"
    other = tmp_path / "other"
    main(["synth", "--out", str(other), "--n-train", "16", "--n-test", "8", "--size", "32", "--seed", "1"])
    assert (other / "captions.csv").read_bytes() == (out / "captions.csv").read_bytes()
    assert (other / "images/train/train_000003.jpg").read_bytes() == (out / "images/train/train_000003.jpg").read_bytes()


def test_extract_shared(tmp_path):
    src = tmp_path / "shared"
    (src / "build" / "toy" / "sub").mkdir(parents=True)
    (src / "build" / "toy" / "sub" / "x.txt").write_text("hello")
    with tarfile.open(src / "toy.tar.gz", "w:gz") as tar:
        tar.add(src / "build" / "toy", arcname="toy")
    cache = tmp_path / "cache"
    out = extract_shared("toy.tar.gz", cache_dir=cache, shared_dir=src)
    assert out == cache / "toy" and (out / "sub" / "x.txt").read_text() == "hello"
    assert sorted(p.name for p in cache.iterdir()) == [".toy.tar.gz.extracted", "toy"]  # no temp folders left
    (src / "toy.tar.gz").unlink()  # a second call does not open the archive again
    assert extract_shared("toy.tar.gz", cache_dir=cache, shared_dir=src) == out
    with pytest.raises(MobileClipError, match="not found"):
        extract_shared("other.tar.gz", cache_dir=cache, shared_dir=src)


def test_data_cli_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["shards", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "s")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mobileclip.data: error:")

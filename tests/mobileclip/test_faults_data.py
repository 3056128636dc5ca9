"""Fault injection on the data paths (issue 22): shards read back whole, skips counted once, and nothing of the
user's deleted by a command that writes into a folder."""
from __future__ import annotations

import csv
import sys
import tarfile
from pathlib import Path

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import get_tokenizer, image_transform
from mobileclip.data.datasets import collate_count, read_caption_csv
from mobileclip.data.prepare import main
from mobileclip.data.shards import TarShards
from mobileclip.data.synthetic import write_synthetic_dataset
from mobileclip.utils.errors import MobileClipError

from tests.mobileclip.data.test_shards import _member, _png_bytes  # noqa: E402
from tests.support.data import make_csv  # noqa: E402

PRE = {"image_size": 8, "interpolation": "bicubic"}
TINY = ["--model", "tiny-lsra-light", "--quiet", "--workers", "0", "--threads", "1", "--log-every", "1",
        "--bn-recalibrate", "0", "--batch-size", "4"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """The synthetic set (16 images, two caption rows each; its images have a second hard link in classes/)."""
    out = tmp_path_factory.mktemp("synth") / "synth"
    write_synthetic_dataset(out, n_train=16, n_test=8, size=16, seed=0)
    return out


@pytest.fixture(scope="module")
def synth_shards(synth, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "shards"
    main(["shards", str(synth / "captions.csv"), "--out", str(out), "--samples-per-shard", "10"])
    return out


def _rows(csv_path):
    return [(p.read_bytes(), c) for p, c in read_caption_csv(csv_path)]


# ----------------------------------------------------------------------------- shards read back whole (item 2)
def test_shards_round_trip_every_row(synth, synth_shards):
    """Every CSV row -- both caption rows of each image -- comes back from the shards with its own image bytes."""
    rows = _rows(synth / "captions.csv")
    for path in sorted(synth_shards.glob("*.tar")):
        with tarfile.open(path) as tar:
            assert all(m.isreg() for m in tar.getmembers()), [m.name for m in tar.getmembers() if not m.isreg()]
    ds = TarShards(str(synth_shards), image_transform(PRE), get_tokenizer())
    got = [(s["jpg"], s["txt"].decode()) for _, s in ds.samples()]
    assert len(rows) == 32 and sorted(got) == sorted(rows)
    assert len(list(ds)) == 32 and ds.skipped == 0


def test_cache_teacher_reads_every_shard_sample(synth_shards, tiny_teacher_dir, tmp_path, capsys):
    import numpy as np

    from mobileclip import cache_teacher

    cache_teacher.main(["--teacher", str(tiny_teacher_dir), "--train-data", str(synth_shards / "*.tar"),
                        "--out", str(tmp_path / "teacher")])
    keys = [k for p in sorted((tmp_path / "teacher").glob("*.npz")) for k in np.load(p)["keys"]]
    assert len(keys) == 32 and len(set(keys)) == 32


def test_training_on_shards_reads_all_samples(synth_shards, tmp_path, capsys):
    from mobileclip import train as T

    out = tmp_path / "run"
    T.main(["--train-data", str(synth_shards), "--out", str(out), "--no-kd", "--steps", "9", *TINY])
    with open(out / "log.csv", newline="") as f:
        epochs = [r["epoch"] for r in csv.DictReader(f)]
    assert epochs == ["0"] * 8 + ["1"]  # 32 samples / batch 4: eight steps in the first epoch
    text = capsys.readouterr().out
    assert "TarShards: 0 skipped" in text and "skipped 0 unreadable image(s)" in text


def test_shards_refuse_to_mix_with_an_earlier_run(synth, tmp_path, capsys):
    out = tmp_path / "shards"
    main(["shards", str(synth / "captions.csv"), "--out", str(out), "--samples-per-shard", "4"])
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as e:
        main(["shards", str(synth / "captions.csv"), "--out", str(out), "--samples-per-shard", "16"])
    assert e.value.code == 2 and "--force" in capsys.readouterr().err
    assert len(list(out.glob("*.tar"))) == 8
    main(["shards", str(synth / "captions.csv"), "--out", str(out), "--samples-per-shard", "16", "--force"])
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "shard-000000.tar", "shard-000001.tar"]


def test_rows_with_a_missing_image_are_counted_when_packing(tmp_path, caplog):
    csv_path = make_csv(tmp_path / "d", 4, missing=2)
    main(["shards", str(csv_path), "--out", str(tmp_path / "s")])
    assert "2 of 6 caption rows not written: image missing" in caplog.text
    assert len(list(TarShards(str(tmp_path / "s"), image_transform(PRE), get_tokenizer()))) == 4


# ------------------------------------------------------------------------------ skips counted once (item 2)
@pytest.fixture()
def bad_shards(tmp_path):
    """Two shards of 4 samples; one corrupt image and one sample without a caption: 2 distinct bad samples."""
    for s in range(2):
        with tarfile.open(tmp_path / f"p-{s}.tar", "w") as tar:
            for i in range(4):
                bad = (s, i) == (0, 1)
                _member(tar, f"k{s}{i}.png", b"not a png" if bad else _png_bytes(40 * i))
                if (s, i) != (1, 2):
                    _member(tar, f"k{s}{i}.txt", b"a red square")
    return str(tmp_path / "p-{0..1}.tar")


@pytest.mark.parametrize("workers", [0, 2])
def test_stream_skips_count_distinct_samples_once(bad_shards, workers):
    ds = TarShards(bad_shards, image_transform(PRE), get_tokenizer(), shuffle_shards=True, shuffle_buffer=3)
    for epoch in range(3):
        ds.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate_count)
        assert sum(len(b[2]) for b, _ in loader if b is not None) == 6
    assert ds.skipped == 2 and ds.skip_counter.events == 6


def test_resampled_stream_skips_count_distinct_samples_once(bad_shards):
    import itertools

    ds = TarShards(bad_shards, image_transform(PRE), get_tokenizer(), resample=True)
    assert len(list(itertools.islice(iter(ds), 60))) == 60  # 10+ passes over each shard
    assert ds.skipped == 2 and ds.skip_counter.events > 2


def test_unreadable_shard_counted_once(tmp_path, bad_shards):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"this is not a tar archive" * 40)
    ds = TarShards([bad_shards, str(junk)], image_transform(PRE), get_tokenizer())
    for _ in range(3):
        assert len(list(ds)) == 6
    assert ds.skipped == 3


# ------------------------------------------------------------------ never delete what we did not create (item 3)
def test_synth_force_keeps_a_users_files(tmp_path, capsys):
    out = tmp_path / "synth"
    argv = ["synth", "--out", str(out), "--n-train", "8", "--n-test", "8", "--size", "16"]
    main(argv)
    mine = {out / "notes.txt": "my notes", out / "images" / "train" / "extra.jpg": "my image",
            out / "mydata" / "x.csv": "a,b"}
    for path, text in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(argv[:-1] + ["32", "--force"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "did not write" in err[0] and "notes.txt" in err[0]
    assert all(p.read_text() == t for p, t in mine.items())
    assert read_caption_csv(out / "captions.csv")  # the earlier dataset is intact too
    for path in mine:
        path.unlink()
    (out / "mydata").rmdir()
    main(argv[:-1] + ["32", "--force"])  # only its own files: replaced
    assert (out / "synthetic.json").is_file() and "size\": 32" in (out / "synthetic.json").read_text()


def test_synth_force_refuses_a_damaged_dataset_json(tmp_path, capsys):
    out = tmp_path / "synth"
    main(["synth", "--out", str(out), "--n-train", "8", "--n-test", "0", "--size", "16"])
    (out / "synthetic.json").write_text("{not json")
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(out), "--n-train", "8", "--n-test", "0", "--size", "32", "--force"])
    assert (out / "captions.csv").is_file()
    with pytest.raises(MobileClipError, match="refusing"):
        write_synthetic_dataset(out, n_train=8, n_test=0, size=32, overwrite=True)


def _plant(folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    files = {folder / "README.txt": "user notes", folder / "keep" / "data.bin": "user data",
             folder / ".hidden": "dotfile"}
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return files


def test_every_writing_command_keeps_planted_files(tmp_path, tiny_teacher_dir, capsys):
    """data synth/shards/extract, train --out (twice: resume), cache_teacher (.pt and sidecar folder), eval --out."""
    from mobileclip import cache_teacher
    from mobileclip import eval as E
    from mobileclip import train as T

    planted = {}
    synth_dir, shards, cache, run, tdir, evald = (tmp_path / n for n in ("synth", "shards", "cache", "run",
                                                                         "teacher", "eval"))
    for folder in (synth_dir, shards, cache, run, tdir, evald):
        planted.update(_plant(folder))
    planted.pop(synth_dir / "README.txt")  # a foreign file in a synth folder is refused (test above): keep .hidden
    (synth_dir / "README.txt").unlink()
    with pytest.raises(SystemExit):  # an existing folder that is not the dataset: refused, nothing touched
        main(["synth", "--out", str(synth_dir), "--n-train", "8", "--n-test", "8", "--size", "16", "--force"])
    main(["synth", "--out", str(tmp_path / "s2"), "--n-train", "8", "--n-test", "8", "--size", "16"])
    main(["shards", str(tmp_path / "s2" / "captions.csv"), "--out", str(shards), "--samples-per-shard", "8"])
    src = tmp_path / "archive"
    (src / "toy").mkdir(parents=True)
    (src / "toy" / "x.txt").write_text("hello")
    with tarfile.open(tmp_path / "toy.tar", "w") as tar:
        tar.add(src / "toy", arcname="toy")
    main(["extract", str(tmp_path / "toy.tar"), "--cache-dir", str(cache)])
    train = ["--train-data", str(tmp_path / "s2" / "captions.csv"), "--out", str(run), "--no-kd", *TINY]
    T.main(train + ["--steps", "1"])
    T.main(train + ["--steps", "2"])
    cache_teacher.main(["--teacher", str(tiny_teacher_dir), "--train-data", str(shards), "--out", str(tdir)])
    cache_teacher.main(["--teacher", str(tiny_teacher_dir), "--train-data", str(tmp_path / "s2" / "captions.csv"),
                        "--out", str(tdir / "cache.pt")])
    E.main([str(run / "final.pt"), "--zeroshot", str(tmp_path / "s2" / "classes" / "test"), "--threads", "1",
            "--json", str(evald / "r.json"), "--plot", str(evald / "cm.png"), "--no-progress"])
    for p, text in planted.items():
        assert p.read_text() == text, p

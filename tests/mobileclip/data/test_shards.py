"""TarShards on webdataset: rank split, seeded shard order, shuffle buffer, resampling, unreadable shards."""
from __future__ import annotations

import io
import itertools
import tarfile

import pytest
import torch

import mobileclip  # noqa: F401  (before torchvision)
from mobileclip import get_tokenizer, image_transform
from mobileclip.data.shards import SHARD_STRIDE, TarShards

PRE = {"image_size": 8, "interpolation": "bicubic"}


def _png_bytes(value: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.fixture()
def shards(tmp_path):
    """6 shards x 3 samples (keys s<shard>-<i>)."""
    for s in range(6):
        with tarfile.open(tmp_path / f"part-{s:02d}.tar", "w") as tar:
            for i in range(3):
                _member(tar, f"s{s}-{i}.png", _png_bytes(10 * s + i))
                _member(tar, f"s{s}-{i}.txt", f"shard {s} item {i}".encode())
    return str(tmp_path / "part-{00..05}.tar")


def indices(ds, n=None):
    return [item[2] for item in itertools.islice(iter(ds), n)]


def make(pattern, **kw):
    return TarShards(pattern, image_transform(PRE), get_tokenizer(), **kw)


def test_rank_split_and_seeded_epoch_order(shards):
    everything = sorted(s * SHARD_STRIDE + i for s in range(6) for i in range(3))
    parts = [make(shards, rank=r, world_size=2, shuffle_shards=True, seed=3) for r in range(2)]
    got = [indices(p) for p in parts]
    assert sorted(got[0] + got[1]) == everything and not set(got[0]) & set(got[1])
    assert indices(make(shards, rank=0, world_size=2, shuffle_shards=True, seed=3)) == got[0]  # deterministic
    orders = set()
    for epoch in range(4):
        parts[0].set_epoch(epoch)
        orders.add(tuple(indices(parts[0])))
    assert len(orders) > 1  # reshuffled per epoch


def test_shuffle_buffer_is_seeded_per_epoch(shards):
    plain = indices(make(shards))
    a, b = make(shards, shuffle_buffer=8, seed=1), make(shards, shuffle_buffer=8, seed=1)
    first = indices(a)
    assert sorted(first) == sorted(plain) and first != plain and first == indices(b)
    a.set_epoch(1)
    assert indices(a) != first


def test_resampled_shards_are_endless_and_deterministic(shards):
    ds = make(shards, resample=True, seed=5)
    first = indices(ds, 40)  # more than the 18 samples: drawn with replacement
    assert len(first) == 40 and len(set(first)) < 40
    assert indices(make(shards, resample=True, seed=5), 40) == first
    assert indices(make(shards, resample=True, seed=6), 40) != first


def test_truncated_and_unreadable_shards_are_counted(tmp_path, shards):
    good = tmp_path / "part-00.tar"
    cut, junk = tmp_path / "cut.tar", tmp_path / "junk.tar"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 100])  # ends inside the second or third sample's members
    junk.write_bytes(b"this is not a tar archive" * 40)
    ds = make([str(cut), str(junk), str(tmp_path / "part-01.tar")])
    got = indices(ds)
    assert got[0] == 0 and got[-3:] == [SHARD_STRIDE * 2, SHARD_STRIDE * 2 + 1, SHARD_STRIDE * 2 + 2]
    assert len(got) <= 5  # the truncated shard's last sample is incomplete: skipped, not decoded as garbage
    assert ds.skipped >= 2 and any("junk.tar: unreadable shard" in e for e in ds.skip_counter.examples)
    item = next(iter(ds))
    assert item[0].shape == (3, 8, 8) and torch.equal(item[1], get_tokenizer()(["shard 0 item 0"])[0])

"""Per-shard teacher sidecars end to end: built by ``mobileclip.cache_teacher`` on tar shards, streamed by
``mobileclip.train --teacher-cache DIR`` (exactly the crops training draws), refused when they do not match."""
import tarfile

import pytest
import torch

from mobileclip.utils.errors import MobileClipError
from mobileclip.training.loop import train
from tests.support.data import make_csv
from tests.support.training import base_cfg, read_log


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    from mobileclip.data.shard_writer import write_tar_shards

    root = tmp_path_factory.mktemp("shard_kd")
    write_tar_shards(make_csv(root / "data", 12), root / "shards", samples_per_shard=4)
    return str(root / "shards" / "shard-{000000..000002}.tar")


def test_sidecars_built_streamed_and_exact(shards, tiny_teacher_dir, tmp_path, capsys):
    from mobileclip.training import cache_teacher
    from mobileclip import load_teacher
    from mobileclip.data.datasets import load_image
    from mobileclip.data.shards import SHARD_STRIDE, TarShards
    from mobileclip.training.data import PairTransform, SeededAugment
    from mobileclip.training.teacher_cache import StreamedTeacherCache

    side = tmp_path / "side"
    argv = ["--teacher", str(tiny_teacher_dir), "--train-data", shards, "--out", str(side), "--variants", "2",
            "--crop-scale", "0.5", "1.0", "--batch-size", "3"]
    assert len(cache_teacher.main(argv)["written"]) == 3
    assert len(cache_teacher.main(argv)["kept"]) == 3  # resumable: valid sidecars are kept
    # the cached embedding is the teacher's on the crop the training stream draws for (variant, index)
    cache = StreamedTeacherCache(side, TarShards(shards, None, None).shards, 0, (0.5, 1.0))
    t = load_teacher(str(tiny_teacher_dir))
    aug = SeededAugment(PairTransform(dict(t.preprocess_cfg), None, scale=(0.5, 1.0)), 0, variant=1)
    with tarfile.open(TarShards(shards, None, None).shards[1]) as tar:
        img, _ = load_image(tar.extractfile(tar.getmembers()[2 * 1]).read(), "x")  # sample 1 of shard 1
    idx = 1 * SHARD_STRIDE + 1
    ids = torch.zeros(1, 77, dtype=torch.long)
    with torch.no_grad():
        want = t(aug(img, idx)[None], ids)["image_embeds"]
    got = cache.lookup(1, torch.tensor([idx]), "cpu")["image_embeds"]
    torch.testing.assert_close(got, want.half().float(), rtol=0, atol=2e-3)
    # training streams them: KD phases run without the teacher
    res = train(base_cfg(shards, tmp_path / "run", None, steps=4, align_steps=1, distil_steps=1,
                         crop_scale=(0.5, 1.0)).replace(no_kd=False, teacher_cache=str(side)))
    assert res["finished"] and [r["phase"] for r in read_log(tmp_path / "run")] == ["align", "distil", "joint", "joint"]
    with pytest.raises(MobileClipError, match="seed"):
        train(base_cfg(shards, tmp_path / "bad", None, steps=2, seed=1, crop_scale=(0.5, 1.0))
              .replace(no_kd=False, teacher_cache=str(side)))
    with pytest.raises(SystemExit):  # a sidecar built for other settings: one line, exit 2, nothing rewritten
        cache_teacher.main([*argv[:8], "--crop-scale", "0.9", "1.0"])
    assert "built for other settings" in capsys.readouterr().err

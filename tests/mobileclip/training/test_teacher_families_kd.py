"""Issue 27's acceptance on tiny random-weight teachers of each family (open_clip, SigLIP, a two-teacher ensemble):
the teacher cache round-trips each member's own embeddings and the scoring; a 3-step KD run, then evaluation with
the teacher, then (slow) an ExecuTorch export of the student; ``--teacher open_clip:ViT-B-32`` without weights is one
line before training starts."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

import mobileclip  # noqa: F401
from mobileclip import MobileClipError, create_model, get_tokenizer, load_teacher, read_checkpoint
from mobileclip.data.synthetic import write_synthetic_dataset
from mobileclip.training.cache_teacher import build_cache
from mobileclip.training.data import PairTransform, SeededView, build_dataset
from mobileclip.training.loop import train
from mobileclip.training.teacher_cache import TeacherCache
from tests.support.data import REPO, make_csv
from tests.support.teachers import tiny_open_clip_dir, tiny_siglip_dir
from tests.support.training import base_cfg, read_log

FAMILIES = ["open_clip", "siglip", "ensemble"]


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("teachers")
    oc, sig = tiny_open_clip_dir(root / "oc"), tiny_siglip_dir(root / "siglip")
    return {"open_clip": f"open_clip:local-dir:{oc}", "siglip": f"hf:{sig}",
            "ensemble": f"ensemble:open_clip:local-dir:{oc},{sig}"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_csv(tmp_path_factory.mktemp("toy"), 8)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic_dataset(out, n_train=0, n_test=16, size=40, seed=3)
    return out


@pytest.fixture(scope="module")
def trained(specs, toy, tmp_path_factory):
    """One 3-step KD run per family (align, distil, joint: every KD term runs once), trained on first use."""
    runs = {}

    def get(family):
        if family not in runs:
            out = tmp_path_factory.mktemp(f"kd_{family}")
            train(base_cfg(toy, out, specs[family], steps=3, align_steps=1, distil_steps=1))
            runs[family] = out
        return runs[family]
    return get


def _members(teacher):
    return list(teacher.members) if hasattr(teacher, "members") else [teacher]


@pytest.mark.parametrize("family", FAMILIES)
def test_cache_round_trips_each_members_own_embeddings(family, specs, toy, tmp_path):
    path = tmp_path / "cache.pt"
    build_cache(specs[family], str(toy), str(path), variants=2, seed=3, batch_size=4, crop_scale=(0.5, 1.0),
                progress=False)
    cache, teacher = TeacherCache(path), load_teacher(specs[family])
    assert cache.scoring == teacher.scoring and cache.meta["teacher_spec"] == teacher.spec
    assert cache.embed_dim == teacher.embed_dim and cache.meta["format_version"] == 2
    view = SeededView(build_dataset(str(toy), PairTransform(create_model("tiny-lsra-light").preprocess_cfg,
                                                            teacher.preprocess_cfg, True, (0.5, 1.0)),
                                    get_tokenizer()), seed=3)
    for v in (0, 1):
        view.variant = v
        (_, t_img), ids, i = view[5]
        stored = cache.member_embeds(v, torch.tensor([i]))
        for member, (img, txt) in zip(_members(teacher), stored):
            x = teacher.member_view(member, t_img[None]) if family == "ensemble" else t_img[None]
            torch.testing.assert_close(img, member.encode_image(x), atol=2e-3, rtol=0)
            torch.testing.assert_close(txt, member.encode_text(ids[None]), atol=2e-3, rtol=0)
        online = teacher(t_img[None], ids[None])
        looked = cache.lookup(v, torch.tensor([i]), "cpu")
        torch.testing.assert_close(looked["image_embeds"], online["image_embeds"], atol=2e-3, rtol=0)
        assert looked["scoring"] == online["scoring"]
    cache.check_teacher(specs[family].replace("hf:", ""))  # the same teacher, spelled as a bare directory
    other = specs["siglip" if family != "siglip" else "open_clip"]
    with pytest.raises(MobileClipError, match="was built for teacher"):
        cache.check_teacher(other)
    with pytest.raises(MobileClipError, match="was built for teacher"):  # and training refuses it
        train(base_cfg(toy, tmp_path / "bad", other, teacher_cache=str(path), steps=1))


@pytest.mark.parametrize("family", FAMILIES)
def test_kd_run_then_eval(family, specs, trained, synth, tmp_path):
    from mobileclip.evaluation.evaluate import main as evaluate

    out = trained(family)
    rows = read_log(out)
    assert len(rows) == 3 and all(r["rd_i2t"] == "" or torch.isfinite(torch.tensor(float(r["rd_i2t"])))
                                  for r in rows)
    assert any(r["rd_i2t"] for r in rows) and any(r["fd_image"] for r in rows)
    teacher = load_teacher(specs[family])
    heads = (read_checkpoint(out / "final.pt").get("extra") or {}).get("kd_heads")
    if teacher.embed_dim != 32:  # KD heads sized to the teacher's (the ensemble's summed) dim
        assert heads["image"]["weight"].shape == (teacher.embed_dim, 32)
    res = evaluate([str(out / "final.pt"), "--zeroshot", str(synth / "classes" / "test"), "--teacher",
                    specs[family], "--templates", "single", "--limit", "8", "--batch-size", "4", "--no-progress",
                    "--json", str(tmp_path / "eval.json")])
    assert res["zeroshot"]["n"] == 8 and 0 <= res["agreement"]["top1_agreement"] <= 1
    assert res["agreement"]["space"]["image"] == ("kd_heads" if teacher.embed_dim != 32 else "direct")
    res_t = evaluate([specs[family], "--zeroshot", str(synth / "classes" / "test"), "--templates", "single",
                      "--limit", "8", "--no-progress", "--json", str(tmp_path / "t.json")])
    assert res_t["kind"] == "teacher" and res_t["zeroshot"]["templates"]["single"]["top1"] == pytest.approx(
        res["agreement"]["teacher_top1"])


def test_cached_ensemble_trains_like_the_online_one(specs, toy, tmp_path):
    path = tmp_path / "cache.pt"
    build_cache(specs["ensemble"], str(toy), str(path), seed=1, batch_size=8, progress=False)
    common = dict(steps=2, align_steps=0, distil_steps=2, seed=1)
    train(base_cfg(toy, tmp_path / "online", specs["ensemble"], **common))
    train(base_cfg(toy, tmp_path / "cached", specs["ensemble"], teacher_cache=str(path), **common))
    for a, b in zip(read_log(tmp_path / "online"), read_log(tmp_path / "cached")):
        for k in ("fd_image", "icl_text", "rd_i2t", "rd_t2i"):
            assert float(a[k]) == pytest.approx(float(b[k]), abs=5e-3), k


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_student_exports_to_executorch(family, trained, tmp_path):
    from tests.support.export_helpers import require, run_export

    require("executorch")
    manifest = run_export("executorch", trained(family) / "final.pt", tmp_path / "export", "none",
                          towers=("image", "text"))
    assert {m["tower"] for m in manifest["models"]} == {"image", "text"}
    assert all(m["verification"]["passed"] for m in manifest["models"])


def test_open_clip_without_weights_is_one_line_before_training(toy, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "mobileclip.train", "--teacher", "open_clip:ViT-B-32", "--train-data",
                        str(toy), "--out", str(out), "--steps", "3", "--model", "tiny-lsra-light"],
                       capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "pretrained weights of ViT-B-32" in lines[0]
    assert "open_clip:ViT-B-32/path/to/open_clip_pytorch_model.bin" in lines[0]
    assert not out.exists()  # checked before the run folder is made


def test_shard_sidecars_carry_the_ensembles_blocks_and_scoring(specs, tmp_path):
    """Tar shards: the per-shard sidecars store the members' blocks and the scoring; the streamed lookup rebuilds the
    ensemble embedding; a run naming another teacher is refused; training streams them."""
    from mobileclip.data.shard_writer import write_tar_shards
    from mobileclip.data.shards import SHARD_STRIDE, TarShards
    from mobileclip.training import cache_teacher
    from mobileclip.training.teacher_cache import StreamedTeacherCache

    write_tar_shards(make_csv(tmp_path / "data", 8), tmp_path / "shards", samples_per_shard=4)
    shards = str(tmp_path / "shards" / "shard-{000000..000001}.tar")
    side = tmp_path / "side"
    cache_teacher.main(["--teacher", specs["ensemble"], "--train-data", shards, "--out", str(side),
                        "--batch-size", "4"])
    cache = StreamedTeacherCache(side, TarShards(shards, None, None).shards, 0, (0.9, 1.0))
    teacher = load_teacher(specs["ensemble"])
    assert cache.scoring == teacher.scoring and cache.embed_dim == 56
    got = cache.lookup(0, torch.tensor([SHARD_STRIDE + 1]), "cpu")
    assert got["scoring"] == teacher.scoring
    torch.testing.assert_close(got["image_embeds"].norm(dim=-1), torch.ones(1))
    with pytest.raises(MobileClipError, match="was built for teacher"):
        cache.check_teacher(specs["siglip"])
    res = train(base_cfg(shards, tmp_path / "run", specs["ensemble"], steps=2, align_steps=0, distil_steps=2,
                         teacher_cache=str(side)))
    assert res["finished"] and all(r["rd_i2t"] for r in read_log(tmp_path / "run"))

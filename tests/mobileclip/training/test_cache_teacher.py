"""Teacher cache: embeddings equal the online teacher's for the same augmented views; training uses it."""
import csv

import pytest
import torch

import mobileclip  # noqa: F401
from mobileclip import get_tokenizer, load_teacher
from mobileclip.training.cache_teacher import build_cache, main
from mobileclip.training.loop import train
from mobileclip.training.data import PairTransform, SeededView, build_dataset
from tests.support.data import make_csv
from tests.support.training import base_cfg


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return make_csv(tmp_path_factory.mktemp("cache_toy"), 8)


def test_cache_matches_online_teacher(toy, tiny_teacher_dir, tmp_path):
    path = tmp_path / "cache.pt"
    info = build_cache(str(tiny_teacher_dir), str(toy), str(path), variants=2, seed=3, batch_size=4,
                       crop_scale=(0.5, 1.0), progress=False)
    assert info["covered"] == 8
    cache = torch.load(path, weights_only=True)
    assert cache["image_embeds"].shape == (2, 8, 32)
    teacher = load_teacher(str(tiny_teacher_dir))
    # the view training would draw: student + teacher crops from the same seeded box
    student_cfg = {**teacher.preprocess_cfg, "image_size": 16}
    view = SeededView(build_dataset(str(toy), PairTransform(student_cfg, teacher.preprocess_cfg, True, (0.5, 1.0)),
                                    get_tokenizer()), seed=3)
    for v in (0, 1):
        view.variant = v
        (s_img, t_img), ids, i = view[5]
        emb = teacher.encode_image(t_img[None])[0]
        assert torch.allclose(cache["image_embeds"][v, 5].float(), emb, atol=2e-3)
        assert torch.allclose(cache["text_embeds"][v, 5].float(), teacher.encode_text(ids[None])[0], atol=2e-3)
    assert not torch.equal(cache["image_embeds"][0], cache["image_embeds"][1])  # two different crops


def test_training_with_cache_equals_online(toy, tiny_teacher_dir, tmp_path):
    path = tmp_path / "cache.pt"
    main(["--teacher", str(tiny_teacher_dir), "--train-data", str(toy), "--out", str(path), "--seed", "1",
          "--batch-size", "8"])
    common = dict(steps=2, align_steps=1, distil_steps=1, seed=1)
    on = tmp_path / "online"
    ca = tmp_path / "cached"
    train(base_cfg(toy, on, tiny_teacher_dir, **common))
    cached = base_cfg(toy, ca, None, **common, no_kd=False, teacher_cache=str(path))
    train(cached)
    assert cached.aug_variants == 0  # the run used the cache's variant count without changing the caller's config
    rows = [list(csv.DictReader(open(d / "log.csv"))) for d in (on, ca)]
    for a, b in zip(*rows):
        for k in ("fd_image", "fd_text", "icl_image", "rd_i2t"):
            if a[k]:
                assert float(a[k]) == pytest.approx(float(b[k]), abs=5e-3), k
    with pytest.raises(mobileclip.MobileClipError, match="augmentation seed"):
        train(base_cfg(toy, tmp_path / "bad", None, no_kd=False, teacher_cache=str(path), seed=2, steps=1))


@pytest.mark.parametrize("module", ["mobileclip.training.cache_teacher", "benchmarks.kd_ablation", "mobileclip.demo_train"])
def test_cli_help_documents_options(module, capsys):
    import importlib

    mod = importlib.import_module(module)
    with pytest.raises(SystemExit) as e:
        mod.parse_args(["--help"])
    assert e.value.code == 0
    assert "--" in capsys.readouterr().out


def test_cache_bad_input_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--teacher", "vit-b-32-random", "--train-data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "c.pt")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mobileclip.cache_teacher: error:")

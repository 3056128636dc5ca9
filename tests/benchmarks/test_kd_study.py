"""The KD study (benchmarks.kd_ablation): a tiny grid end to end, cells kept and reused, bad input refused."""
import json

import numpy as np
import pytest
from PIL import Image

import mobileclip  # noqa: F401
from benchmarks import kd_ablation
from benchmarks.kd_study import GRIDS, RECIPES, resolve_recipes
from mobileclip.training.config import TrainConfig

CLASSES = {"cat": (200, 60, 40), "dog": (40, 160, 60), "ship": (40, 60, 200)}


def _photos(folder, colour, n, seed):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = np.clip(np.array(colour) + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(folder / f"{i}.jpg")


@pytest.fixture(scope="module")
def tiny_cifar(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    for k, (name, colour) in enumerate(CLASSES.items()):
        _photos(root / "data" / "train" / name, colour, 20, k)
        _photos(root / "data" / "test" / name, colour, 4, 10 + k)
    _photos(root / "heldout", (120, 120, 120), 5, 99)
    return root


def _argv(root, out, *more):
    return ["--data", str(root / "data"), "--heldout", str(root / "heldout"), "--out", str(out),
            "--teacher-config", "tiny", "--teacher-steps", "3", "--teacher-batch", "8", "--student", "tiny-lsra-light",
            "--subset", "0.5", "--student-steps", "6", "--student-batch", "8", "--seeds", "2", *more]


def test_tiny_grid_end_to_end_then_reused(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "study"
    summary = kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd,rd,cached-k1"))
    rows = {r["recipe"]: r for r in summary["recipes"]}
    assert list(rows) == ["kd", "nokd", "rd", "cached-k1"]  # kd first: the cached recipe's wall-time budget
    for r in rows.values():
        assert r["seeds"] == 2 and set(r["top1_by_seed"]) == {"0", "1"}
        assert 0 <= r["top1"] <= 100 and r["top1_std"] >= 0 and 0 <= r["heldout_agreement"] <= 100
    assert rows["nokd"]["steps"] == 6 and rows["cached-k1"]["steps"] >= 1
    cell = json.loads((out / "rd" / "seed1" / "result.json").read_text())
    assert cell["config"]["loss_terms"] == "rd" and cell["config"]["seed"] == 1 and cell["heldout_n"] == 5
    assert json.loads((out / "cached-k1" / "seed0" / "plan.json").read_text())["steps"] == rows["cached-k1"]["steps"]
    assert summary["kd_gain"]["seeds"] == 2
    for name in ("results.json", "results.md", "results.png"):
        assert (out / name).stat().st_size > 0
    assert "top-1 % (mean ± std)" in (out / "results.md").read_text()
    # a second run reuses every finished cell (nothing re-trained) and reports the same numbers
    logs = {p: p.stat().st_mtime_ns for p in out.glob("*/seed*/log.csv")}
    again = kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd,rd,cached-k1", "--reuse-teacher"))
    assert {p: p.stat().st_mtime_ns for p in logs} == logs
    assert [r["top1"] for r in again["recipes"]] == [r["top1"] for r in summary["recipes"]]


def test_a_finished_cell_of_other_settings_is_refused(tiny_cifar, tmp_path, capsys):
    out = tmp_path / "study"
    kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd", "--seeds", "1"))
    with pytest.raises(SystemExit) as e:
        kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd", "--seeds", "1", "--reuse-teacher",
                               "--student-lr", "0.01"))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "finished cell of other settings" in err and "nokd" in err


@pytest.mark.parametrize("argv, words", [(["--recipes", "kd,bogus"], "unknown recipe(s) bogus"),
                                         (["--grid", "ablation", "--seeds", "0"], "--seeds must be >= 1")])
def test_bad_input_is_one_line_before_any_work(argv, words, tmp_path, tiny_cifar, capsys):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as e:
        kd_ablation.main(_argv(tiny_cifar, out, *argv))
    assert e.value.code == 2 and words in capsys.readouterr().err
    assert not out.exists()


def test_every_grid_names_known_recipes_and_each_recipe_is_a_valid_config():
    for names in GRIDS.values():
        assert all(n in RECIPES for n in names)
    from mobileclip.training.config import check_config  # noqa: F401  (the rules a recipe must pass)
    from mobileclip.training.schedule import Schedule, loss_families

    for r in RECIPES.values():
        cfg = TrainConfig(train_data="d", **r.changes)
        if not cfg.no_kd:
            Schedule(400, True, cfg.align_steps, cfg.distil_steps, loss_families(cfg.loss_terms, cfg.affinity))
    assert [r.name for r in resolve_recipes("ablation", None)] == ["kd", "nokd"]


def test_a_cell_another_process_holds_is_passed_over(tiny_cifar, tmp_path, capsys):
    from benchmarks.kd_study import cell_dir
    from mobileclip.utils.runlock import run_lock

    out = tmp_path / "study"
    held = cell_dir(out, "nokd", 1)
    held.mkdir(parents=True)
    with run_lock(held, "another study process"):
        summary = kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd"))
    assert summary["pending"] == ["nokd/seed1"]
    assert summary["recipes"][0]["top1_by_seed"].keys() == {"0"}
    assert "not in the table: nokd/seed1" in capsys.readouterr().out
    again = kd_ablation.main(_argv(tiny_cifar, out, "--recipes", "nokd", "--reuse-teacher"))  # collects it
    assert again["pending"] == [] and again["recipes"][0]["seeds"] == 2


def test_trainer_kd_defaults_are_the_documented_study_pick():
    """docs/training.md's "KD defaults" line (the KD study's best recipe) is exactly what TrainConfig defaults to."""
    import re

    from mobileclip.training.config import build_parser
    from tests.support.data import REPO

    line = next(x for x in (REPO / "docs" / "training.md").read_text().splitlines() if x.startswith("**KD defaults"))
    pairs = re.findall(r"`(--[a-z-]+) ([^`]+)`", line)
    assert {f for f, _ in pairs} >= {"--loss-terms", "--balancer", "--align-steps", "--distil-steps", "--fd-loss",
                                     "--temperature"}, line
    argv = ["--train-data", "x"] + [t for pair in pairs for t in pair]
    parsed = build_parser().parse_args(argv)
    assert TrainConfig.from_namespace(parsed) == TrainConfig(train_data="x")

"""The KD study behind ``python -m benchmarks.kd_ablation``: named recipes, and cells (recipe x seed) that are each
trained and evaluated once (a finished cell is kept; an interrupted one resumes from its ``last.pt``).

Every recipe is the trainer's defaults (:class:`~mobileclip.training.config.TrainConfig`) plus a few changes, so
``kd`` is always the recipe a user gets without options. Cells train on the same materialised subset of the
training split (symlinks, one selection for every recipe and seed); the seed changes the initialisation, the batch
order and the augmentations. Each cell records its zero-shot top-1/top-5, its agreement with the teacher on
held-out photos, its training wall and CPU time and its config.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from mobileclip.training.config import TrainConfig
from mobileclip.training.schedule import DEFAULT_LOSS_TERMS
from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.fileio import write_json

ALL_FAMILIES = DEFAULT_LOSS_TERMS + ",am"


@dataclass(frozen=True)
class Recipe:
    name: str
    about: str
    changes: dict = field(default_factory=dict)  # TrainConfig fields changed from the trainer's defaults
    cache_variants: int = 0  # > 0: cached teacher (K augmentation variants) at the online ``kd`` cell's wall time


def _minus(family: str) -> Recipe:
    left = ",".join(f for f in ALL_FAMILIES.split(",") if f != family)
    return Recipe(f"all-{family}", f"every family but {family}: {left}",
                  {"loss_terms": left, **({"align_steps": 0} if family == "fd" else {})})


RECIPES = {r.name: r for r in [
    Recipe("nokd", "no teacher: the student's contrastive loss alone", {"no_kd": True}),
    Recipe("kd", "the trainer's defaults (three phases, learned balancing, --loss-terms " + DEFAULT_LOSS_TERMS + ")"),
    Recipe("fd", "feature distillation alone (no contrastive)", {"loss_terms": "fd"}),
    Recipe("icl", "interactive contrastive alone", {"loss_terms": "icl", "align_steps": 0}),
    Recipe("rd", "response distillation alone", {"loss_terms": "rd", "align_steps": 0}),
    Recipe("am", "affinity mimicking alone", {"loss_terms": "am", "align_steps": 0}),
    Recipe("all", "every family: " + ALL_FAMILIES, {"loss_terms": ALL_FAMILIES}),
    *[_minus(f) for f in ALL_FAMILIES.split(",")],
    Recipe("fixed", "the defaults with fixed weights 1 (no learned balancing)", {"balancer": "fixed"}),
    Recipe("one-phase", "the defaults' families from step 0 (no align / distil phases)",
           {"align_steps": 0, "distil_steps": 0}),
    Recipe("mobileclip", "MobileCLIP's weighting: distillation (rd) at 1, contrastive at 0, one phase, fixed",
           {"loss_terms": "rd", "align_steps": 0, "distil_steps": 0, "balancer": "fixed"}),
    *[Recipe(f"cached-k{k}", f"the defaults from a teacher cache of {k} augmentation variant(s), as many steps as "
                             f"fit in the online kd cell's wall time (cache build included)", cache_variants=k)
      for k in (1, 5, 10)],
]}

GRIDS = {
    "ablation": ["kd", "nokd"],
    "terms": ["nokd", "kd", "fd", "icl", "rd", "am", "all", *[f"all-{f}" for f in ALL_FAMILIES.split(",")]],
    # the reduced grid measured on 2 CPU cores (docs/results.md): about 100 min on one core at --student-steps 400
    "cpu": ["nokd", "kd", "fd", "icl", "rd", "all-contrastive", "mobileclip", "fixed"],
    "full": list(RECIPES),
}


def grid_help() -> str:
    """The recipes and grids, for ``--help``."""
    lines = ["recipes (each = the trainer's defaults plus its changes):"]
    lines += [f"  {r.name:<18} {r.about}" for r in RECIPES.values()]
    lines += ["grids:"] + [f"  {g:<9} {', '.join(names)}" for g, names in GRIDS.items()]
    return "\n".join(lines)


def resolve_recipes(grid: str, recipes: str | None) -> list[Recipe]:
    """``--recipes a,b`` (or the ``--grid``'s) -> recipes; unknown names: one line. Online ``kd`` runs before a
    cached recipe (its wall time sets their step count)."""
    names = [n.strip() for n in recipes.split(",") if n.strip()] if recipes else GRIDS.get(grid)
    if names is None:
        raise MobileClipError(f"--grid {grid}: unknown grid (one of {', '.join(GRIDS)})")
    unknown = [n for n in names if n not in RECIPES]
    if unknown or not names:
        raise MobileClipError(f"--recipes: unknown recipe(s) {', '.join(unknown) or '(none given)'}; known: "
                              f"{', '.join(RECIPES)}")
    if any(RECIPES[n].cache_variants for n in names) and "kd" not in names:
        names = ["kd", *names]
    return [RECIPES[n] for n in dict.fromkeys(names)]


def materialise_subset(train_dir: Path, fraction: float, out: Path, seed: int = 0) -> Path:
    """``out/<class>/<file>`` symlinks to a ``fraction`` of ``train_dir`` (the trainer's own subset rule: the
    first ``round(fraction * n)`` of a seeded permutation). Written once; a second call checks and returns it."""
    from torchvision.datasets.folder import find_classes, make_dataset

    from mobileclip.data.datasets import IMAGE_EXTENSIONS
    from mobileclip.training.data import subset_indices

    marker = out / ".subset.json"
    want = {"train_dir": str(train_dir.resolve()), "fraction": fraction, "seed": seed}
    if marker.is_file():
        if json.loads(marker.read_text()) != want:
            raise MobileClipError(f"{out} holds another training subset ({marker.read_text().strip()}); "
                                  f"use another --out")
        return out
    _, class_to_idx = find_classes(str(train_dir))
    samples = make_dataset(str(train_dir), class_to_idx, extensions=IMAGE_EXTENSIONS)
    for i in subset_indices(len(samples), fraction, seed).tolist():
        src = Path(samples[i][0]).resolve()
        link = out / src.parent.name / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(src)
    write_json(marker, want)
    return out


def cell_dir(out: Path, recipe: str, seed: int) -> Path:
    return out / recipe / f"seed{seed}"


def read_cell(out: Path, recipe: str, seed: int) -> dict | None:
    path = cell_dir(out, recipe, seed) / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def cell_config(base: TrainConfig, recipe: Recipe, seed: int, out: Path) -> TrainConfig:
    return base.replace(seed=seed, out=str(cell_dir(out, recipe.name, seed)), **recipe.changes)


def comparable(record: dict) -> dict:
    """A cell's config without what may differ between two runs of one cell (its folder, logging, threads)."""
    return {k: v for k, v in record.items() if k not in ("out", "quiet", "log_every", "save_every", "threads",
                                                         "workers", "resume")}


def cached_plan(base: TrainConfig, recipe: Recipe, seed: int, out: Path, teacher_dir: str) -> dict:
    """A cached recipe's cache (built once per seed) and step count: as many steps as fit in the online ``kd``
    cell's training wall time after the cache build, at the step time a 12-step probe measures. Kept in
    ``plan.json`` so an interrupted cell resumes with the same plan."""
    from mobileclip.training.cache_teacher import build_cache
    from mobileclip.training.loop import train

    d = cell_dir(out, recipe.name, seed)
    plan_path = d / "plan.json"
    if plan_path.is_file():
        return json.loads(plan_path.read_text())
    online = read_cell(out, "kd", seed)
    if online is None:
        raise MobileClipError(f"recipe {recipe.name} needs the kd cell of seed {seed} first (its wall time)")
    cache = d / "teacher_cache.pt"
    d.mkdir(parents=True, exist_ok=True)
    t0, c0 = time.time(), time.process_time()
    build_cache(teacher_dir, base.train_data, str(cache), variants=recipe.cache_variants, seed=seed,
                batch_size=base.batch_size, crop_scale=base.crop_scale, templates=base.templates, progress=False)
    build_s, build_cpu_s = time.time() - t0, time.process_time() - c0
    probe = cell_config(base, recipe, seed, out).replace(out=str(d / "probe"), teacher_cache=str(cache), steps=12,
                                                         resume="none", save_every=100000)
    step_s = train(probe)["mean_step_time_s"]
    steps = int((online["train_wall_s"] - build_s) // step_s)
    plan = {"teacher_cache": str(cache), "cache_build_s": build_s, "cache_build_cpu_s": build_cpu_s, "probe_step_s": step_s,
            "online_train_wall_s": online["train_wall_s"], "steps": steps}
    if steps < 1:
        raise MobileClipError(f"recipe {recipe.name}, seed {seed}: building the cache ({build_s:.0f} s) takes longer "
                              f"than the online run's whole training ({online['train_wall_s']:.0f} s)")
    write_json(plan_path, plan)
    return plan


def run_cell(base: TrainConfig, recipe: Recipe, seed: int, out: Path, teacher: dict, evaluate) -> dict:
    """Train (or resume) and evaluate one cell; a finished cell of the same settings is returned as it is, one of
    other settings is refused. ``evaluate(checkpoint) -> dict`` scores the student; ``teacher``: ``{"dir": ...}``."""
    from mobileclip.training.loop import train

    cfg = cell_config(base, recipe, seed, out)
    if not recipe.changes.get("no_kd"):
        cfg = cfg.replace(teacher=teacher["dir"])
    plan = None
    if recipe.cache_variants:
        plan = cached_plan(base, recipe, seed, out, teacher["dir"])
        cfg = cfg.replace(teacher_cache=plan["teacher_cache"], steps=plan["steps"])
    done = read_cell(out, recipe.name, seed)
    if done is not None:
        if comparable(done["config"]) != comparable(cfg.as_record()):
            raise MobileClipError(f"{cell_dir(out, recipe.name, seed)} is a finished cell of other settings; use "
                                  f"another --out (or move that folder away)")
        return done
    resumed = (Path(cfg.out) / "last.pt").is_file()
    t0, c0 = time.time(), time.process_time()
    summary = train(cfg)
    wall, cpu = time.time() - t0, time.process_time() - c0
    result = {"recipe": recipe.name, "seed": seed, "train_wall_s": wall, "train_cpu_s": cpu, "resumed": resumed,
              "mean_step_time_s": summary["mean_step_time_s"], "plan": plan, "config": cfg.as_record(),
              **evaluate(Path(cfg.out) / "final.pt")}
    if plan:  # a cached cell's budget includes building its cache
        result["train_wall_s"] += plan["cache_build_s"]
        result["train_cpu_s"] += plan["cache_build_cpu_s"]
    write_json(cell_dir(out, recipe.name, seed) / "result.json", result)
    return result


def run_cells(base: TrainConfig, recipes: list[Recipe], seeds: list[int], out: Path, teacher: dict, evaluate
              ) -> tuple[dict[str, list[dict]], list[str]]:
    """Every (recipe, seed) cell in order -> ``({recipe: [results]}, pending)``. A cell another process is training
    (its folder's run lock) is passed over and looked at again at the end: several processes can share one study
    folder, each taking the cells no one holds; what is still running then is ``pending`` ("recipe/seedK")."""
    from mobileclip.utils.runlock import FolderLockedError

    t0, n, done, held = time.time(), len(recipes) * len(seeds), {}, []
    for recipe in recipes:
        for seed in seeds:
            print(f"[{time.time() - t0:6.0f} s] cell {recipe.name} seed {seed} "
                  f"({len(held) + sum(map(len, done.values())) + 1}/{n})", flush=True)
            try:
                done.setdefault(recipe.name, []).append(run_cell(base, recipe, seed, out, teacher, evaluate))
            except FolderLockedError as e:
                print(f"  passed over: {e}", flush=True)
                held.append((recipe, seed))
    pending = []
    for recipe, seed in held:
        result = read_cell(out, recipe.name, seed)
        if result is None:
            pending.append(f"{recipe.name}/seed{seed}")
        else:
            done.setdefault(recipe.name, []).append(result)
    return {r.name: sorted(done[r.name], key=lambda c: c["seed"]) for r in recipes if done.get(r.name)}, pending


class Evaluator:
    """Scores a student checkpoint: CIFAR-style zero-shot (CLIP prompt ensemble) on ``test_dir``, and on held-out
    photos (not of the test split; by default the Flickr8k subset) the share whose zero-shot class the student
    predicts as the teacher does (agreement, %)."""

    def __init__(self, teacher, test_dir: Path, heldout: list[Path], limit: int | None = None):
        from mobileclip.data.datasets import ClassFolder

        self.test_dir, self.heldout, self.limit = test_dir, heldout, limit
        self.classnames = ClassFolder(test_dir, transform=None, tokenizer=None).classnames
        self.teacher = self.score(teacher, heldout_of=None)

    def _heldout_predictions(self, encoder) -> dict[int, int]:
        from mobileclip.data.templates import get_templates
        from mobileclip.evaluation.metrics import class_embeddings, encode_image_files, prompt_embeddings

        emb, kept, _ = encode_image_files(encoder, self.heldout)
        cls = class_embeddings(prompt_embeddings(encoder, self.classnames, get_templates("ensemble")))
        return dict(zip(kept.tolist(), (emb @ cls.T).argmax(-1).tolist()))

    def score(self, encoder, heldout_of: dict | None) -> dict:
        from mobileclip.evaluation.metrics import zero_shot

        t0 = time.time()
        zs = zero_shot(encoder, str(self.test_dir), templates="ensemble", limit=self.limit)
        preds = self._heldout_predictions(encoder)
        res = {"top1": 100 * zs["top1"], "top5": 100 * zs["top5"], "n": zs["n"]}
        if heldout_of is None:
            res["heldout_predictions"] = preds
        else:
            both = [i for i in preds if i in heldout_of]
            res["heldout_agreement"] = 100 * sum(preds[i] == heldout_of[i] for i in both) / max(1, len(both))
            res["heldout_n"] = len(both)
        res["eval_s"] = time.time() - t0
        return res

    def __call__(self, checkpoint: Path) -> dict:
        from mobileclip.evaluation.encoders import load_encoder

        teacher_preds = {int(k): v for k, v in self.teacher["heldout_predictions"].items()}
        return self.score(load_encoder(str(checkpoint)), heldout_of=teacher_preds)

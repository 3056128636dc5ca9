"""The KD study's table and plot: per recipe, mean ± std over seeds (and each seed), share of the teacher, agreement
with the teacher on held-out photos, and training time."""
from __future__ import annotations

import statistics
from pathlib import Path


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(cells: dict[str, list[dict]], teacher_top1: float) -> list[dict]:
    """``{recipe: [cell result, ...]}`` -> one row per recipe (the order given)."""
    rows = []
    for name, results in cells.items():
        top1, top1_std = _mean_std([r["top1"] for r in results])
        held, held_std = _mean_std([r["heldout_agreement"] for r in results])
        rows.append({"recipe": name, "seeds": len(results), "top1": top1, "top1_std": top1_std,
                     "top1_by_seed": {str(r["seed"]): r["top1"] for r in results},
                     "of_teacher": top1 / teacher_top1 if teacher_top1 else float("nan"),
                     "heldout_agreement": held, "heldout_agreement_std": held_std,
                     "train_cpu_s": statistics.fmean(r["train_cpu_s"] for r in results),
                     "train_wall_s": statistics.fmean(r["train_wall_s"] for r in results),
                     "steps": results[0]["config"]["steps"]})
    return rows


def kd_gain(rows: list[dict]) -> dict | None:
    """KD (the trainer's defaults) against no-KD: the gap in points and in units of the larger seed std."""
    by = {r["recipe"]: r for r in rows}
    if "kd" not in by or "nokd" not in by:
        return None
    gap = by["kd"]["top1"] - by["nokd"]["top1"]
    spread = max(by["kd"]["top1_std"], by["nokd"]["top1_std"])
    return {"gap": gap, "larger_std": spread, "gap_in_std": gap / spread if spread else None,
            "seeds": min(by["kd"]["seeds"], by["nokd"]["seeds"])}


def table(rows: list[dict], about: dict[str, str]) -> str:
    from tabulate import tabulate

    body = [[r["recipe"], f"{r['top1']:.2f} ± {r['top1_std']:.2f}", f"{r['of_teacher']:.3f}",
             f"{r['heldout_agreement']:.1f} ± {r['heldout_agreement_std']:.1f}", r["steps"],
             f"{r['train_cpu_s']:.0f}", " / ".join(f"{v:.2f}" for v in r["top1_by_seed"].values()), about[r["recipe"]]]
            for r in rows]
    return tabulate(body, headers=["recipe", "top-1 % (mean ± std)", "of teacher", "held-out agreement %", "steps",
                                   "train CPU s", "top-1 by seed", "what"], tablefmt="github", disable_numparse=True)


def plot(rows: list[dict], teacher_top1: float, path: Path, title: str) -> None:
    """Accuracy vs training CPU time per recipe, error bars = seed std; the teacher and 0.9 x teacher as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in rows:
        colour = "#c63" if r["recipe"] == "nokd" else "#2a7" if r["recipe"] == "kd" else "#357"
        ax.errorbar(r["train_cpu_s"], r["top1"], yerr=r["top1_std"], fmt="o", color=colour, capsize=3)
        ax.annotate(r["recipe"], (r["train_cpu_s"], r["top1"]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    ax.axhline(teacher_top1, ls="-", c="#666", lw=0.9, label=f"proxy teacher {teacher_top1:.1f} %")
    ax.axhline(0.9 * teacher_top1, ls="--", c="#666", lw=0.9, label="0.90 of the teacher")
    ax.set_xlabel("student training CPU time per seed (s)")
    ax.set_ylabel("CIFAR-10 zero-shot top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

"""``benchmarks.quantization``'s gate, Markdown table and plot (recall against latency, marker area from size)."""
from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from .common import atomic_write, machine_line


def search_gate(row: dict, ref: dict, min_overlap: float, max_r1_drop: float) -> str:
    """``pass`` / ``FAIL (why)`` for an int8 row: top-10 overlap >= ``min_overlap`` and R@1 at most ``max_r1_drop``
    below fp32's; ``—`` for unquantised rows."""
    if row["quantization"] != "int8":
        return "—"
    why = []
    if row["top10_overlap"] < min_overlap:
        why.append(f"overlap {row['top10_overlap']:.3f} < {min_overlap}")
    if row["R@1"] < ref["R@1"] - max_r1_drop - 1e-12:
        why.append(f"R@1 {100 * (row['R@1'] - ref['R@1']):+.1f} pt")
    return "pass" if not why else "FAIL (" + "; ".join(why) + ")"


def to_markdown(result: dict) -> str:
    g, z = result["gallery"], result["zeroshot"]
    rows = [[r["runtime"], r["tower"], r["quantization"], r["recipe"] or "—",
             "—" if r["size_bytes"] is None else f"{r['size_bytes'] / 2**20:.2f}",
             "—" if r["latency_ms"] is None else f"{r['latency_ms']:.2f}", f"{100 * r['zeroshot_top1']:.2f}",
             f"{100 * r['R@1']:.2f}", f"{100 * r['R@10']:.2f}", f"{r['top10_overlap']:.3f}", r["search_gate"],
             "yes" if r["export_gate"] else "REFUSED"] for r in result["results"]]
    lines = ["# Quantisation: size, latency and search recall per recipe", "",
             f"Checkpoint `{result['checkpoint']}`. Each row exports one tower with one recipe and keeps the other "
             f"tower in PyTorch fp32. Gallery: {g['photos']} photos ({g['captioned']} captioned photos of "
             f"`{g['captions_csv']}` + {g['distractors']} uncaptioned images of the zero-shot set), {g['queries']} "
             f"caption queries (text -> image). Zero-shot: {z['n']} images of `{z['folder']}`, templates "
             f"{z['templates']}.", "",
             tabulate(rows, headers=["runtime", "tower", "quant", "recipe", "MiB", "latency (ms)", "zero-shot top-1 %",
                                     "R@1 %", "R@10 %", "top-10 overlap", "search gate", "export gate"],
                      tablefmt="github", disable_numparse=True), "",
             "Top-10 overlap: mean over queries of the share of PyTorch fp32's top-10 photos the recipe also ranks in "
             "its top 10. Search gate (int8): overlap >= 0.9 and R@1 within 1 point of fp32. Export gate: the "
             "export's own verification (cosine, decisive zero-shot agreement, decisive top-10 kept); a refused "
             "file is measured all the same. Latency: batch 1, median.", ""]
    lines += [f"- skipped: {s}" for s in result["skipped"]]
    lines += ["", "![recall vs latency](quantization.png)", "", machine_line(result["machine"])]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["results"] if r["latency_ms"] is not None]
    towers = [t for t in ("image", "text") if any(r["tower"] == t for r in rows)] or ["image"]
    fig, axes = plt.subplots(1, len(towers), figsize=(5.5 * len(towers), 4.4), squeeze=False)
    colors = {"executorch": "#dd8452", "litert": "#55a868", "coreml": "#8172b3"}
    fp32 = result["results"][0]["R@1"] * 100
    for ax, tower in zip(axes[0], towers):
        mine = [r for r in rows if r["tower"] == tower]
        for r in mine:
            ax.scatter(r["latency_ms"], 100 * r["R@1"], s=20 + 12 * r["size_bytes"] / 2**20,
                       color=colors.get(r["runtime"], "#937860"), edgecolors="black", linewidths=0.6,
                       marker="o" if r["quantization"] == "fp32" else "s", alpha=0.8)
            ax.annotate(f"{r['runtime']} {r['recipe']}", (r["latency_ms"], 100 * r["R@1"]), fontsize=6, xytext=(4, 3),
                        textcoords="offset points")
        ax.axhline(fp32, color="#4c72b0", ls="--", lw=1, label="PyTorch fp32")
        ax.axhline(fp32 - 1, color="#c44e52", ls=":", lw=1, label="fp32 - 1 point (search gate)")
        ax.set_title(f"{tower} tower exported (other tower PyTorch fp32)", fontsize=9)
        ax.set_xlabel("latency, batch 1 (ms); marker area ~ file size; square = int8", fontsize=8)
        ax.set_ylabel("text -> image R@1 (%)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Recall vs latency per recipe: {result['gallery']['photos']}-photo gallery; "
                 f"{result['machine']['cpu']}, {result['machine']['threads']} thread(s)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return atomic_write(path, buf.getvalue())

"""One report: runs the desktop benchmarks (params, latency, accuracy) in one go, reads on-phone results
(``benchmarks.device`` JSON) if given, and writes ``report.md`` with tables and matplotlib plots
(``latency.png``: latency bars per tower/runtime; ``size_accuracy.png``: model size vs zero-shot top-1),
stating machine, threads, repeats and the teacher used. Each part's own JSON + Markdown sit beside it.

Two references, each labelled in the summary: parameters, MACs and latency are compared with ``--reference``
(default: the ViT-B/32 architecture with random weights -- weights change neither); accuracy and agreement
are measured against ``--teacher`` (e.g. ``make demo``'s small proxy teacher). When the two differ, no line
compares the student's size or speed with the accuracy teacher.

Example (what ``make demo`` runs at the end, on its artifacts):
  python -m benchmarks.report --student .cache/demo/student.pt --teacher .cache/demo/teacher \\
      --export .cache/demo/export --repeats 5 --threads 1 --limit 200 --out .cache/demo/report
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from export.backends import runtime_name
from mobileclip import DEFAULT_MODEL, MobileClipError
from mobileclip.models.options import add_teacher
from mobileclip.utils.cli import add_thread_counts
from mobileclip.utils.errors import cli_errors
from mobileclip.utils.validate import check_writable_dir

from . import accuracy, latency, params
from .common import RANDOM_VIT_B_32, atomic_write, machine_line, write_outputs
from .resolution import tower_label

PROG = "python -m benchmarks.report"
PARTS = ("params", "latency", "accuracy")


def run(args) -> dict:
    out = check_writable_dir(args.out, "--out")  # reliability hook: before the work
    out.mkdir(parents=True, exist_ok=True)
    skip = set(p.strip() for p in (args.skip or "").split(",") if p.strip())
    bad = skip - set(PARTS)
    if bad:
        raise MobileClipError(f"--skip: unknown part(s) {', '.join(sorted(bad))}; choose from {', '.join(PARTS)}")
    results, notes = {}, []
    common = ["--teacher", args.reference]  # size and speed: the reference architecture
    if "params" not in skip:
        print("== params ==")
        argv = ["--students", args.student, *common] + (["--export", args.export] if args.export else [])
        results["params"] = _part(params, argv, out)
    if "latency" not in skip:
        print("== latency ==")
        argv = ["--students", args.student, *common, "--runtimes", args.runtimes, "--threads", args.threads,
                "--repeats", str(args.repeats), "--warmup", str(args.warmup), "--quiet-skips"]
        results["latency"] = _part(latency, argv + (["--export", args.export] if args.export else []), out)
    if "accuracy" not in skip:
        if not (args.student.endswith(".pt") or Path(args.student).is_file()):
            notes.append(f"accuracy skipped: {args.student} is a config, not a trained checkpoint (.pt)")
        else:
            print("== accuracy ==")
            argv = [args.student, "--teacher", args.teacher, "--no-progress"]
            for flag, value in (("--export", args.export), ("--zeroshot", args.zeroshot),
                                ("--retrieval", args.retrieval), ("--limit", args.limit),
                                ("--retrieval-limit", args.retrieval_limit), ("--templates", args.templates)):
                if value is not None:
                    argv += [flag, str(value)]
            results["accuracy"] = _part(accuracy, argv, out)
    if args.device_json:
        path = Path(args.device_json)
        if not path.is_file():
            raise MobileClipError(f"--device-json: {path} not found")
        try:
            results["device"] = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise MobileClipError(f"--device-json: {path} is not valid JSON ({e})") from None
    plots = []
    if "latency" in results:
        plots.append(plot_latency(results["latency"], out / "latency.png"))
    if "accuracy" in results:
        plots.append(plot_size_accuracy(results, out / "size_accuracy.png"))
    return {"results": results, "notes": notes, "plots": [str(p) for p in plots if p], "out": str(out)}


def _part(module, argv, out: Path) -> dict:
    args = module.parse_args(argv + ["--out", str(out)])
    res = module.run(args)
    write_outputs(res, module.to_markdown(res), *(out / f"{module.__name__.rsplit('.', 1)[1]}.{e}" for e in ("json", "md")))
    return res


# ---------------------------------------------------------------------------------------------- plots
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_latency(res: dict, path: Path) -> Path:
    return _save(latency_figure(res), path)


def latency_figure(res: dict):
    """Horizontal latency bars per tower/runtime/precision, one panel per thread count; the reference (the
    latency part's teacher) in red, each student bar labelled with its speed-up over the reference in eager."""
    import textwrap

    plt = _plt()
    threads = res["machine"]["threads"]
    n_rows = max(len([r for r in res["results"] if r["threads"] == t]) for t in threads)
    fig, axes = plt.subplots(1, len(threads), figsize=(7.5 * len(threads), 1.6 + 0.38 * n_rows), squeeze=False)
    for ax, t in zip(axes[0], threads):
        rows = [r for r in res["results"] if r["threads"] == t]
        labels = [f"{'reference' if r['role'] == 'teacher' else r['role']} {tower_label(r)}: {r['runtime']} "
                  f"{r['precision']}" for r in rows]
        colors = ["#c44e52" if r["role"] == "teacher" else "#4c72b0" for r in rows]
        y = range(len(rows))
        ax.barh(y, [r["median_ms"] for r in rows], xerr=[[r["median_ms"] - r["q1_ms"] for r in rows],
                                                          [r["q3_ms"] - r["median_ms"] for r in rows]],
                color=colors, capsize=3)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        lo = min(r["q1_ms"] for r in rows)
        ax.set_xlim(lo / 1.5, max(r["q3_ms"] for r in rows) * 3.5)  # room for the value labels on the right
        ax.set_xlabel("median latency, batch 1 (ms, log scale; whiskers: IQR)\n"
                      "(Nx): speed-up over the reference tower in PyTorch eager, same input resolution only",
                      fontsize=8)
        ax.set_title(f"{t} thread{'s' * (t > 1)}", fontsize=9)
        for i, r in enumerate(rows):
            sp = r.get("speedup_vs_teacher_eager")
            ax.text(max(r["q3_ms"], r["median_ms"]) * 1.08, i, f"{r['median_ms']:.2f} ms" + (f" ({sp:.1f}x)" if sp else ""),
                    va="center", fontsize=7)
    m = res["machine"]
    head = textwrap.fill(f"Latency; size and speed reference: {res['teacher']}", 90)
    fig.suptitle(f"{head}\n{m['cpu']}, {m['cores']} cores, repeats {m['repeats']}, torch {m['torch']}", fontsize=8)
    fig.tight_layout()
    return fig


# runtime -> (colour, marker area): areas shrink so that points of equal size and accuracy stay visible as rings
RUNTIME_STYLE = {"PyTorch eager": ("#4c72b0", 170), "executorch": ("#dd8452", 115), "litert": ("#55a868", 70),
                 "coreml": ("#8172b3", 35)}
PRECISION_MARKERS = {"fp32": "o", "fp16": "D", "int8": "s"}


def plot_size_accuracy(results: dict, path: Path) -> Path:
    return _save(size_accuracy_figure(results), path)


def size_accuracy_figure(results: dict):
    """Zero-shot top-1 against size; runtime = colour, precision = marker, explained in one legend (no per-point
    labels to collide). The accuracy teacher is a dashed line unless it is also the size reference."""
    plt = _plt()
    acc = results["accuracy"]
    sizes = _sizes(results)
    same_teacher = _reference_label(results) == acc["teacher"]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    seen = set()
    for r in sorted(acc["results"], key=lambda r: -RUNTIME_STYLE.get(r["runtime"], ("", 50))[1]):  # big first
        top1 = 100 * r["zeroshot"]["top1"]
        if r["kind"] == "teacher" and not same_teacher:
            ax.axhline(top1, color="#c44e52", ls="--", lw=1, label=f"accuracy teacher ({_short(acc['teacher'])})")
            continue
        size = sizes.get((r["kind"], r["runtime"], r["precision"]))
        if size is None:
            continue
        name = f"{r['kind']}: {r['runtime']} {r['precision']}"
        color, area = RUNTIME_STYLE.get(r["runtime"], ("#937860", 50))
        ax.scatter(size / 2**20, top1, s=area, edgecolors="black", linewidths=0.6,
                   color="#c44e52" if r["kind"] == "teacher" else color,
                   marker=PRECISION_MARKERS.get(r["precision"], "^"), label=None if name in seen else name)
        seen.add(name)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.2, y=0.2)
    ax.grid(alpha=0.3)
    ax.set_xlabel("size of both towers (MiB, log scale)")
    ax.set_ylabel("zero-shot top-1 (%)")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    n = acc["results"][0]["zeroshot"]["n"]
    ax.set_title(f"Size vs accuracy: zero-shot on {'/'.join(Path(acc['zeroshot_dataset']).parts[-2:])}, n={n}\n"
                 "(eager fp32 size = parameters x 4 bytes; exported = file sizes)", fontsize=9)
    fig.tight_layout()
    return fig


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else "..." + label[-(width - 3):]


def _sizes(results: dict) -> dict:
    """(kind, runtime, precision) -> bytes for both towers."""
    out = {}
    for m in (results.get("params") or {}).get("models", []):
        out[(m["role"], "PyTorch eager", "fp32")] = m["fp32_weight_bytes"]
    ex = (results.get("params") or {}).get("export")
    if ex:
        for m in ex["models"]:
            runtime = runtime_name(m["backend"])
            if m["size_bytes"]:
                key = ("student", runtime, m["quantization"])
                out[key] = out.get(key, 0) + m["size_bytes"]
    return out


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _plt().close(fig)
    return atomic_write(path, buf.getvalue())


# --------------------------------------------------------------------------------------------- report
def to_markdown(report: dict) -> str:
    r = report["results"]
    lines = ["# mobileclip-kd benchmark report", ""]
    summary = summary_lines(report)
    if summary:
        lines += ["## Summary", ""] + [f"- {s}" for s in summary] + [""]
    for name, module in (("params", params), ("latency", latency), ("accuracy", accuracy)):
        if name in r:
            md = module.to_markdown(r[name])
            lines += ["#" + md if md.startswith("# ") else md, ""]
            if name == "latency":
                lines += ["![latency](latency.png)", ""]
            if name == "accuracy":
                lines += ["![size vs accuracy](size_accuracy.png)", ""]
    if "device" in r:
        from . import device

        lines += ["#" + device.to_markdown(r["device"]), ""]
    lines += [f"- {n}" for n in report["notes"]]
    return "\n".join(lines).replace("\n# ", "\n## ").rstrip() + "\n"


def summary_lines(report: dict) -> list[str]:
    r, out = report["results"], []
    reference = _reference_label(r)
    if reference:
        out.append(f"size and speed reference: {reference}")
    if "params" in r:
        out += _params_summary(r["params"])
    if "latency" in r:
        for g in r["latency"]["goals"]:  # the latency part's "teacher" is the reference here
            goal = g["goal"].replace("the teacher", "the reference").replace("teacher", "reference")
            versus = "" if g["at_most"] else " vs the size and speed reference"  # a ratio of two student files
            out.append(f"latency{versus}, {g['threads']} thread(s), {goal}: "
                       f"{g['measured']} ({g['runtime']}; goal {g['target_text']}: "
                       f"{'met' if g['met'] else 'NOT met'})")
        out += [n.replace("the teacher", "the reference") for n in r["latency"].get("not_compared", [])]
        out.append(machine_line(r["latency"]["machine"]))
    if "accuracy" in r:
        out += _accuracy_summary(r["accuracy"], reference)
    if "device" in r:
        d = r["device"]
        for row in d.get("results", []):
            out.append(f"phone {(d.get('device') or {}).get('model', '?')}: {row['file']} {row['threads']} thread(s) "
                       f"{row['inference_avg_ms']:.2f} ms")
    return out


def _reference_label(r: dict) -> str | None:
    """The model the params and latency parts compared with (their ``teacher``), or None."""
    return (r.get("params") or {}).get("teacher") or (r.get("latency") or {}).get("teacher")


def _params_summary(res: dict) -> list[str]:
    ref = next((m for m in res["models"] if m["role"] == "teacher"), None)
    out = []
    for m in (m for m in res["models"] if m["role"] == "student"):
        s = f"{m['label']}: {m['params']['total'] / 1e6:.2f}M parameters"
        if ref:
            vs = m["vs_teacher"]
            s += f", {100 * vs['params_fraction']:.1f}% of the reference's {ref['params']['total'] / 1e6:.2f}M; "
            if vs.get("image_macs_ratio") is None:  # e.g. the 32 px demo student: no cross-resolution ratio
                s += (f"reference/student MACs: text {vs['text_macs_ratio']:.1f}x; image not compared (student "
                      f"{m.get('image_size')} px, reference {ref.get('image_size')} px)")
            else:
                s += (f"reference/student MACs: image {vs['image_macs_ratio']:.1f}x (both {m.get('image_size')} px), "
                      f"text {vs['text_macs_ratio']:.1f}x")
        out.append(s)
    return out


def _accuracy_summary(acc: dict, reference: str | None) -> list[str]:
    teacher = acc["teacher"]
    role = ("accuracy teacher" if reference in (None, teacher)
            else "accuracy teacher (a proxy: accuracy and agreement only, not the size and speed reference)")
    out = [f"{role}: {teacher}"]
    for row in acc["results"]:
        who = "the accuracy teacher" if row["kind"] == "teacher" else row["kind"]
        s = (f"accuracy, {who} {row['runtime']} {row['precision']}: zero-shot top-1 "
             f"{100 * row['zeroshot']['top1']:.1f}% (n={row['zeroshot']['n']})")
        if row.get("retrieval"):
            s += f", text->image R@1 {100 * row['retrieval']['text_to_image']['R@1']:.1f}%"
        if row.get("agreement"):
            s += f", top-1 agreement with the accuracy teacher {100 * row['agreement']['top1_agreement']:.1f}%"
        out.append(s)
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default=DEFAULT_MODEL,
                   help="student checkpoint (.pt; needed for accuracy) or config name (default: %(default)s)")
    add_teacher(p, RANDOM_VIT_B_32, help="teacher for accuracy and agreement: save_pretrained folder, hub name, or "
                                         "vit-b-32-random (default; random weights: its accuracy is meaningless)")
    p.add_argument("--reference", default=RANDOM_VIT_B_32,
                   help="architecture that parameters, MACs and latency are compared with (weights do not matter: "
                        "default vit-b-32-random, no download); '' for none")
    p.add_argument("--export", default=None, help="export folder (manifest.json) of the student")
    p.add_argument("--skip", default="", help=f"parts to skip, comma-separated: {', '.join(PARTS)}")
    p.add_argument("--runtimes", default=",".join(latency.RUNTIMES), help="latency runtimes (default: all)")
    add_thread_counts(p, "1,all")
    p.add_argument("--repeats", type=int, default=20, help="latency timed repeats (default: 20)")
    p.add_argument("--warmup", type=int, default=3, help="latency warm-up runs (default: 3)")
    p.add_argument("--zeroshot", default=None, help="accuracy: class-folder set (default: CIFAR-10 test)")
    p.add_argument("--retrieval", default=None, help="accuracy: image,caption CSV (default: Flickr8k subset)")
    p.add_argument("--templates", default=None, help="accuracy: single or ensemble (default: ensemble)")
    p.add_argument("--limit", type=int, default=None, help="accuracy: at most N zero-shot images")
    p.add_argument("--retrieval-limit", type=int, default=None, help="accuracy: the first N retrieval images")
    p.add_argument("--device-json", default=None, help="benchmarks.device JSON to include")
    p.add_argument("--out", default=".cache/bench/report", help="report folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("benchmarks.report"):
        report = run(args)
        md = to_markdown(report)
        out = Path(report["out"])
        atomic_write(out / "report.md", md)
        print("\n== summary ==")
        for line in summary_lines(report) + report["notes"]:
            print(f"- {line}")
        print(f"wrote {out / 'report.md'}" + "".join(f", {p}" for p in report["plots"]))
    return report


if __name__ == "__main__":
    main()

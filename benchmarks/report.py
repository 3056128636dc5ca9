"""One report: runs the desktop benchmarks (params, latency, accuracy) in one go, reads on-phone results
(``benchmarks.device`` JSON) if given, and writes ``report.md`` with tables and matplotlib plots
(``latency.png``: latency bars per tower/runtime; ``size_accuracy.png``: model size vs zero-shot top-1),
stating machine, threads, repeats and the teacher used. Each part's own JSON + Markdown sit beside it.

Example (what ``make demo`` runs at the end, on its artifacts):
  python -m benchmarks.report --student .cache/demo/student.pt --teacher .cache/demo/teacher \\
      --export .cache/demo/export --repeats 5 --threads 1 --limit 200 --out .cache/demo/report
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mobileclip import DEFAULT_MODEL, MobileClipError
from mobileclip.errors import cli_errors
from mobileclip.validate import check_writable_dir

from . import accuracy, latency, params
from .common import RANDOM_VIT_B_32, atomic_write, machine_line, write_outputs

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
    common = ["--teacher", args.teacher]
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
            argv = [args.student, *common, "--no-progress"]
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
    plt = _plt()
    threads = res["machine"]["threads"]
    fig, axes = plt.subplots(1, len(threads), figsize=(7 * len(threads), 4.5), squeeze=False)
    for ax, t in zip(axes[0], threads):
        rows = [r for r in res["results"] if r["threads"] == t]
        labels = [f"{r['role']} {r['tower']}\n{r['runtime']} {r['precision']}" for r in rows]
        colors = ["#c44e52" if r["role"] == "teacher" else "#4c72b0" for r in rows]
        y = range(len(rows))
        ax.barh(y, [r["median_ms"] for r in rows], xerr=[[r["median_ms"] - r["q1_ms"] for r in rows],
                                                          [r["q3_ms"] - r["median_ms"] for r in rows]],
                color=colors, capsize=3)
        ax.set_yticks(list(y), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("median latency, batch 1 (ms, log scale; whiskers: IQR)")
        ax.set_title(f"{t} thread{'s' * (t > 1)}")
        for i, r in enumerate(rows):
            sp = r.get("speedup_vs_teacher_eager")
            ax.text(max(r["q3_ms"], r["median_ms"]) * 1.05, i, f"{r['median_ms']:.2f} ms" + (f" ({sp:.1f}x)" if sp else ""), va="center",
                    fontsize=7)
    m = res["machine"]
    fig.suptitle(f"Latency vs teacher ({res['teacher']})\n{m['cpu']}, {m['cores']} cores, repeats {m['repeats']}, "
                 f"torch {m['torch']}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_size_accuracy(results: dict, path: Path) -> Path:
    plt = _plt()
    acc = results["accuracy"]
    sizes = _sizes(results)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for r in acc["results"]:
        size = sizes.get((r["kind"], r["runtime"], r["precision"]))
        if size is None:
            continue
        ax.scatter(size / 2**20, 100 * r["zeroshot"]["top1"], s=60,
                   color="#c44e52" if r["kind"] == "teacher" else "#4c72b0")
        ax.annotate(f"{r['kind']} {r['runtime']} {r['precision']}", (size / 2**20, 100 * r["zeroshot"]["top1"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.margins(x=0.25, y=0.15)
    ax.set_xlabel("model size, both towers (MiB; fp32 = params x 4, exported = file sizes)")
    ax.set_ylabel("zero-shot top-1 (%)")
    n = acc["results"][0]["zeroshot"]["n"]
    ax.set_title(f"Size vs accuracy (zero-shot on {'/'.join(Path(acc['zeroshot_dataset']).parts[-2:])}, n={n})\nteacher: {acc['teacher']}",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def _sizes(results: dict) -> dict:
    """(kind, runtime, precision) -> bytes for both towers."""
    out = {}
    for m in (results.get("params") or {}).get("models", []):
        out[(m["role"], "PyTorch eager", "fp32")] = m["fp32_weight_bytes"]
    ex = (results.get("params") or {}).get("export")
    if ex:
        for m in ex["models"]:
            runtime = {"tflite": "litert"}.get(m["backend"], m["backend"])
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
    if "params" in r:
        ms = r["params"]["models"]
        t = next((m for m in ms if m["role"] == "teacher"), None)
        for m in (m for m in ms if m["role"] == "student"):
            s = f"{m['label']}: {m['params']['total'] / 1e6:.2f}M parameters"
            if t:
                s += (f" ({100 * m['vs_teacher']['params_fraction']:.1f}% of the teacher's {t['params']['total'] / 1e6:.2f}M), "
                      f"teacher/student MACs: image {m['vs_teacher']['image_macs_ratio']:.1f}x, "
                      f"text {m['vs_teacher']['text_macs_ratio']:.1f}x")
            out.append(s)
    if "latency" in r:
        for g in r["latency"]["goals"]:
            out.append(f"latency, {g['threads']} thread(s), {g['goal']}: {g['speedup']:.1f}x ({g['runtime']}; "
                       f"goal >= {g['target']:g}x: {'met' if g['met'] else 'NOT met'})")
        out.append(machine_line(r["latency"]["machine"]))
    if "accuracy" in r:
        a = r["accuracy"]
        for row in a["results"]:
            s = (f"accuracy {row['kind']} {row['runtime']} {row['precision']}: zero-shot top-1 "
                 f"{100 * row['zeroshot']['top1']:.1f}% (n={row['zeroshot']['n']})")
            if row.get("retrieval"):
                s += f", text->image R@1 {100 * row['retrieval']['text_to_image']['R@1']:.1f}%"
            if row.get("agreement"):
                s += f", agreement with teacher {100 * row['agreement']['top1_agreement']:.1f}%"
            out.append(s)
        out.append(f"teacher: {a['teacher']}")
    if "device" in r:
        d = r["device"]
        for row in d.get("results", []):
            out.append(f"phone {(d.get('device') or {}).get('model', '?')}: {row['file']} {row['threads']} thread(s) "
                       f"{row['inference_avg_ms']:.2f} ms")
    return out


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default=DEFAULT_MODEL,
                   help="student checkpoint (.pt; needed for accuracy) or config name (default: %(default)s)")
    p.add_argument("--teacher", default=RANDOM_VIT_B_32,
                   help="teacher: save_pretrained folder, hub name, or vit-b-32-random (default)")
    p.add_argument("--export", default=None, help="export folder (manifest.json) of the student")
    p.add_argument("--skip", default="", help=f"parts to skip, comma-separated: {', '.join(PARTS)}")
    p.add_argument("--runtimes", default="eager,compile,executorch,litert,coreml", help="latency runtimes")
    p.add_argument("--threads", default="1,all", help="latency thread counts (default: %(default)s)")
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

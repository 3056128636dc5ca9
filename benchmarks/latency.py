"""Latency of the image and text towers, students vs the teacher, in every runtime available here.

Runtimes: PyTorch eager, ``torch.compile`` (inductor; recorded as skipped with the reason when it fails),
ExecuTorch Python runtime and LiteRT interpreter (the models listed in an export folder's
``manifest.json``: the student's ``--export DIR``, the teacher's ``--teacher-export DIR`` written by
``python -m export.teacher``), Core ML (macOS only; skipped with the reason elsewhere).
Precision: fp32 for the PyTorch models, fp32 and int8 for exported ones (as listed in the manifest).

Method: batch 1; each configuration is warmed up, then the timed runs are interleaved round-robin
(repeat r runs every configuration once, starting at a rotating offset) so background noise hits all
configurations alike; threads are fixed per pass (``--threads 1,all``: torch.set_num_threads, the
ExecuTorch threadpool size, the LiteRT interpreter's num_threads). Reported: median, IQR, min, max.
Speed-ups are computed against the teacher measured in the same run: the teacher image/text tower in
PyTorch eager (the reference) and the teacher in the same runtime where it exists (same precision, else the
teacher's fp32 file; the precision compared is recorded). Beside each same-runtime ratio stands the physical
reference, the teacher/student MAC ratio of that tower (MACs counted by torch's FLOP counter; exported files
carry theirs in the manifest).

Example:
  python -m benchmarks.latency --students mnv3l-lsra-512 --teacher vit-b-32-random --repeats 30 --out .cache/bench
  python -m export.teacher vit-b-32-random --out .cache/teacher-export --backends executorch,tflite
  python -m benchmarks.latency --export exports --teacher-export .cache/teacher-export --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from tabulate import tabulate

from export.backends import ALIASES, RUNTIMES as EXPORTED_RUNTIMES, get_backend, runtime_name
from mobileclip import DEFAULT_MODEL, MobileClipError, get_tokenizer
from mobileclip.models.options import TEACHER_SPECS, add_teacher
from mobileclip.utils.cli import add_output_args, add_thread_counts
from mobileclip.evaluation.encoders import load_encoder
from mobileclip.utils.errors import BackendMissingError
from mobileclip.models.model import count_macs
from mobileclip.utils.shims import executorch_private

from .common import (RANDOM_VIT_B_32, load_teacher_spec, machine_info, machine_line,
                     run_and_write, split_list)
from .resolution import comparable, resolution_notes, same_resolution, tower_label

PROG = "python -m benchmarks.latency"
RUNTIMES = ("eager", "compile", *EXPORTED_RUNTIMES.values())
# speed-ups (at least) and time ratios (at most); the same-runtime ones compare fp32 with the teacher's fp32
GOALS = {"image_best_vs_teacher_eager": 25.0, "image_same_runtime": 12.0, "text_same_runtime": 10.0,
         "executorch_text_vs_litert": 1.3, "int8_vs_fp32": 1.10}


@dataclass
class Case:
    model: str          # label
    role: str           # student | teacher
    tower: str          # image | text
    runtime: str
    precision: str
    make: Callable[[int], Callable[[], object]]  # threads -> zero-arg callable running one inference
    macs: int | None = None  # multiply-accumulates of one inference (None: not known)
    times_ms: dict = field(default_factory=dict)  # threads -> list[ms]
    image_size: int | None = None  # input resolution (px) of an image tower; None for text

    @property
    def key(self):
        return (self.model, self.tower, self.runtime, self.precision)


def sample_inputs(image_size: int):
    image = torch.randn(1, 3, image_size, image_size, generator=torch.Generator().manual_seed(0))
    ids = get_tokenizer()(["a photo of a dog."])
    return image, ids


# ----------------------------------------------------------------------------------------------- PyTorch
def torch_cases(model, label: str, role: str, runtimes, skipped: list) -> list[Case]:
    image, ids = sample_inputs(model.preprocess_cfg["image_size"])
    # a teacher's text tower on its own token ids (its own tokenizer is not the tower's cost)
    text = model.text_tower_call(ids) if hasattr(model, "text_tower_call") else (model.encode_text, ids)
    towers = {"image": (model.encode_image, image), "text": text}
    cases = []
    for tower, (fn, x) in towers.items():
        def eager(threads, fn=fn, x=x):
            return lambda: fn(x)
        macs = count_macs(fn, x)
        px = x.shape[-1] if tower == "image" else None
        if "eager" in runtimes:
            cases.append(Case(label, role, tower, "eager", "fp32", eager, macs, image_size=px))
        if "compile" in runtimes:
            try:
                compiled = torch.compile(fn)
                with torch.no_grad():
                    compiled(x)  # compiles now, so a failure is reported here and not mid-measurement
            except Exception as e:  # inductor needs a C++ toolchain; any failure -> skipped with the reason
                skipped.append({"model": label, "tower": tower, "runtime": "compile", "precision": "fp32",
                                "reason": f"torch.compile failed: {type(e).__name__}: {_first_line(e)}"})
                continue
            cases.append(Case(label, role, tower, "compile", "fp32",
                              lambda threads, c=compiled, x=x: (lambda: c(x)), macs, image_size=px))
    return cases


# --------------------------------------------------------------------------------------- exported models
def _input_for(entry: dict, image_size: int):
    image, ids = sample_inputs(image_size)
    if entry["tower"] == "image":
        shape = entry.get("inputs", [{}])[0].get("shape") or list(image.shape)
        return torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    return ids.to(torch.int32 if entry.get("inputs", [{}])[0].get("dtype", "int32") == "int32" else torch.int64)


def exported_case(path: Path, entry: dict, x: torch.Tensor):
    """``make(threads)`` -> a zero-argument run of the exported file, loaded by its backend (``Backend.load``)."""
    backend = get_backend(entry["backend"])

    def make(threads=None):
        if backend.name == "executorch" and threads is not None:
            # XNNPACK's threadpool is one per process: resized only on a change, after every earlier program was
            # released (measure() drops them first), and the program is loaded afresh after the resize
            executorch_private.set_threadpool_size(threads)
        run = backend.load(path, entry["tower"], num_threads=threads)
        return lambda: run(x)
    return make


def exported_cases(export_dir: str, runtimes, skipped: list, role: str = "student") -> list[Case]:
    """The files listed in ``export_dir/manifest.json``; ``role`` must match the manifest's (a teacher export,
    from ``python -m export.teacher``, says ``"role": "teacher"``; a student's says nothing or ``student``)."""
    from export.manifest import manifest_path, read_export

    manifest = read_export(export_dir)  # export.runtime's reader: refuses what it refuses (version, schema, files)
    if manifest.get("role", "student") != role:
        raise MobileClipError(f"{manifest_path(export_dir)} is a {manifest.get('role', 'student')} export, not a "
                              f"{role}'s: pass it with --{'teacher-export' if role == 'student' else 'export'}")
    folder = manifest_path(export_dir).parent
    src = manifest.get("source_checkpoint", {})
    label = f"{src.get('model_name', role)} ({src.get('file', 'exported')})"
    image_size = manifest.get("preprocess", {}).get("image_size", 224)
    cases = []
    for entry in manifest.get("models", []):
        runtime = runtime_name(entry["backend"]) if entry["backend"] in ALIASES else entry["backend"]
        what = {"model": label, "tower": entry["tower"], "runtime": runtime, "precision": entry["quantization"]}
        if entry["backend"] not in ALIASES:
            skipped.append({**what, "reason": f"unknown backend {entry['backend']!r}"})
            continue
        if runtime not in runtimes:
            continue
        path = folder / entry["file"]  # there, unchanged (read_export)
        try:
            make = exported_case(path, entry, _input_for(entry, image_size))
            make()()  # load + one run now (current pool size): a broken file is reported here, not mid-measurement
        except BackendMissingError as e:  # e.g. Core ML off macOS
            skipped.append({**what, "reason": str(e)})
            continue
        except Exception as e:
            skipped.append({**what, "reason": f"could not run: {type(e).__name__}: {_first_line(e)}"})
            continue
        cases.append(Case(label, role, entry["tower"], runtime, entry["quantization"], make, entry.get("macs"),
                          image_size=int(image_size) if entry["tower"] == "image" else None))
    return cases


# ------------------------------------------------------------------------------------------ measuring
def measure(cases: list[Case], threads_list: list[int], warmup: int, repeats: int, progress: bool = True):
    from tqdm import tqdm

    import gc

    runs = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        runs = None
        gc.collect()  # release the previous pass's runtimes before any is rebuilt for a new thread count
        runs = [c.make(threads) for c in cases]
        with torch.no_grad():
            for run in runs:
                for _ in range(warmup):
                    run()
            for c in cases:
                c.times_ms[threads] = []
            bar = tqdm(range(repeats), desc=f"latency ({threads} thread{'s' * (threads > 1)})",
                       disable=not progress, file=sys.stderr)
            for r in bar:
                n = len(cases)
                for j in range(n):  # round-robin with a rotating start: noise hits every configuration alike
                    i = (r + j) % n
                    t0 = time.perf_counter_ns()
                    runs[i]()
                    cases[i].times_ms[threads].append((time.perf_counter_ns() - t0) / 1e6)


def stats(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=4, method="inclusive") if len(ms) > 1 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "q1_ms": q[0], "q3_ms": q[2], "iqr_ms": q[2] - q[0],
            "min_ms": min(ms), "max_ms": max(ms), "mean_ms": statistics.fmean(ms), "n": len(ms)}


def summarise(cases: list[Case], threads_list: list[int]) -> tuple[list[dict], list[dict]]:
    rows = []
    for c in cases:
        for t in threads_list:
            rows.append({"model": c.model, "role": c.role, "tower": c.tower, "image_size": c.image_size,
                         "runtime": c.runtime, "precision": c.precision, "threads": t, "macs": c.macs,
                         **stats(c.times_ms[t]),
                         "times_ms": c.times_ms[t]})
    teacher = {(r["tower"], r["runtime"], r["precision"], r["threads"]): r for r in rows if r["role"] == "teacher"}
    teacher_macs = {r["tower"]: r["macs"] for r in teacher.values() if r["macs"]}  # one teacher per run
    teacher_sizes = {r["tower"]: r.get("image_size") for r in teacher.values()}
    for r in rows:
        if r["role"] != "student":
            continue
        ref = same_resolution(r, teacher.get((r["tower"], "eager", "fp32", r["threads"])))
        same = same_resolution(r, teacher.get((r["tower"], r["runtime"], r["precision"], r["threads"])) or
                                teacher.get((r["tower"], r["runtime"], "fp32", r["threads"])))
        r["speedup_vs_teacher_eager"] = ref["median_ms"] / r["median_ms"] if ref else None
        r["speedup_vs_teacher_same_runtime"] = same["median_ms"] / r["median_ms"] if same else None
        r["same_runtime_teacher_precision"] = same["precision"] if same else None
        r["mac_ratio_vs_teacher"] = teacher_macs[r["tower"]] / r["macs"] \
            if r["macs"] and teacher_macs.get(r["tower"]) and comparable(r, teacher_sizes.get(r["tower"])) else None
    return rows, [g for model in sorted({r["model"] for r in rows if r["role"] == "student"})
                  for t in threads_list
                  for g in goals_for(model, t, [r for r in rows if r["model"] == model and r["threads"] == t])]


def goals_for(model: str, threads: int, mine: list[dict]) -> list[dict]:
    """The goals of one student at one thread count: speed-up over the reference in eager (best runtime);
    fp32 speed-up over the teacher in the same mobile runtime (needs ``--teacher-export``; eager's ratio is in
    the table, but eager is not what runs on a phone);
    ExecuTorch text time / LiteRT text time (same precision); int8 time / fp32 time (same runtime and tower)."""
    goals, at = [], {(r["tower"], r["runtime"], r["precision"]): r for r in mine}
    img = [r for r in mine if r["tower"] == "image" and r["speedup_vs_teacher_eager"]]
    if img:
        best = max(img, key=lambda r: r["speedup_vs_teacher_eager"])
        goals.append(_goal(model, threads, "image, best runtime vs teacher image in PyTorch eager",
                           best["speedup_vs_teacher_eager"], GOALS["image_best_vs_teacher_eager"],
                           f"{best['runtime']} {best['precision']}"))
    same = [r for r in mine if r["precision"] == "fp32" and r["same_runtime_teacher_precision"] == "fp32"
            and r["speedup_vs_teacher_same_runtime"] and r["runtime"] in EXPORTED_RUNTIMES.values()]
    for r in sorted(same, key=lambda r: (r["tower"], r["runtime"])):
        goals.append(_goal(model, threads, f"{r['tower']}, same runtime as the teacher",
                           r["speedup_vs_teacher_same_runtime"], GOALS[f"{r['tower']}_same_runtime"],
                           f"{r['runtime']} fp32"))
    for precision in ("fp32", "int8"):
        et, lite = at.get(("text", "executorch", precision)), at.get(("text", "litert", precision))
        if et and lite:
            goals.append(_goal(model, threads, "text, ExecuTorch time / LiteRT time", et["median_ms"] / lite["median_ms"],
                               GOALS["executorch_text_vs_litert"], f"executorch {precision}", at_most=True))
    for (tower, runtime, precision), r in sorted(at.items()):
        fp32 = at.get((tower, runtime, "fp32"))
        if precision == "int8" and fp32:
            goals.append(_goal(model, threads, f"{tower}, int8 time / fp32 time", r["median_ms"] / fp32["median_ms"],
                               GOALS["int8_vs_fp32"], f"{runtime} int8", at_most=True))
    return goals


def _goal(model, threads, what, value, target, runtime, at_most=False):
    """One goal row; ``at_most``: a time ratio that must not exceed ``target`` (else a speed-up of at least it)."""
    return {"model": model, "threads": threads, "goal": what, "value": value, "target": target, "at_most": at_most,
            "met": value <= target if at_most else value >= target, "runtime": runtime,
            "measured": f"{value:.2f}x" if at_most else f"{value:.1f}x",
            "target_text": f"{'<=' if at_most else '>='} {target:g}x"}


def run(args) -> dict:
    runtimes = split_list(args.runtimes)
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise MobileClipError(f"unknown runtime(s) {', '.join(bad)}; choose from {', '.join(RUNTIMES)}")
    if args.repeats < 1 or args.warmup < 0:
        raise MobileClipError("--repeats must be >= 1 and --warmup >= 0")
    threads_list = parse_threads(args.threads)
    skipped, cases = [], []
    if args.teacher:
        teacher = load_teacher_spec(args.teacher)
        cases += torch_cases(teacher, teacher.label, "teacher", runtimes, skipped)
    for spec in split_list(args.students):
        model = load_encoder(spec, kind="student")
        cases += torch_cases(model, model.label, "student", runtimes, skipped)
    if args.teacher_export:
        cases += exported_cases(args.teacher_export, runtimes, skipped, role="teacher")
    if args.export:
        cases += exported_cases(args.export, runtimes, skipped)
    elif any(r in runtimes for r in EXPORTED_RUNTIMES.values()) and not args.quiet_skips:
        for r in EXPORTED_RUNTIMES.values():
            if r in runtimes:
                skipped.append({"model": "-", "tower": "-", "runtime": r, "precision": "-",
                                "reason": "no --export DIR given (exported models are measured from a manifest)"})
    if "coreml" in runtimes and sys.platform != "darwin" and not any(s["runtime"] == "coreml" for s in skipped):
        skipped.append({"model": "-", "tower": "-", "runtime": "coreml", "precision": "-",
                        "reason": "Core ML runs only on macOS"})
    if not cases:
        raise MobileClipError("nothing to measure: no model/runtime combination could run "
                              + "; ".join(s["reason"] for s in skipped[:3]))
    measure(cases, threads_list, args.warmup, args.repeats, progress=not args.no_progress)
    rows, goals = summarise(cases, threads_list)
    teacher_label = next((c.model for c in cases if c.role == "teacher"), None)
    return {"benchmark": "latency", "not_compared": resolution_notes(rows),
            "machine": machine_info(threads=threads_list, repeats=args.repeats, warmup=args.warmup,
                                    batch=1, interleaved="round-robin, rotating start"),
            "teacher": teacher_label, "reference": "teacher tower in PyTorch eager fp32, same thread count",
            "results": rows, "skipped": skipped, "goals": goals}


def parse_threads(value: str) -> list[int]:
    out = []
    for t in split_list(value):
        n = os.cpu_count() if t == "all" else int(t) if t.isdigit() else None
        if not n:
            raise MobileClipError(f"bad --threads entry {t!r}: a positive number or 'all'")
        if n not in out:
            out.append(n)
    return out


def to_markdown(result: dict) -> str:
    m = result["machine"]
    lines = ["# Latency (batch 1)", ""]
    for t in m["threads"]:
        rows = []
        for r in [r for r in result["results"] if r["threads"] == t]:
            sp = lambda v: f"{v:.1f}x" if v else "—"  # noqa: E731
            same = sp(r.get("speedup_vs_teacher_same_runtime"))
            if r.get("same_runtime_teacher_precision") not in (None, r["precision"]):
                same += f" (teacher {r['same_runtime_teacher_precision']})"
            rows.append([f"{r['role']}: {r['model']}", tower_label(r), r["runtime"], r["precision"], r["median_ms"],
                         r["iqr_ms"], r["min_ms"], sp(r.get("speedup_vs_teacher_eager")) if r["role"] == "student"
                         else "ref" if r["runtime"] == "eager" else "—",
                         same if r["role"] == "student" else "—",
                         sp(r.get("mac_ratio_vs_teacher")) if r["role"] == "student" else "—"])
        lines += [f"## {t} thread{'s' * (t > 1)}", "",
                  tabulate(rows, headers=["model", "tower", "runtime", "precision", "median (ms)", "IQR (ms)",
                                          "min (ms)", "speed-up vs teacher eager", "vs teacher same runtime",
                                          "teacher/student MACs"],
                           floatfmt=".2f", tablefmt="github"), ""]
    if result["goals"]:
        rows = [[g["model"], g["threads"], g["goal"], g["runtime"], g["measured"], g["target_text"],
                 "met" if g["met"] else "NOT met"] for g in result["goals"]]
        lines += ["## Goals", "", tabulate(rows, headers=["student", "threads", "goal", "student runtime",
                                                          "measured", "target", ""], tablefmt="github"), ""]
    if result.get("not_compared"):
        lines += ["## Not compared", ""] + [f"- {n}" for n in result["not_compared"]] + [""]
    if result["skipped"]:
        lines += ["## Skipped", ""] + [f"- {s['runtime']} {s['precision']} {s['model']} {s['tower']}: {s['reason']}"
                                       for s in result["skipped"]] + [""]
    lines += [f"Teacher: {result['teacher']}. Reference: {result['reference']}.",
              f"Method: {m['warmup']} warm-up runs per configuration, {m['repeats']} timed repeats interleaved "
              f"({m['interleaved']}).", machine_line(m)]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", default=DEFAULT_MODEL,
                   help="comma-separated student configs and/or .pt checkpoints (default: %(default)s)")
    add_teacher(p, RANDOM_VIT_B_32, help=f"teacher: {TEACHER_SPECS}; default {RANDOM_VIT_B_32}; '' for none")
    p.add_argument("--export", default=None, help="export folder with manifest.json (ExecuTorch/LiteRT/Core ML models)")
    p.add_argument("--teacher-export", default=None, metavar="DIR",
                   help="the teacher's export folder (python -m export.teacher): same-runtime ratios for every runtime")
    p.add_argument("--runtimes", default=",".join(RUNTIMES),
                   help=f"comma-separated subset of {','.join(RUNTIMES)} (default: all)")
    add_thread_counts(p, "1,all")
    p.add_argument("--warmup", type=int, default=3, help="warm-up runs per configuration and thread count (default: 3)")
    p.add_argument("--repeats", type=int, default=20, help="timed runs per configuration and thread count (default: 20)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--quiet-skips", action="store_true", help="don't list exported runtimes as skipped when no --export")
    add_output_args(p, "latency")
    return p.parse_args(argv)


def main(argv=None):
    return run_and_write("benchmarks.latency", parse_args(argv), run, to_markdown, "latency")


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else "no message"


if __name__ == "__main__":
    main()

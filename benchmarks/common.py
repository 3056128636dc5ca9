"""Shared bits of the benchmark CLIs: machine description, model loading, atomic JSON/Markdown output."""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from mobileclip import (MobileClipError, RANDOM_VIT_B_32, create_model, list_models, load_checkpoint,
                        load_teacher)
from mobileclip.fileio import atomic_write, dumps_json  # noqa: F401  (atomic_write: used by the benchmark commands)
from mobileclip.validate import check_writable_file


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info(**extra) -> dict:
    """What every output states beside its numbers (extra: threads, repeats, warmup, ...)."""
    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads_default": torch.get_num_threads(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    info.update(extra)
    return info


def machine_line(info: dict) -> str:
    keys = [k for k in ("threads", "repeats", "warmup", "limit") if k in info]
    more = "".join(f", {k} {info[k]}" for k in keys)
    return (f"Machine: {info['cpu']}, {info['cores']} cores, {info['platform']}, torch {info['torch']}{more}; "
            f"measured {info['date_utc']}.")


def load_student(spec: str):
    """A student from a registry name (random init, labelled so) or a ``.pt`` checkpoint.

    Returns ``(model, label, trained)``: ``trained`` is False for a freshly initialised registry config.
    """
    if spec in list_models():
        torch.manual_seed(0)
        return create_model(spec).eval(), f"{spec} (untrained init)", False
    if os.path.exists(spec) or spec.endswith(".pt"):
        model = load_checkpoint(spec).eval()
        return model, f"{model.config.get('name', 'student')} ({Path(spec).name})", True
    raise MobileClipError(f"student {spec!r} is neither a config ({', '.join(list_models())}) nor a checkpoint file")


def load_teacher_spec(spec: str):
    """``load_teacher`` with its warnings kept quiet (the label says RANDOM WEIGHTS where it applies)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_teacher(spec)


def split_list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def write_outputs(result: dict, markdown: str, json_path, md_path) -> list[Path]:
    """Write the JSON result and its Markdown rendering (each atomically); returns the written paths."""
    written = []
    if json_path:
        written.append(atomic_write(json_path, dumps_json(result, what=str(json_path), indent=2,  # strict JSON
                                                          default=_jsonable) + "\n"))
    if md_path:
        written.append(atomic_write(md_path, markdown if markdown.endswith("\n") else markdown + "\n"))
    return written


def add_output_args(p, stem: str, extra: str = "") -> None:
    """The ``--out`` / ``--json`` / ``--md`` options every benchmark command shares."""
    p.add_argument("--out", default=None, help=f"folder for {stem}.json + {stem}.md{extra}")
    p.add_argument("--json", default=None, help="JSON output path (overrides --out)")
    p.add_argument("--md", default=None, help="Markdown output path (overrides --out)")


def default_paths(out_dir: str | None, stem: str, json_path=None, md_path=None):
    """``--out DIR`` gives DIR/stem.json + DIR/stem.md unless explicit paths are given."""
    if out_dir:
        json_path = json_path or str(Path(out_dir) / f"{stem}.json")
        md_path = md_path or str(Path(out_dir) / f"{stem}.md")
    check_writable_file(json_path, "--json"), check_writable_file(md_path, "--md")  # reliability hook
    return json_path, md_path


def _jsonable(o):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = ["RANDOM_VIT_B_32", "atomic_write", "cpu_model", "default_paths", "load_student", "load_teacher_spec",
           "machine_info", "machine_line", "split_list", "write_outputs"]

"""Shared bits of the benchmark CLIs: machine description, teacher loading, atomic JSON/Markdown output."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import torch

from mobileclip import RANDOM_VIT_B_32, load_teacher
from mobileclip.utils.fileio import (atomic_write, dumps_json)  # noqa: F401  (atomic_write: used by the benchmark commands)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# CPU features that decide int8 vs fp32 speed (x86: /proc/cpuinfo "flags"; ARM: "Features", where asimddp is
# the dot-product extension and i8mm the int8 matrix multiply)
ISA_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16",
                "asimd", "asimddp", "i8mm", "sve", "sve2", "bf16")


def cpu_isa(cpuinfo: str | None = None) -> list[str]:
    """The :data:`ISA_FEATURES` this CPU reports (Linux/Android ``/proc/cpuinfo``); [] where unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return [f for f in ISA_FEATURES if f in flags]


def path_bytes(path) -> int | None:
    """Size of a file, or the sum of the files under a folder (a Core ML ``.mlpackage``); None if absent."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return None


def machine_info(**extra) -> dict:
    """What every output states beside its numbers (extra: threads, repeats, warmup, ...)."""
    info = {
        "cpu": cpu_model(),
        "isa": cpu_isa(),
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
    isa = f" (ISA: {' '.join(info['isa']) or 'unknown'})" if "isa" in info else ""
    return (f"Machine: {info['cpu']}{isa}, {info['cores']} cores, {info['platform']}, torch {info['torch']}{more}; "
            f"measured {info['date_utc']}.")


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


def run_and_write(prog: str, args, run, to_markdown, stem: str) -> dict:
    """The benchmark CLIs' main: output paths checked before the work, ``run(args)``, its Markdown printed,
    JSON + Markdown written (``--out``/``--json``/``--md``); errors are one line (``cli_errors``)."""
    from mobileclip.utils.cli import default_paths
    from mobileclip.utils.errors import cli_errors

    with cli_errors(prog):
        paths = default_paths(args.out, stem, args.json, args.md)
        result = run(args)
        md = to_markdown(result)
        print(md)
        for path in write_outputs(result, md, *paths):
            print(f"wrote {path}")
    return result


def _jsonable(o):
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = ["RANDOM_VIT_B_32", "atomic_write", "cpu_isa", "cpu_model", "load_teacher_spec",
           "machine_info", "machine_line", "path_bytes", "split_list", "write_outputs"]

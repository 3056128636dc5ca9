"""Command-line options every CLI shares, defined once: ``--threads`` and the ``--out``/``--json``/``--md``
outputs (the model options ``--teacher`` and ``--model`` are in :mod:`mobileclip.models.options`)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .validate import check_writable_file

__all__ = ["add_output_args", "add_thread_counts", "add_threads", "clamp_threads", "cpu_cores", "default_paths",
           "set_threads", "thread_count"]

def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. a container's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def clamp_threads(n: int, flag: str = "--threads") -> int:
    """``n`` threads, at most one per core: more only contend (999 on 2 cores spawned 1,841 threads and made no
    step in 5 minutes), so a larger count is lowered to the core count with a warning on stderr."""
    cores = cpu_cores()
    if n > cores:
        print(f"warning: {flag} {n} > the {cores} CPU core(s) this process may use; using {cores}",
              file=sys.stderr, flush=True)
        return cores
    return n


def thread_count(text: str) -> int:
    """argparse type of ``--threads``: a whole number >= 1 (leave the option out for torch's own choice)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of threads, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n} (leave --threads out for torch's choice)")
    return clamp_threads(n)


def add_threads(p, default: int | None = None, what: str = "torch CPU threads", default_help: str | None = None):
    """``--threads N`` (1..the cores; more is lowered to the core count with a warning, 0 or less refused);
    ``default_help`` says what the default means (None/0: torch's own choice)."""
    if default_help is None:
        default_help = "default: torch's choice" if not default else f"default {default}"
    return p.add_argument("--threads", type=thread_count, default=default,
                          help=f"{what}, at most the CPU cores ({default_help})")


def add_thread_counts(p, default: str):
    """``--threads 1,4,all``: the thread counts a benchmark measures, comma-separated ('all' = every core)."""
    return p.add_argument("--threads", default=default,
                          help="thread counts, comma-separated; 'all' = every core (default: %(default)s)")


def add_output_args(p: argparse.ArgumentParser, stem: str, extra: str = "") -> None:
    """The ``--out`` / ``--json`` / ``--md`` options of a command that writes a JSON result and its Markdown."""
    p.add_argument("--out", default=None, help=f"folder for {stem}.json + {stem}.md{extra}")
    p.add_argument("--json", default=None, help="JSON output path (overrides --out)")
    p.add_argument("--md", default=None, help="Markdown output path (overrides --out)")


def default_paths(out_dir: str | None, stem: str, json_path=None, md_path=None):
    """``--out DIR`` gives DIR/stem.json + DIR/stem.md unless explicit paths are given."""
    if out_dir:
        json_path = json_path or str(Path(out_dir) / f"{stem}.json")
        md_path = md_path or str(Path(out_dir) / f"{stem}.md")
    check_writable_file(json_path, "--json"), check_writable_file(md_path, "--md")  # before the work, not after
    return json_path, md_path


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (None or 0: leave torch's choice; above the core count: the core count)."""
    if threads and threads > 0:
        import torch

        torch.set_num_threads(clamp_threads(threads))

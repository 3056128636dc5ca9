"""The command line shared by ``python -m export.executorch|coreml|tflite``."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mobileclip.utils.cli import add_threads
from mobileclip.utils.errors import cli_errors
from mobileclip.utils.fileio import remove_stale_temps
from mobileclip.utils.runlock import run_lock

from .backends import Backend
from .errors import export_faults
from .manifest import QUANTIZATIONS, TOWERS
from .pipeline import export_checkpoint, parse_towers
from .verify import Thresholds


def build_parser(backend: Backend, prog: str, doc: str) -> argparse.ArgumentParser:
    recipes = ", ".join(r.value for r in backend.Recipe)
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="student checkpoint (.pt written by mobileclip.save_checkpoint)")
    p.add_argument("--out", default="exports", help="output folder; files go to OUT/<backend>/, the manifest to "
                   "OUT/manifest.json (merged with what other backends wrote there). Default: exports")
    p.add_argument("--quantize", choices=list(QUANTIZATIONS), default="none",
                   help="none: fp32 weights; int8: the backend's int8 recipe (default: none)")
    p.add_argument("--recipe", default=None, help=f"backend recipe, for every tower or as image=NAME,text=NAME; "
                   f"one of: {recipes} (default: the backend's choice for the tower and --quantize)")
    p.add_argument("--calibration", default=None, metavar="DATA",
                   help="folder of images (class sub-folders = labelled zero-shot set) and/or captions.csv, or a "
                        "captions CSV; used for static int8 calibration and for verification. Default: the "
                        "scikit-image sample photos and built-in captions")
    p.add_argument("--towers", default="image,text", help="comma-separated towers to export (default: image,text)")
    p.add_argument("--verify-per-class", type=int, default=4, metavar="N",
                   help="labelled verification images per class (default: 4; at least 8 with a --calibration folder)")
    p.add_argument("--calib-images", type=int, default=32, metavar="N",
                   help="calibration images for static int8 (default: 32)")
    p.add_argument("--fp32-cosine", type=float, default=Thresholds.fp32_cosine,
                   help="minimum cosine to PyTorch fp32 for fp32 exports (default: %(default)s)")
    p.add_argument("--fp16-cosine", type=float, default=Thresholds.fp16_cosine,
                   help="minimum cosine for unquantised exports stored in fp16 (Core ML fp16-compute) "
                        "(default: %(default)s)")
    p.add_argument("--int8-cosine", type=float, default=Thresholds.int8_cosine,
                   help="minimum cosine to PyTorch fp32 for int8 exports (default: %(default)s)")
    p.add_argument("--int8-agreement", type=float, default=Thresholds.int8_agreement,
                   help="minimum zero-shot top-1 agreement with PyTorch fp32 for int8 exports, counted on the inputs "
                        "whose fp32 top-1/top-2 margin exceeds the measured int8 logit noise (raw agreement is "
                        "reported beside it) (default: %(default)s)")
    add_threads(p)
    return p


def _remove_stale_temps(backend: Backend, out: Path) -> None:
    """Temp files a killed run of this backend left: of the manifest and of this backend's model files."""
    remove_stale_temps(out, ["manifest.json"])
    remove_stale_temps(out / backend.name, [f"{t}_{q}{backend.suffix}" for t in TOWERS for q in QUANTIZATIONS.values()])


def cli_main(backend: Backend, argv=None, doc: str = "") -> dict:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # torch/executorch pytree deprecation chatter
    prog = f"python -m export.{backend.name}"
    args = build_parser(backend, prog, doc).parse_args(argv)
    with cli_errors(prog.replace("python -m ", "")):
        if args.threads:
            torch.set_num_threads(args.threads)
        towers = parse_towers(args.towers)  # before the folder is taken
        with run_lock(args.out, prog), export_faults(args.out):  # one export run per --out folder
            _remove_stale_temps(backend, Path(args.out))
            return export_checkpoint(
                backend, args.checkpoint, args.out, quantize=args.quantize, recipe=args.recipe,
                calibration=args.calibration, towers=towers,
                thresholds=Thresholds(args.fp32_cosine, args.fp16_cosine, args.int8_cosine, args.int8_agreement),
                per_class=args.verify_per_class, n_calib=args.calib_images)

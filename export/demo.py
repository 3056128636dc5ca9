"""``make demo`` export stage: the demo student to ExecuTorch, Core ML and LiteRT, fp32 and int8.

    python -m export.demo [--student .cache/demo/student.pt] [--out .cache/demo/export]

Runs ``python -m export.<backend>`` for every backend and quantisation into one folder (one manifest),
then prints the verification table of everything in the manifest and the int8/fp32 size ratios.
A missing backend package is reported and skipped; an export that misses its verification threshold is
reported (``pass = NO``) and makes the exit code 1 with ``--strict``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mobileclip import create_model, load_checkpoint, save_checkpoint, tower_parameters
from mobileclip.models.batchnorm import recalibrate_bn
from mobileclip.utils.errors import BackendMissingError, cli_errors

from .backends import BACKENDS, get_backend
from .calibration import load_eval_data
from .errors import VerificationError
from .manifest import read_manifest
from .pipeline import export_checkpoint
from .verify import verification_table


def make_bn_calibrated_student(path, model_name: str, seed: int = 0) -> Path:
    """A randomly initialised student whose BatchNorm statistics are re-estimated on the default
    calibration images (so its image features do not collapse), saved as a checkpoint."""
    torch.manual_seed(seed)
    model = create_model(model_name)
    data = load_eval_data(model.preprocess_cfg, n_calib=64)
    model.eval()
    recalibrate_bn(model, data.calib_images.split(16))
    model.eval()
    return save_checkpoint(model, path, extra={"note": "random init + BatchNorm re-estimated (export.demo); untrained"})


SIZE_HEADERS = ["backend", "tower", "unquantised MiB", "int8 MiB", "int8/unquantised", "int8/fp32 weights"]


def size_ratios(manifest: dict, params: dict[str, int]) -> list[list]:
    """int8 file size against the backend's unquantised file and against the tower's fp32 weight bytes
    (4 x parameters): Core ML's unquantised package already stores fp16 weights, so only the second
    ratio compares like with like across backends."""
    by = {(m["backend"], m["tower"], m["quantization"]): m for m in manifest["models"]}
    rows = []
    for (b, t, q), m in sorted(by.items()):
        if q == "int8" and (b, t, "fp32") in by:
            base = by[(b, t, "fp32")]
            stored = "fp16" if base["recipe"].startswith("fp16") else "fp32"
            rows.append([b, t, f"{base['size_bytes'] / 2**20:.2f} ({stored})", f"{m['size_bytes'] / 2**20:.2f}",
                         f"{m['size_bytes'] / base['size_bytes']:.1%}", f"{m['size_bytes'] / (4 * params[t]):.1%}"])
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m export.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--student", default=".cache/demo/student.pt", help="checkpoint to export (default: %(default)s)")
    p.add_argument("--out", default=".cache/demo/export", help="export folder (default: %(default)s)")
    p.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (litert = tflite; default: %(default)s)")
    p.add_argument("--quantize", default="none,int8", help="comma-separated of none,int8 (default: %(default)s)")
    p.add_argument("--towers", default="image,text", help="comma-separated (default: %(default)s)")
    p.add_argument("--create-missing", metavar="MODEL", default=None,
                   help="if --student does not exist, create a BN-calibrated random-init MODEL there (untrained: "
                        "int8 figures of such a model are not representative; see README)")
    p.add_argument("--calibration", default=None, metavar="DATA",
                   help="calibration + labelled verification data (folder of class sub-folders and/or captions CSV; "
                        "default: the embedded scikit-image photos)")
    p.add_argument("--verify-per-class", type=int, default=4, metavar="N", help="verification images per class")
    p.add_argument("--calib-images", type=int, default=32, metavar="N", help="calibration images for static int8")
    p.add_argument("--strict", action="store_true", help="exit 1 when any export misses its threshold")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("export.demo"):
        return run(args)


def run(args) -> int:
    student, out = Path(args.student), Path(args.out)
    backends = [get_backend(b) for b in args.backends.split(",") if b]  # an unknown name fails before any work
    if not student.exists() and args.create_missing:
        print(f"NOTE: {student} does not exist; creating an UNTRAINED {args.create_missing} student "
              f"(random init, BatchNorm statistics re-estimated) to export")
        make_bn_calibrated_student(student, args.create_missing)
    failures, skipped = [], []
    towers = [t for t in args.towers.split(",") if t]
    for backend in backends:
        name = backend.name
        for q in [q for q in args.quantize.split(",") if q]:
            print(f"\n=== export.{name} {student} --quantize {q} --out {out}")
            try:
                export_checkpoint(backend, student, out, quantize=q, towers=towers, calibration=args.calibration,
                                  per_class=args.verify_per_class, n_calib=args.calib_images)
            except BackendMissingError as e:
                print(f"SKIPPED {name}: {e}")
                skipped.append(name)
                break
            except VerificationError as e:
                print(f"THRESHOLD MISSED: {e}")
                failures.append(str(e))
    manifest = read_manifest(out)
    from tabulate import tabulate

    print(f"\nVerification of everything in {out}/manifest.json (same images and captions for every backend):\n")
    print(verification_table(manifest["models"]))
    params = tower_parameters(load_checkpoint(student))
    rows = size_ratios(manifest, params)
    if rows:
        print(f"\nint8 file size (fp32 weights: image {4 * params['image'] / 2**20:.2f} MiB, "
              f"text {4 * params['text'] / 2**20:.2f} MiB = 4 bytes x parameters):\n")
        print(tabulate(rows, headers=SIZE_HEADERS, tablefmt="github", disable_numparse=True))
    if skipped:
        print(f"\nskipped (package missing): {', '.join(skipped)}")
    if failures:
        print(f"\n{len(failures)} export(s) missed a verification threshold (files and manifest entries are written, "
              f"marked passed=false):\n  " + "\n  ".join(failures))
        if args.strict:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

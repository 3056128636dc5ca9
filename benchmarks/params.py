"""Parameters, MACs and file sizes: students vs the teacher (the CLIP ViT-B/32 by default; any teacher spec).

Parameters are counted per tower from the built modules (``mobileclip.tower_parameters``). MACs are
counted with PyTorch's own FLOP counter (``torch.utils.flop_counter.FlopCounterMode``, MACs = FLOPs / 2:
convolutions, matmuls and attention; element-wise ops are not counted) for one 224x224 image and one
77-token caption. File sizes come from an export manifest (``--export DIR`` with ``manifest.json``).

Example:
  python -m benchmarks.params --students mnv3l-lsra-512,mnv3l-lsra-256 --teacher vit-b-32-random --out .cache/bench
"""
from __future__ import annotations

import argparse

import torch
from tabulate import tabulate

from mobileclip import DEFAULT_MODEL, MobileClipError, get_tokenizer, tower_parameters
from mobileclip.models.options import TEACHER_SPECS, add_teacher
from mobileclip.models.teacher import RANDOM_VIT_B_32
from mobileclip.utils.cli import add_output_args, add_threads
from mobileclip.evaluation.encoders import load_encoder
from mobileclip.models.model import count_macs

from .common import load_teacher_spec, machine_info, machine_line, path_bytes, run_and_write, split_list

PROG = "python -m benchmarks.params"


def model_entry(model, label: str, role: str, image_size: int | None = None) -> dict:
    size = image_size or model.preprocess_cfg["image_size"]
    image = torch.zeros(1, 3, size, size)
    ids = get_tokenizer()(["a photo of a dog."])  # padded to the 77-token context like every caption
    # a teacher's text tower counted on its own token ids (SigLIP: its 64-token context)
    text_fn, text_x = model.text_tower_call(ids) if hasattr(model, "text_tower_call") else (model.encode_text, ids)
    p = tower_parameters(model)
    return {"label": label, "role": role, "params": p, "image_size": size,
            "context_length": int(getattr(model, "text_context_length", ids.shape[1])),
            "macs": {"image": count_macs(model.encode_image, image), "text": count_macs(text_fn, text_x)},
            "fp32_weight_bytes": 4 * p["total"]}


def manifest_sizes(export_dir: str) -> dict:
    """File sizes of the exported models listed in ``export_dir/manifest.json`` (a Core ML ``.mlpackage``
    is a folder: the sum of its files)."""
    from export.manifest import manifest_path, read_manifest

    manifest, path = read_manifest(export_dir), manifest_path(export_dir)
    rows = []
    for m in manifest.get("models", []):
        f = path.parent / m["file"]
        size = path_bytes(f)
        rows.append({"backend": m["backend"], "tower": m["tower"], "quantization": m["quantization"],
                     "file": m["file"], "size_bytes": size, "manifest_size_bytes": m.get("size_bytes"),
                     "present": size is not None})
    return {"manifest": str(path), "source_checkpoint": manifest.get("source_checkpoint", {}), "models": rows}


def run(args) -> dict:
    torch.set_num_threads(max(1, args.threads or torch.get_num_threads()))
    entries = []
    teacher = load_teacher_spec(args.teacher) if args.teacher else None
    if teacher is not None:
        entries.append(model_entry(teacher, teacher.label, "teacher"))
    for spec in split_list(args.students):
        model = load_encoder(spec, kind="student")
        entries.append(model_entry(model, model.label, "student"))
        del model
    if not entries:
        raise MobileClipError("nothing to count: give --students and/or --teacher")
    ref = entries[0] if teacher is not None else None
    if ref is not None:
        for e in entries[1:]:
            e["vs_teacher"] = {
                "params_fraction": e["params"]["total"] / ref["params"]["total"],
                # image MACs only at the same input resolution (benchmarks/resolution.py); None otherwise
                "image_macs_ratio": ref["macs"]["image"] / max(e["macs"]["image"], 1)
                if e["image_size"] == ref["image_size"] else None,
                "text_macs_ratio": ref["macs"]["text"] / max(e["macs"]["text"], 1)}
    result = {"benchmark": "params", "machine": machine_info(), "teacher": teacher.label if teacher else None,
              "teacher_random_weights": bool(teacher is not None and teacher.random_weights),
              "mac_counter": "torch.utils.flop_counter.FlopCounterMode (MACs = FLOPs / 2)", "models": entries}
    if args.export:
        result["export"] = manifest_sizes(args.export)
    return result


def to_markdown(result: dict) -> str:
    rows = []
    for e in result["models"]:
        vs = e.get("vs_teacher")
        rows.append([f"{e['role']}: {e['label']}", e["params"]["image"] / 1e6, e["params"]["text"] / 1e6,
                     e["params"]["total"] / 1e6, f"{e['macs']['image'] / 1e9:.3f} ({e['image_size']})",
                     f"{e['macs']['text'] / 1e9:.3f} ({e['context_length']})",
                     e["fp32_weight_bytes"] / 2**20,
                     f"{100 * vs['params_fraction']:.1f}%" if vs else "100%",
                     _image_ratio(vs, e, result["models"][0]), f"{vs['text_macs_ratio']:.1f}x" if vs else "1x"])
    lines = ["# Parameters and MACs", "",
             tabulate(rows, headers=["model", "image params (M)", "text params (M)", "total (M)", "image GMACs (px)",
                                     "text GMACs (tokens)", "fp32 weights (MiB)", "params of teacher",
                                     "fewer image MACs", "fewer text MACs"],
                      floatfmt=".3f", tablefmt="github"), "",
             f"MACs: {result['mac_counter']}, batch 1 (one image, one caption padded to the model's context).",
             f"Teacher: {result['teacher']}." if result["teacher"] else "No teacher.", ""]
    if "export" in result:
        ex = result["export"]
        rows = []
        for m in ex["models"]:
            rows.append([m["backend"], m["tower"], m["quantization"], m["file"],
                         f"{m['size_bytes'] / 2**20:.2f}" if m["size_bytes"] is not None else "missing"])
        lines += ["## Exported file sizes", "", f"From `{ex['manifest']}`.", "",
                  tabulate(rows, headers=["backend", "tower", "quantization", "file", "size (MiB)"],
                           tablefmt="github"), ""]
        sizes = {(m["backend"], m["tower"], m["quantization"]): m["size_bytes"] for m in ex["models"]}
        ratio = [f"{b}/{t}: int8 is {sizes[(b, t, 'fp32')] / s:.2f}x smaller than fp32"
                 for (b, t, q), s in sizes.items() if q == "int8" and s and sizes.get((b, t, "fp32"))]
        if ratio:
            lines += ["; ".join(ratio) + ".", ""]
    lines.append(machine_line(result["machine"]))
    return "\n".join(lines) + "\n"


def _image_ratio(vs: dict | None, e: dict, ref: dict) -> str:
    if not vs:
        return "1x"
    if vs["image_macs_ratio"] is None:
        return f"— ({e['image_size']} vs {ref['image_size']} px)"
    return f"{vs['image_macs_ratio']:.1f}x"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", default=f"{DEFAULT_MODEL},mnv3l-lsra-256",
                   help="comma-separated student configs and/or .pt checkpoints (default: %(default)s)")
    add_teacher(p, default=RANDOM_VIT_B_32, help=f"teacher: {TEACHER_SPECS}; default {RANDOM_VIT_B_32}; '' for none")
    p.add_argument("--export", default=None, help="export folder with manifest.json: adds fp32/int8 file sizes")
    add_threads(p, what="torch threads while counting")
    add_output_args(p, "params")
    return p.parse_args(argv)


def main(argv=None):
    return run_and_write("benchmarks.params", parse_args(argv), run, to_markdown, "params")


if __name__ == "__main__":
    main()

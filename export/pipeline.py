"""One export pipeline for the three phone runtimes; backends differ only in the lowering step.

``load checkpoint -> wrap each tower as a fixed-shape module (image 1x3xSxS float32, text 1x77 int32
ids, both returning the L2-normalised embedding) -> [quantise] -> lower -> save (atomically) ->
verify against PyTorch fp32 -> write/merge manifest.json``.
"""
from __future__ import annotations

import enum
import time
from pathlib import Path

import torch
from torch import nn

from mobileclip import load_checkpoint
from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.finite import check_finite
from mobileclip.models.model import count_macs
from mobileclip.utils.validate import check_writable_dir

from .backends import Backend, Lowered
from .calibration import load_eval_data
from .errors import ExportError, VerificationError
from .files import ExportStaging, sha256_of, size_of
from .manifest import (QUANTIZATIONS, TOWERS, base_manifest, check_existing_manifest, export_tokenizer, manifest_path,
                       merge_manifest, model_entry)
from .towers import example_input, io_spec, wrap_towers
from .verify import Thresholds, reference_embeddings, verification_table, verify


def parse_recipes(spec: str | None, backend: Backend, towers: list[str]) -> dict[str, enum.Enum | None]:
    """``--recipe NAME`` (every tower) or ``--recipe image=NAME,text=NAME``."""
    out: dict[str, enum.Enum | None] = {t: None for t in towers}
    if not spec:
        return out
    names = [r.value for r in backend.Recipe]
    parts = spec.split(",")
    for part in parts:
        tower, _, name = part.rpartition("=")
        if name not in names:
            raise ExportError(f"unknown {backend.name} recipe {name!r}; choose from {', '.join(names)}")
        for t in ([tower] if tower else towers):
            if t not in TOWERS:
                raise ExportError(f"unknown tower {t!r} in --recipe; use image or text")
            if t in out:
                out[t] = backend.Recipe(name)
    return out


def parse_towers(spec: str) -> list[str]:
    """``--towers image,text`` -> ``["image", "text"]``; empty, unknown or repeated towers are an error."""
    towers = [t.strip() for t in (spec or "").split(",") if t.strip()]
    if not towers:
        raise ExportError("--towers is empty; use image, text or image,text")
    for t in towers:
        if t not in TOWERS:
            raise ExportError(f"--towers: unknown tower {t!r}; use image, text or image,text")
    if len(set(towers)) != len(towers):
        raise ExportError(f"--towers {spec!r} names a tower twice; use image, text or image,text")
    return towers


def check_options(backend: Backend, quantize: str, recipe: str | None, towers) -> tuple[list, str, dict]:
    """``(towers, quantization, recipe per tower)`` for the options, checked before any work starts."""
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    towers = parse_towers(",".join(towers))
    quantization = QUANTIZATIONS[quantize]
    backend.require()
    recipes = parse_recipes(recipe, backend, towers)
    for t in towers:
        recipes[t] = recipes[t] or backend.default_recipe(t, quantization)
        backend.check_recipe(recipes[t], t, quantization)
    return towers, quantization, recipes


def export_checkpoint(backend: Backend, ckpt: str | Path, out: str | Path, quantize: str = "none",
                      recipe: str | None = None, calibration: str | None = None, towers=("image", "text"),
                      thresholds: Thresholds | None = None, per_class: int = 4, n_calib: int = 32) -> dict:
    """Export ``ckpt``'s towers with ``backend``; returns the merged manifest.

    Raises :class:`VerificationError` (after writing files and manifest, so a user can inspect them)
    when an export misses its threshold; the message names tower and backend.
    """
    thresholds = thresholds or Thresholds()
    towers, quantization, recipes = check_options(backend, quantize, recipe, towers)
    ckpt, out = Path(ckpt), Path(out)
    check_writable_dir(out, "--out"), check_existing_manifest(out)  # before the work, not after it

    step = _Steps(5)
    step(f"loading checkpoint {ckpt}")
    model, payload = load_checkpoint(ckpt, return_payload=True)
    check_finite(model, f"checkpoint {ckpt}")  # NaN weights never reach an export
    model.eval()
    ckpt_sha = sha256_of(ckpt)
    size = int(model.preprocess_cfg.get("image_size", 224))
    ctx = int(model.config["text_cfg"]["context_length"])
    print(f"      {model.config.get('name')} (embed {model.embed_dim}, image {size}px, context {ctx}), sha256 {ckpt_sha[:12]}…")
    return export_model(backend, model, wrap_towers(model), base_manifest(ckpt, ckpt_sha, model, payload), out,
                        towers, quantization, recipes, ctx, calibration, thresholds, per_class, n_calib, step)


def export_model(backend: Backend, model, modules: dict[str, nn.Module], base: dict, out: Path, towers: list[str],
                 quantization: str, recipes: dict, ctx: int, calibration: str | None, thresholds: Thresholds,
                 per_class: int, n_calib: int, step: "_Steps") -> dict:
    """Steps 2-5 for a loaded model (student or teacher): ``model`` gives ``preprocess_cfg``, ``embed_dim`` and
    the fp32 reference (``encode_image``/``encode_text``), ``modules`` the fixed-shape towers to export,
    ``base`` the manifest's fields other than ``models``; options already checked (:func:`check_options`)."""
    size = int(model.preprocess_cfg.get("image_size", 224))
    step("preparing calibration/verification data")
    data = load_eval_data(model.preprocess_cfg, calibration, per_class=per_class, n_calib=n_calib, context_length=ctx)
    print(f"      {data.source}: {len(data.images)} labelled images in {len(data.classnames)} classes, "
          f"{len(data.caption_ids)} captions, {len(data.calib_images)} calibration images")
    reference = reference_embeddings(model, data)

    with ExportStaging(out) as stage:  # written and verified beside the previous export, then moved in
        step(f"exporting {', '.join(towers)} with {backend.name} ({quantization})")
        entries, lowered_by = [], {}
        for t in towers:
            rel = f"{backend.name}/{t}_{quantization}{backend.suffix}"
            calib = data.calib_images if t == "image" else data.calib_ids.to(torch.int32)
            example = example_input(t, size, ctx)
            lowered_by[t] = export_tower(backend, modules[t], example, t, quantization, recipes[t], calib,
                                         stage.dir / rel, shown=out / rel)
            entries.append({**model_entry(backend.name, t, quantization, recipes[t].value, stage.dir, stage.dir / rel,
                                          io_spec(t, size, int(model.embed_dim), ctx), lowered_by[t].info),
                            "macs": count_macs(modules[t], example)})

        step("verifying against PyTorch fp32 (same images and captions for every backend)")
        failures = verify_entries(backend, stage.dir, entries, modules, lowered_by, reference, data, thresholds,
                                  recipes, quantization)

        step(f"writing manifest {manifest_path(out)} and tokenizer vocabulary")
        export_tokenizer(stage.dir, ctx)
        manifest = merge_manifest(out, base, entries, into=stage.dir)
        stage.commit([e["file"] for e in entries] + ["tokenizer", manifest_path(stage.dir).name])  # manifest last
    print()
    print(verification_table(entries))
    print()
    if failures:
        raise VerificationError("verification failed: " + "; ".join(failures))
    return manifest


def verify_entries(backend: Backend, folder: Path, entries: list[dict], modules, lowered_by, reference, data,
                   thresholds: Thresholds, recipes: dict, quantization: str) -> list[str]:
    """Verify each written file in ``folder`` (its result goes into the entry); one line per failed gate."""
    failures = []
    for e in entries:
        t = e["tower"]
        v = verify(backend, folder / e["file"], t, quantization, modules[t], lowered_by[t], reference, data,
                   thresholds, recipes[t])
        e["verification"] = v
        if not v["passed"]:
            fid = v.get("zero_shot_fidelity") or {}
            decisive = fid.get("decisive_agreement")
            failures.append(f"{backend.name} {t} tower ({quantization}): cosine_min {v['cosine_min']}, zero-shot "
                            f"agreement {'n/a' if decisive is None else f'{decisive:.1%}'} on "
                            f"{fid.get('n_decisive', 0)} decisive input(s) (raw {v['zero_shot_agreement']:.1%}) "
                            f"fails {v['threshold']}")
    return failures


def export_tower(backend: Backend, module: nn.Module, example: torch.Tensor, tower: str, quantization: str,
                 recipe: enum.Enum, calib: torch.Tensor, path: Path, shown: Path | None = None) -> Lowered:
    """Quantise + lower one tower to ``path`` (``shown``: where it will end up, for the console); a lowering
    failure becomes one line that keeps its cause."""
    t0 = time.perf_counter()
    try:
        lowered = backend.export(module, example, tower, quantization, recipe, calib, path)
    except (MobileClipError, OSError):  # an OS error (a full disk) is no lowering failure: export_faults says it
        raise
    except Exception as e:  # lowering failures are long library tracebacks: one line, keep the cause
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ExportError(f"{backend.name} {tower} tower ({quantization}, {recipe.value}) failed to lower: "
                          f"{type(e).__name__}: {msg[:300]}") from e
    print(f"      {tower}: wrote {shown or path} ({size_of(path) / 2**20:.2f} MiB) in {time.perf_counter() - t0:.1f} s"
          + (f"; {lowered.summary}" if lowered.summary else ""))
    return lowered


class _Steps:
    def __init__(self, n: int):
        self.n, self.i = n, 0

    def __call__(self, msg: str):
        self.i += 1
        print(f"[{self.i}/{self.n}] {msg}", flush=True)


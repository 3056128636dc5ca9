"""``manifest.json``: the one reader, writer and validator of an export folder's manifest.

An export folder holds ``<backend>/<tower>_<quantization><suffix>`` files, ``tokenizer/`` and ``manifest.json``
(schema: ``export/manifest.schema.json``), which says what each file is, how it was made and verified, and how
to pre-process images and tokenise text for it. Benchmarks, the runtime loader and the golden fixtures read it
through this module.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import mobileclip
from mobileclip import get_tokenizer
from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.fileio import atomic_write, dumps_json

from .errors import ExportError
from . import toolchain
from .files import atomic_save_dir, cached_sha256, sha256_of, size_of

MANIFEST_FORMAT = "mobileclip-kd-export"
MANIFEST_VERSION = 1
TOWERS = ("image", "text")
QUANTIZATIONS = {"none": "fp32", "int8": "int8"}  # --quantize value -> the manifest's "quantization"
RESIZE_NAMES = {"shortest": "shortest_side"}  # model preprocess_cfg "resize_mode" -> the manifest's "resize"


def manifest_path(out: Path) -> Path:
    return Path(out) / "manifest.json"


def schema_path() -> Path:
    return Path(__file__).with_name("manifest.schema.json")


def validate_manifest(manifest: dict) -> None:
    try:
        import jsonschema
    except ImportError:  # validation is a dev extra; the file is still written from this code
        return
    schema = json.loads(schema_path().read_text())
    try:
        jsonschema.validate(manifest, schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise ExportError(f"manifest does not match {schema_path().name} at {where}: {e.message}") from None


def _load_json(path: Path, hint: str = ""):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MobileClipError(f"{path} is not valid JSON ({e}){hint}") from None


def read_manifest(out: Path) -> dict:
    path = manifest_path(out)
    if not path.is_file():
        raise MobileClipError(f"no export manifest at {path}; run python -m export.<backend> CKPT --out {out}")
    manifest = _load_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise MobileClipError(f"{path} is not a {MANIFEST_FORMAT} manifest")
    version = manifest.get("format_version")
    if version != MANIFEST_VERSION or isinstance(version, bool):  # checked here, with or without jsonschema
        raise MobileClipError(f"{path} has format_version {version!r}; mobileclip-kd {mobileclip.__version__} "
                              f"reads version {MANIFEST_VERSION} only: re-export with this version")
    return check_manifest_models(manifest, path)


def file_problem(out, entry: dict) -> str | None:
    """None when ``entry``'s file is in ``out`` with the manifest's sha256 (hashed once per process); else what
    is wrong with it, in words."""
    path = confined(out, entry["file"])
    if not path.exists():
        return "is missing"
    found = cached_sha256(path)
    if found != entry.get("sha256"):
        return (f"does not match the manifest's sha256 (found {found[:12]}…, listed {str(entry.get('sha256'))[:12]}…: "
                f"modified or replaced after export)")
    return None


def file_problems(out, entries) -> dict[str, str]:
    """``file -> what is wrong`` for each listed file that is missing or not the file that was exported."""
    return {e["file"]: why for e in entries if (why := file_problem(out, e))}


def check_files(out, entries, problems: dict[str, str] | None = None) -> None:
    """Refuse (one line naming each file) when a listed file is missing or not the file that was exported
    (``problems``: :func:`file_problems` of ``entries`` when the caller has it already)."""
    problems = file_problems(out, entries) if problems is None else problems
    if problems:
        listed = "; ".join(f"{file} {why}" for file, why in problems.items())
        raise MobileClipError(f"{manifest_path(out)}: {listed}; re-export to repair the folder")


def read_export(out) -> dict:
    """The manifest of an export folder whose every listed file is present and unchanged (format, version, schema,
    files): what ``benchmarks.latency`` reads; ``export.runtime`` and ``load_exported`` make the same checks on
    the models they list or load."""
    manifest = read_manifest(Path(out))
    validate_manifest(manifest)
    check_files(out, manifest["models"])
    return manifest


def check_manifest_models(manifest, path) -> dict:
    """What every manifest reader indexes: an object whose ``models`` is a list of objects with string
    ``backend``, ``tower``, ``quantization`` and ``file``."""
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list):
        raise MobileClipError(f"{path}: 'models' is missing or not a list")
    for i, m in enumerate(models):
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in
                                              ("backend", "tower", "quantization", "file")):
            raise MobileClipError(f"{path}: models[{i}] needs string backend, tower, quantization and file")
    return manifest


def check_existing_manifest(out) -> None:
    """An export folder's manifest.json, if present, must be a JSON object: it is merged, never silently
    replaced (move it away to start afresh)."""
    path = manifest_path(out)
    if not path.exists():
        return
    manifest = _load_json(path, "; fix or remove it, it is not overwritten")
    if not isinstance(manifest, dict):
        raise MobileClipError(f"{path} exists but is not a JSON object (found {type(manifest).__name__}); "
                              f"fix or remove it, it is not overwritten")


def confined(folder, name: str, what: str = "manifest entry") -> Path:
    """``folder/name`` for a relative ``name`` that stays inside ``folder`` (no ``..``, no absolute path, no
    symlink leading out); anything else is an error that does not echo the target's contents."""
    folder = Path(folder)
    if not isinstance(name, str) or not name or "\0" in name:
        raise MobileClipError(f"{folder}: {what} has no usable file name")
    rel = Path(name)
    if rel.is_absolute() or name.startswith(("/", "\\")) or ".." in rel.parts:
        raise MobileClipError(f"{folder}: {what} {name!r} points outside the folder (absolute or '..' path)")
    path = folder / rel
    root = folder.resolve()
    resolved = path.resolve()
    if resolved == root:
        raise MobileClipError(f"{folder}: {what} {name!r} names the folder itself, not a file in it")
    if root not in resolved.parents:
        raise MobileClipError(f"{folder}: {what} {name!r} resolves outside the folder (a symlink?)")
    return path


def quantization_name(quantize: str) -> str:
    """The manifest's quantization name for a ``--quantize`` value (``none`` -> ``fp32``); others unchanged."""
    return QUANTIZATIONS.get(quantize, quantize)


def preprocess_entry(pre: dict) -> dict:
    """The manifest's ``preprocess`` entry for a model's ``preprocess_cfg``."""
    mode = pre.get("resize_mode", "shortest")
    return {"image_size": int(pre.get("image_size", 224)), "resize": RESIZE_NAMES.get(mode, mode),
            "interpolation": pre.get("interpolation", "bicubic"), "crop": "center",
            "mean": [float(v) for v in pre["mean"]], "std": [float(v) for v in pre["std"]],
            "channel_order": "RGB", "layout": "NCHW", "scale": 1 / 255}


def preprocess_cfg(entry: dict) -> dict:
    """The inverse of :func:`preprocess_entry`: keys of ``MobileCLIP.preprocess_cfg`` (for ``image_transform``)."""
    modes = {v: k for k, v in RESIZE_NAMES.items()}
    return {"image_size": entry["image_size"], "resize_mode": modes.get(entry["resize"], entry["resize"]),
            "interpolation": entry["interpolation"], "mean": entry["mean"], "std": entry["std"]}


def tokenizer_entry(tok) -> dict:
    """The manifest's ``tokenizer`` entry for a CLIP BPE tokenizer (files under ``tokenizer/``)."""
    return {"type": "clip-bpe", "vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt",
            "vocab_size": tok.vocab_size, "context_length": tok.context_length,
            "sot_token_id": tok.sot_token_id, "eot_token_id": tok.eot_token_id,
            "pad_token_id": tok.pad_token_id, "lower_case": True}


def base_manifest(ckpt: Path, ckpt_sha: str, model, payload: dict) -> dict:
    """Everything but the ``models`` list: what the source checkpoint is and how to feed its exports."""
    tok = get_tokenizer(model.config["text_cfg"]["context_length"])
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
        "created_by": f"mobileclip-kd {mobileclip.__version__}",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_checkpoint": {"file": ckpt.name, "sha256": ckpt_sha, "model_name": model.config.get("name", "?")},
        "embed_dim": int(model.embed_dim),
        "logit_scale": round(float(model.logit_scale.exp().item()), 6),
        "preprocess": preprocess_entry(model.preprocess_cfg),
        "tokenizer": tokenizer_entry(tok),
        **({"languages": payload["extra"]["languages"]} if payload.get("extra", {}).get("languages") else {}),
        "models": [],
    }


def teacher_base_manifest(teacher, spec: str, sha256: str) -> dict:
    """:func:`base_manifest` for the CLIP teacher (``mobileclip.models.teacher.Teacher``) loaded from ``spec``: marked
    ``"role": "teacher"``; ``source_checkpoint.sha256`` is that of its weights (``export.teacher.weights_sha256``)."""
    tok = get_tokenizer(teacher.context_length)
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
        "created_by": f"mobileclip-kd {mobileclip.__version__}",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "role": "teacher",
        "source_checkpoint": {"file": Path(spec).name or spec, "sha256": sha256, "model_name": teacher.label},
        "embed_dim": int(teacher.embed_dim),
        "logit_scale": round(float(teacher.clip.logit_scale.exp().item()), 6),
        "preprocess": preprocess_entry(teacher.preprocess_cfg),
        "tokenizer": tokenizer_entry(tok),
        "models": [],
    }


def merge_manifest(out: Path, base: dict, entries: list[dict], into: Path | None = None) -> dict:
    """Add ``entries`` to ``out/manifest.json``; the same (backend, tower, quantization) replaces. Entries from
    a different source checkpoint are dropped (a manifest describes one model). Written to ``into`` (an
    export's staging folder) when given, else to ``out``."""
    path = manifest_path(out)
    models = []
    if path.is_file():
        check_existing_manifest(out)  # invalid JSON or not an object: an error, never silently replaced
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("source_checkpoint", {}).get("sha256") == base["source_checkpoint"]["sha256"]:
            models = old.get("models", [])
        elif old.get("models"):
            print(f"note: {path} described another checkpoint; its {len(old['models'])} entries are dropped")
    keys = {(e["backend"], e["tower"], e["quantization"]) for e in entries}
    models = [m for m in models if (m["backend"], m["tower"], m["quantization"]) not in keys] + entries
    models.sort(key=lambda m: (m["backend"], TOWERS.index(m["tower"]), m["quantization"]))
    manifest = {**base, "models": models}
    validate_manifest(manifest)
    atomic_write(manifest_path(into or out), dumps_json(manifest, what=str(path), indent=2) + "\n")  # strict JSON
    return manifest


def export_tokenizer(out: Path, context_length: int) -> None:
    """Write tokenizer/vocab.json + merges.txt (atomically: a temp folder swapped in)."""
    target = Path(out) / "tokenizer"
    atomic_save_dir(target, lambda p: get_tokenizer(context_length).export_vocab(p))



def model_entry(backend: str, tower: str, quantization: str, recipe: str, out: Path, path: Path, io: dict,
                info: dict | None = None) -> dict:
    """One ``models`` entry: the file at ``path`` (inside the export folder ``out``), its interface and origin."""
    return {"backend": backend, "tower": tower, "quantization": quantization, "recipe": recipe,
            "file": path.relative_to(out).as_posix(), "size_bytes": size_of(path), "sha256": sha256_of(path),
            **io, **({"backend_info": info} if info else {}), **toolchain.entry_fields(backend, path, info)}

"""One export pipeline for the three phone runtimes; backends differ only in the lowering step.

``load checkpoint -> wrap each tower as a fixed-shape module (image 1x3xSxS float32, text 1x77 int32
ids, both returning the L2-normalised embedding) -> [quantise] -> lower -> save (atomically) ->
verify against PyTorch fp32 -> write/merge manifest.json``.

A backend (``export/executorch.py``, ``export/coreml.py``, ``export/tflite.py``) is a :class:`Backend`
subclass with a recipe enum, an ``export`` step (quantise + lower + write one file) and an
``embedder`` that runs (or, for Core ML on Linux, statically checks) the written file.
"""
from __future__ import annotations

import argparse
import copy
import csv
import datetime
import enum
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import mobileclip
from mobileclip import get_tokenizer, image_transform, load_checkpoint
from mobileclip.errors import BackendMissingError, MobileClipError, cli_errors
from mobileclip.fileio import atomic_write, default_file_mode, dumps_json, remove_stale_temps  # noqa: F401  (re-exported)
from mobileclip.finite import check_finite
from mobileclip.runlock import run_lock
from mobileclip.validate import check_existing_manifest, check_manifest_models, check_writable_dir, parse_towers

TOWERS = ("image", "text")
QUANTIZATIONS = {"none": "fp32", "int8": "int8"}
MANIFEST_FORMAT = "mobileclip-kd-export"
MANIFEST_VERSION = 1
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class ExportError(MobileClipError):
    """Export could not be produced (bad option, lowering failure)."""


class VerificationError(MobileClipError):
    """An exported model computes something too far from the PyTorch fp32 model."""


# ----------------------------------------------------------------------------------------------------------
# Fixed-shape tower wrappers
# ----------------------------------------------------------------------------------------------------------
class ImageTower(nn.Module):
    """``image`` (1, 3, S, S) float32, already normalised -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, visual: nn.Module):
        super().__init__()
        self.visual = visual

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


class TextTower(nn.Module):
    """``input_ids`` (1, 77) int32 CLIP BPE ids -> ``embedding`` (1, D), L2-normalised."""

    def __init__(self, text: nn.Module):
        super().__init__()
        self.text = text

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text(input_ids)


class Int8RowwiseEmbedding(nn.Module):
    """Weight-only int8 token embedding: int8 table + one fp32 scale per row (symmetric).

    The lookup is an ``index_select`` on the int8 table followed by a multiply, so every runtime runs it
    with its stock gather kernel. The text tower's 49,408-row table is most of its weights; without this
    an "int8" text model would still carry it in fp32.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0
        self.register_buffer("qweight", torch.round(weight / scale).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.float())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1)
        rows = self.qweight.index_select(0, flat).to(torch.float32) * self.scale.index_select(0, flat)
        return rows.reshape(*ids.shape, self.qweight.shape[1])


def with_int8_embedding(tower: TextTower) -> TextTower:
    """A copy of the text tower whose token embedding is :class:`Int8RowwiseEmbedding`."""
    tower = copy.deepcopy(tower)
    tower.text.token_embedding = Int8RowwiseEmbedding(tower.text.token_embedding.weight.detach())
    return tower


def example_input(tower: str, image_size: int, context_length: int = 77) -> torch.Tensor:
    if tower == "image":
        return torch.zeros(1, 3, image_size, image_size, dtype=torch.float32)
    tok = get_tokenizer(context_length)
    return tok(["a photo of a cat."]).to(torch.int32)


def io_spec(tower: str, image_size: int, embed_dim: int, context_length: int = 77) -> dict:
    inp = ({"name": "image", "shape": [1, 3, image_size, image_size], "dtype": "float32"} if tower == "image"
           else {"name": "input_ids", "shape": [1, context_length], "dtype": "int32"})
    return {"inputs": [inp], "outputs": [{"name": "embedding", "shape": [1, embed_dim], "dtype": "float32"}]}


def wrap_towers(model) -> dict[str, nn.Module]:
    return {"image": ImageTower(model.visual).eval(), "text": TextTower(model.text).eval()}


def strip_aliases(ep: torch.export.ExportedProgram) -> torch.export.ExportedProgram:
    """Rewrite two no-op spellings some converters reject: drop ``aten.alias`` (a full-length slice becomes
    one) and spell ``aten.__and__`` on the boolean attention masks as ``aten.logical_and``."""
    gm = ep.graph_module
    changed = False
    for node in list(gm.graph.nodes):
        if node.op != "call_function":
            continue
        if node.target in (torch.ops.aten.alias.default, torch.ops.aten.alias_copy.default):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
            changed = True
        elif node.target == torch.ops.aten.__and__.Tensor and all(
                getattr(a, "meta", {}).get("val") is not None and a.meta["val"].dtype == torch.bool for a in node.args):
            node.target = torch.ops.aten.logical_and.default
            changed = True
    if changed:
        gm.graph.lint()
        gm.recompile()
    return ep


# ----------------------------------------------------------------------------------------------------------
# Calibration / verification data
# ----------------------------------------------------------------------------------------------------------
# scikit-image ships these photos in its wheel; each is one class of the default zero-shot set
DEFAULT_CLASSES = {
    "astronaut": "an astronaut", "coffee": "a cup of coffee", "chelsea": "a cat", "rocket": "a rocket",
    "camera": "a man with a camera", "coins": "coins", "clock": "a clock", "brick": "a brick wall",
    "grass": "grass", "moon": "the surface of the moon", "hubble_deep_field": "galaxies in space",
    "retina": "a retina", "immunohistochemistry": "stained tissue under a microscope", "colorwheel": "a colour wheel",
}
DEFAULT_CAPTIONS = [
    "a photo of a cat.", "an astronaut in a white space suit.", "a cup of coffee on a saucer.",
    "a rocket on the launch pad.", "a man holding a camera.", "a pile of old coins.", "a clock on the wall.",
    "a red brick wall.", "green grass in the sun.", "the surface of the moon.", "galaxies in deep space.",
    "a dog running on the beach.", "two children playing football in a park.", "a bowl of fresh fruit.",
    "a city street at night with lights.", "a person riding a bicycle down a hill.", "a plate of pasta.",
    "a boat sailing on a calm lake.", "a snowy mountain under a blue sky.", "a black and white photo of a horse.",
    "A woman in a red dress walks past a shop window.", "an old man reading a newspaper on a bench.",
    "a close-up of a flower with a bee.", "a train arriving at the station.", "a laptop on a wooden desk.",
    "a group of people dancing at a wedding.", "a colourful parrot sitting on a branch.",
    "the view from an airplane window.", "a surfer riding a large wave.", "a little girl blowing out candles!",
    "rain drops on a window, \u00e9t\u00e9 \u2600", "a diagram of a cell.",
]


@dataclass
class EvalData:
    """Images (N,3,S,S) normalised, their class labels, class prompt ids, caption ids, calibration images."""

    images: torch.Tensor
    labels: torch.Tensor
    classnames: list[str]
    prompt_ids: torch.Tensor
    caption_ids: torch.Tensor
    calib_images: torch.Tensor
    calib_ids: torch.Tensor
    source: str


def _crops(img, n: int, rng: np.random.Generator, scale=(0.35, 1.0)):
    """n deterministic crops (first = the whole image) with random horizontal flips after the first."""
    from PIL import ImageOps

    w, h = img.size
    out = [img]
    while len(out) < n:
        s = float(np.sqrt(rng.uniform(*scale)))
        cw, ch = max(8, int(w * s)), max(8, int(h * s))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        c = img.crop((x0, y0, x0 + cw, y0 + ch))
        out.append(ImageOps.mirror(c) if rng.random() < 0.5 else c)
    return out


def _sample_photo(name: str):
    from PIL import Image
    import skimage.data

    arr = getattr(skimage.data, name)()
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    return Image.fromarray(arr).convert("RGB")


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def load_eval_data(preprocess: dict, calibration: str | None = None, per_class: int = 4,
                   n_calib: int = 32, seed: int = 0, context_length: int = 77) -> EvalData:
    """Verification + calibration data.

    Default (``calibration=None``): the scikit-image sample photos, ``per_class`` crops of each (labelled
    by photo), other random crops for calibration, and :data:`DEFAULT_CAPTIONS`.
    ``calibration=DIR``: images under DIR (class = first sub-folder when images sit in sub-folders,
    ImageFolder layout) and captions from ``DIR/captions.csv`` (column ``caption``) or a CSV file given
    directly. Missing pieces come from the default.
    """
    from PIL import Image

    tf = image_transform(preprocess)
    tok = get_tokenizer(context_length)
    rng = np.random.default_rng(seed)
    captions = list(DEFAULT_CAPTIONS)
    source = "embedded default (scikit-image sample photos + built-in captions)"
    labelled: list[tuple] = []
    calib_pils = []
    if calibration is not None:
        path = Path(calibration)
        if not path.exists():
            raise ExportError(f"calibration data not found: {path}")
        csv_path = path if path.is_file() else path / "captions.csv"
        if path.is_file() and path.suffix.lower() != ".csv":
            raise ExportError(f"--calibration expects a folder of images or a captions CSV, got {path}")
        if csv_path.is_file():
            with open(csv_path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if not rows or "caption" not in rows[0]:
                raise ExportError(f"{csv_path}: needs a 'caption' column")
            captions = [r["caption"] for r in rows][:256]
        if path.is_dir():
            files = _list_images(path)
            for p in files:
                try:
                    im = Image.open(p).convert("RGB")
                except Exception:
                    continue
                rel = p.relative_to(path).parts
                if len(rel) > 1 and "images" not in rel[:-1]:
                    labelled.append((im, rel[-2]))
                calib_pils.append(im)
            if not calib_pils and not csv_path.is_file():
                raise ExportError(f"{path}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) and no captions.csv")
        source = f"{path} ({len(calib_pils)} images, {len(captions)} captions)"
    if len({c for _, c in labelled}) < 2:  # no labelled folder structure: default zero-shot set
        labelled = []
        for name in DEFAULT_CLASSES:
            labelled += [(im, name) for im in _crops(_sample_photo(name), per_class, rng)]
    else:  # cap per class to keep verification quick
        by = {}
        for im, c in labelled:
            by.setdefault(c, []).append(im)
        labelled = [(im, c) for c, ims in sorted(by.items()) for im in ims[: max(per_class, 8)]]
    if calib_pils:  # calibrate on images that are not verified, when the folder has them
        held_out = {id(im) for im, _ in labelled}
        rest = [im for im in calib_pils if id(im) not in held_out]
        if rest:
            calib_pils = rest
            source += "; calibration images disjoint from the verification images"
        else:
            source += "; calibration images OVERLAP the verification images (no others in the folder)"
        order = rng.permutation(len(calib_pils))
        calib_pils = [calib_pils[i] for i in order[:n_calib]]
    else:
        for name in DEFAULT_CLASSES:
            calib_pils += _crops(_sample_photo(name), 1 + -(-n_calib // len(DEFAULT_CLASSES)), rng)[1:]
    classnames = sorted({c for _, c in labelled})
    names = {c: DEFAULT_CLASSES.get(c, c.replace("_", " ")) for c in classnames}
    images = torch.stack([tf(im) for im, _ in labelled])
    labels = torch.tensor([classnames.index(c) for _, c in labelled])
    prompts = [f"a photo of {names[c]}." for c in classnames]
    calib = torch.stack([tf(im) for im in calib_pils[:n_calib]])
    caption_ids = tok(captions)
    return EvalData(images=images, labels=labels, classnames=classnames, prompt_ids=tok(prompts),
                    caption_ids=caption_ids, calib_images=calib,
                    calib_ids=torch.cat([caption_ids, tok(prompts)])[:max(n_calib, 8)], source=source)


def recalibrate_batchnorm(model, images: torch.Tensor, batch_size: int = 16) -> None:
    """Re-estimate BatchNorm running statistics (cumulative average, ``momentum=None``) on ``images``.

    A randomly initialised MobileNetV3 has unit running statistics that do not match its activations;
    its features collapse to nearly the same vector for every image. Re-estimating them gives a model
    whose embeddings differ per image, so quantisation error is measurable.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.training) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            model.encode_image(images[i:i + batch_size])
    for m, (mom, tr) in zip(bns, saved):
        m.momentum = mom
        m.train(tr)


# ----------------------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Lowered:
    """What a backend's ``export`` step returns (the file is already written at the given path)."""

    info: dict = field(default_factory=dict)  # backend-specific facts for the manifest (delegation, ops, ...)
    summary: str = ""  # one line for the console


class Backend:
    """Subclass per runtime. ``Recipe`` is an Enum of recipe names; ``export`` writes ``path``."""

    name: str = ""
    suffix: str = ""
    packages: tuple[str, ...] = ()  # import names; missing -> BackendMissingError
    install_hint: str = "pip install 'mobileclip-kd[export]'"
    Recipe: type[enum.Enum]

    def require(self) -> None:
        import importlib

        for pkg in self.packages:
            try:
                importlib.import_module(pkg)
            except ImportError as e:
                raise BackendMissingError(
                    f"{self.name} export needs the Python package {pkg!r} ({type(e).__name__}: {e}); "
                    f"install it with {self.install_hint}") from None

    def default_recipe(self, tower: str, quantization: str) -> enum.Enum:
        raise NotImplementedError

    def precision(self, recipe: enum.Enum, quantization: str) -> str:
        """Which threshold applies: "fp32", "fp16" (unquantised but fp16 weights/compute) or "int8"."""
        return quantization

    def check_recipe(self, recipe: enum.Enum, tower: str, quantization: str) -> None:
        """Raise ExportError when ``recipe`` does not fit the tower/quantisation."""

    def export(self, module: nn.Module, example: torch.Tensor, tower: str, quantization: str,
               recipe: enum.Enum, calib: torch.Tensor, path: Path) -> Lowered:
        raise NotImplementedError

    def embedder(self, path: Path, tower: str, module: nn.Module, lowered: Lowered) -> tuple[Callable, str]:
        """``(fn, method)``: ``fn(x)`` maps one input (1, ...) to a (1, D) numpy embedding computed from the
        file at ``path``; ``method`` says in words how (run in which runtime, or what was checked)."""
        raise NotImplementedError


# ----------------------------------------------------------------------------------------------------------
# Small utilities
# ----------------------------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a directory (e.g. .mlpackage) as the hash of its sorted (relpath, sha256) list."""
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode() + b"\0" + sha256_of(p).encode() + b"\n")
        return h.hexdigest()
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def size_of(path: Path) -> int:
    path = Path(path)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def atomic_save_dir(path: Path, save: Callable[[Path], None]) -> None:
    """``save(tmp_dir_path)`` then swap it into ``path`` (for directory artifacts such as .mlpackage)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        target = tmpdir / path.name
        save(target)
        old = None
        if path.exists():
            old = path.parent / f".{path.name}.old.{os.getpid()}"
            os.replace(path, old)
        os.replace(target, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def tmp_path_for(path: Path) -> Path:
    """A temp sibling path (same folder, same suffix) for libraries that insist on writing to a path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    os.chmod(tmp, default_file_mode())  # reliability hook: 0644-style, not mkstemp's 0600
    return Path(tmp)


# ----------------------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------------------
@dataclass
class Thresholds:
    fp32_cosine: float = 0.9999
    fp16_cosine: float = 0.999  # unquantised exports that store fp16 weights (Core ML fp16-compute)
    int8_cosine: float = 0.99
    int8_agreement: float = 0.98


def verify(backend: Backend, path: Path, tower: str, quantization: str, module: nn.Module, lowered: Lowered,
           reference: dict, data: EvalData, thresholds: Thresholds, recipe: enum.Enum | None = None) -> dict:
    """Embed the shared images/captions with the exported file; compare with PyTorch fp32."""
    from tqdm import tqdm

    fn, method = backend.embedder(path, tower, module, lowered)
    if tower == "image":
        inputs = list(data.images)
        ref = reference["images"]
    else:
        ids = torch.cat([data.caption_ids, data.prompt_ids]).to(torch.int32)
        inputs = list(ids)
        ref = torch.cat([reference["captions"], reference["prompts"]])
    outs = []
    for x in tqdm(inputs, desc=f"  verify {backend.name}/{tower}/{quantization}", leave=False, unit="input"):
        outs.append(torch.as_tensor(np.asarray(fn(x.unsqueeze(0))), dtype=torch.float32).reshape(1, -1))
    got = check_finite(torch.cat(outs), f"{backend.name} {tower} tower ({quantization}) output")  # hook
    if got.shape != ref.shape:
        raise VerificationError(f"{backend.name} {tower} tower: output shape {tuple(got.shape)} != {tuple(ref.shape)}")
    cos = F.cosine_similarity(got, ref, dim=-1)
    ref_pred = (reference["images"] @ reference["prompts"].T).argmax(-1)
    if tower == "image":
        pred = (got @ reference["prompts"].T).argmax(-1)
    else:
        pred = (reference["images"] @ got[len(data.caption_ids):].T).argmax(-1)
    agreement = (pred == ref_pred).float().mean().item()
    finite = bool(torch.isfinite(got).all())
    precision = backend.precision(recipe, quantization)
    if precision in ("fp32", "fp16"):
        limit = thresholds.fp32_cosine if precision == "fp32" else thresholds.fp16_cosine
        passed = finite and cos.min().item() >= limit
        rule = f"cosine_min >= {limit} ({precision})"
    else:
        passed = finite and cos.min().item() >= thresholds.int8_cosine and agreement >= thresholds.int8_agreement
        rule = f"cosine_min >= {thresholds.int8_cosine} and zero_shot_agreement >= {thresholds.int8_agreement}"
    return {"method": method, "n_inputs": len(inputs), "cosine_min": round(cos.min().item(), 6),
            "cosine_mean": round(cos.mean().item(), 6), "max_abs_err": float(f"{(got - ref).abs().max().item():.3g}"),
            "zero_shot_agreement": round(agreement, 4), "zero_shot_n": len(data.labels),
            "zero_shot_classes": len(data.classnames), "threshold": rule, "passed": bool(passed)}


def reference_embeddings(model, data: EvalData) -> dict:
    with torch.no_grad():
        return {"images": model.encode_image(data.images), "captions": model.encode_text(data.caption_ids),
                "prompts": model.encode_text(data.prompt_ids)}


# ----------------------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------------------
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


def read_manifest(out: Path) -> dict:
    path = manifest_path(out)
    if not path.is_file():
        raise MobileClipError(f"no export manifest at {path}; run python -m export.<backend> CKPT --out {out}")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise MobileClipError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:  # reliability hook: dict
        raise MobileClipError(f"{path} is not a {MANIFEST_FORMAT} manifest")
    return check_manifest_models(manifest, path)  # reliability hook: what readers index is there


def preprocess_entry(pre: dict) -> dict:
    resize = {"shortest": "shortest_side"}.get(pre.get("resize_mode", "shortest"), pre.get("resize_mode"))
    return {"image_size": int(pre.get("image_size", 224)), "resize": resize,
            "interpolation": pre.get("interpolation", "bicubic"), "crop": "center",
            "mean": [float(v) for v in pre["mean"]], "std": [float(v) for v in pre["std"]],
            "channel_order": "RGB", "layout": "NCHW", "scale": 1 / 255}


def base_manifest(ckpt: Path, ckpt_sha: str, model, payload: dict) -> dict:
    tok = get_tokenizer(model.config["text_cfg"]["context_length"])
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
        "created_by": f"mobileclip-kd {mobileclip.__version__}",
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_checkpoint": {"file": ckpt.name, "sha256": ckpt_sha, "model_name": model.config.get("name", "?")},
        "embed_dim": int(model.embed_dim),
        "logit_scale": round(float(model.logit_scale.exp().item()), 6),
        "preprocess": preprocess_entry(model.preprocess_cfg),
        "tokenizer": {"type": "clip-bpe", "vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt",
                      "vocab_size": tok.vocab_size, "context_length": tok.context_length,
                      "sot_token_id": tok.sot_token_id, "eot_token_id": tok.eot_token_id,
                      "pad_token_id": tok.pad_token_id, "lower_case": True},
        "models": [],
    }


def merge_manifest(out: Path, base: dict, entries: list[dict]) -> dict:
    """Add ``entries`` to ``out/manifest.json``; the same (backend, tower, quantization) replaces. Entries from
    a different source checkpoint are dropped (a manifest describes one model)."""
    path = manifest_path(out)
    models = []
    if path.is_file():
        check_existing_manifest(out)  # reliability hook: invalid JSON / not an object is an error, not replaced
        old = json.loads(path.read_text())
        if old.get("source_checkpoint", {}).get("sha256") == base["source_checkpoint"]["sha256"]:
            models = old.get("models", [])
        elif old.get("models"):
            print(f"note: {path} described another checkpoint; its {len(old['models'])} entries are dropped")
    keys = {(e["backend"], e["tower"], e["quantization"]) for e in entries}
    models = [m for m in models if (m["backend"], m["tower"], m["quantization"]) not in keys] + entries
    models.sort(key=lambda m: (m["backend"], TOWERS.index(m["tower"]), m["quantization"]))
    manifest = {**base, "models": models}
    validate_manifest(manifest)
    atomic_write(path, dumps_json(manifest, what=str(path), indent=2) + "\n")  # reliability hook: strict JSON
    return manifest


def export_tokenizer(out: Path, context_length: int) -> None:
    """Write tokenizer/vocab.json + merges.txt (atomically: a temp folder swapped in)."""
    target = Path(out) / "tokenizer"
    atomic_save_dir(target, lambda p: get_tokenizer(context_length).export_vocab(p))


# ----------------------------------------------------------------------------------------------------------
# The pipeline
# ----------------------------------------------------------------------------------------------------------
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


def export_checkpoint(backend: Backend, ckpt: str | Path, out: str | Path, quantize: str = "none",
                      recipe: str | None = None, calibration: str | None = None, towers=("image", "text"),
                      thresholds: Thresholds | None = None, per_class: int = 4, n_calib: int = 32) -> dict:
    """Export ``ckpt``'s towers with ``backend``; returns the merged manifest.

    Raises :class:`VerificationError` (after writing files and manifest, so a user can inspect them)
    when an export misses its threshold; the message names tower and backend.
    """

    thresholds = thresholds or Thresholds()
    if quantize not in QUANTIZATIONS:
        raise ExportError(f"--quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantize!r}")
    towers = parse_towers(",".join(towers), ExportError)  # reliability hook: unknown, repeated or no tower
    check_writable_dir(out, "--out"), check_existing_manifest(out)  # reliability hook: before the work
    quantization = QUANTIZATIONS[quantize]
    backend.require()
    recipes = parse_recipes(recipe, backend, towers)
    for t in towers:
        recipes[t] = recipes[t] or backend.default_recipe(t, quantization)
        backend.check_recipe(recipes[t], t, quantization)
    ckpt, out = Path(ckpt), Path(out)

    step = _Steps(5)
    step(f"loading checkpoint {ckpt}")
    model, payload = load_checkpoint(ckpt, return_payload=True)
    check_finite(model, f"checkpoint {ckpt}")  # reliability hook: NaN weights never reach an export
    model.eval()
    ckpt_sha = sha256_of(ckpt)
    size = int(model.preprocess_cfg.get("image_size", 224))
    ctx = int(model.config["text_cfg"]["context_length"])
    print(f"      {model.config.get('name')} (embed {model.embed_dim}, image {size}px, context {ctx}), sha256 {ckpt_sha[:12]}…")

    step(f"preparing calibration/verification data")
    data = load_eval_data(model.preprocess_cfg, calibration, per_class=per_class, n_calib=n_calib, context_length=ctx)
    print(f"      {data.source}: {len(data.images)} labelled images in {len(data.classnames)} classes, "
          f"{len(data.caption_ids)} captions, {len(data.calib_images)} calibration images")
    reference = reference_embeddings(model, data)
    modules = wrap_towers(model)

    step(f"exporting {', '.join(towers)} with {backend.name} ({quantization})")
    entries, failures = [], []
    lowered_by = {}
    for t in towers:
        rel = Path(backend.name) / f"{t}_{quantization}{backend.suffix}"
        path = out / rel
        calib = data.calib_images if t == "image" else data.calib_ids.to(torch.int32)
        t0 = time.perf_counter()
        try:
            lowered = backend.export(modules[t], example_input(t, size, ctx), t, quantization, recipes[t],
                                     calib, path)
        except MobileClipError:
            raise
        except Exception as e:  # lowering failures are long library tracebacks: one line, keep the cause
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise ExportError(f"{backend.name} {t} tower ({quantization}, {recipes[t].value}) failed to lower: "
                              f"{type(e).__name__}: {msg[:300]}") from e
        lowered_by[t] = lowered
        print(f"      {t}: wrote {path} ({size_of(path) / 2**20:.2f} MiB) in {time.perf_counter() - t0:.1f} s"
              + (f"; {lowered.summary}" if lowered.summary else ""))
        entries.append({"backend": backend.name, "tower": t, "quantization": quantization,
                        "recipe": recipes[t].value, "file": rel.as_posix(), "size_bytes": size_of(path),
                        "sha256": sha256_of(path), **io_spec(t, size, int(model.embed_dim), ctx),
                        **({"backend_info": lowered.info} if lowered.info else {})})

    step("verifying against PyTorch fp32 (same images and captions for every backend)")
    for e in entries:
        t = e["tower"]
        v = verify(backend, out / e["file"], t, quantization, modules[t], lowered_by[t], reference, data, thresholds,
                   recipes[t])
        e["verification"] = v
        if not v["passed"]:
            failures.append(f"{backend.name} {t} tower ({quantization}): cosine_min {v['cosine_min']}, "
                            f"zero-shot agreement {v['zero_shot_agreement']:.1%} fails {v['threshold']}")

    step(f"writing manifest {manifest_path(out)} and tokenizer vocabulary")
    export_tokenizer(out, ctx)
    manifest = merge_manifest(out, base_manifest(ckpt, ckpt_sha, model, payload), entries)
    print()
    print(verification_table(entries))
    print()
    if failures:
        raise VerificationError("verification failed: " + "; ".join(failures))
    return manifest


def verification_table(entries: list[dict], tablefmt: str = "github") -> str:
    from tabulate import tabulate

    rows = []
    for e in entries:
        v = e.get("verification", {})
        rows.append([e["backend"], e["tower"], e["quantization"], e["recipe"], f"{e['size_bytes'] / 2**20:.2f}",
                     f"{v.get('cosine_min', float('nan')):.6f}", f"{v.get('cosine_mean', float('nan')):.6f}",
                     f"{v.get('max_abs_err', float('nan')):.2e}", f"{v.get('zero_shot_agreement', float('nan')):.1%}",
                     "yes" if v.get("passed") else "NO", v.get("method", "")])
    return tabulate(rows, headers=["backend", "tower", "quant", "recipe", "MiB", "cos min", "cos mean", "max abs err",
                                   "zero-shot agree", "pass", "verified by"], tablefmt=tablefmt,
                    disable_numparse=True)


class _Steps:
    def __init__(self, n: int):
        self.n, self.i = n, 0

    def __call__(self, msg: str):
        self.i += 1
        print(f"[{self.i}/{self.n}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------------------
# CLI shared by the three backend modules
# ----------------------------------------------------------------------------------------------------------
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
                   help="minimum zero-shot top-1 agreement with PyTorch fp32 for int8 exports (default: %(default)s)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p


def cli_main(backend: Backend, argv=None, doc: str = "") -> dict:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)  # torch/executorch pytree deprecation chatter
    prog = f"python -m export.{backend.name}"
    args = build_parser(backend, prog, doc).parse_args(argv)
    with cli_errors(prog.replace("python -m ", "")):
        if args.threads:
            torch.set_num_threads(args.threads)
        towers = parse_towers(args.towers, ExportError)  # reliability hook: before the folder is taken
        with run_lock(args.out, prog):  # reliability hook: one export run per --out folder
            remove_stale_temps(args.out, ["manifest.json"])  # reliability hook: temp files of a killed run
            remove_stale_temps(Path(args.out) / backend.name, [f"{t}_{q}{backend.suffix}" for t in TOWERS
                                                                for q in QUANTIZATIONS.values()])  # (same hook)
            return export_checkpoint(
                backend, args.checkpoint, args.out, quantize=args.quantize, recipe=args.recipe,
                calibration=args.calibration, towers=towers,
                thresholds=Thresholds(args.fp32_cosine, args.fp16_cosine, args.int8_cosine, args.int8_agreement),
                per_class=args.verify_per_class, n_calib=args.calib_images)

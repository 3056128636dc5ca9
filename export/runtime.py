"""Run exported models from Python, as an *encoder* (``encode_image`` / ``encode_text``) for eval and benchmarks.

    from export.runtime import list_exported, load_exported
    enc = load_exported("exports", "executorch", quantization="int8")
    enc.encode_image(images)   # (N, 3, S, S) normalised float -> (N, D) L2-normalised, N batch-1 calls
    enc.encode_text(ids)       # (N, 77) ids -> (N, D)

Each file runs in its backend's runtime through ``Backend.load`` (``export/backends.py``): ExecuTorch's Python
runtime (``executorch.runtime``), the LiteRT interpreter (``ai_edge_litert`` or ``tflite_runtime``), Core ML
``predict`` (macOS only; elsewhere :class:`BackendMissingError`). ``litert`` is accepted for ``tflite``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mobileclip.utils.errors import MobileClipError, cli_errors
from mobileclip.models.model import clip_outputs

from .backends import backend_name, get_backend
from .manifest import (check_files, confined, file_problems, manifest_path, preprocess_cfg, quantization_name,
                       read_manifest, validate_manifest)


def list_exported(out_dir) -> list[dict]:
    """The manifest's model entries, each with ``path`` (absolute) added."""
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    return [{**m, "path": str(confined(out_dir, m["file"]).resolve())} for m in manifest["models"]]


class ExportedEncoder:
    """An exported image and/or text tower behind the encoder interface of ``mobileclip.eval``."""

    def __init__(self, out_dir, backend: str, quantization: str, manifest: dict, entries: dict,
                 num_threads: int | None = None):
        self.out_dir, self.backend, self.quantization = Path(out_dir), backend, quantization
        self.manifest, self.entries = manifest, entries
        # same keys as MobileCLIP.preprocess_cfg, so mobileclip.image_transform works unchanged
        self.preprocess_cfg = preprocess_cfg(manifest["preprocess"])
        self.embed_dim = manifest["embed_dim"]
        self.logit_scale_value = manifest["logit_scale"]
        self.label = f"{manifest['source_checkpoint']['model_name']} ({backend} {quantization})"
        self.context_length = manifest["tokenizer"]["context_length"]
        runtime = get_backend(backend)
        self._runners = {t: runtime.load(confined(self.out_dir, e["file"]), t, num_threads) for t, e in entries.items()}

    @property
    def towers(self) -> list[str]:
        return list(self._runners)

    def _run(self, tower: str, batch: torch.Tensor, dtype) -> torch.Tensor:
        if tower not in self._runners:
            raise MobileClipError(f"{self.out_dir}: no {self.backend} {self.quantization} {tower} model in the manifest")
        run = self._runners[tower]
        outs = [torch.from_numpy(np.asarray(run(batch[i:i + 1].to(dtype).contiguous()))).reshape(1, -1).float()
                for i in range(batch.shape[0])]
        return F.normalize(torch.cat(outs), dim=-1)  # already normalised by the model; renormalise fp16 rounding

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self._run("image", images, torch.float32)

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] != self.context_length:
            raise MobileClipError(f"exported text models take exactly {self.context_length} ids, got {ids.shape[1]}")
        return self._run("text", ids, torch.int32)

    def __call__(self, images=None, texts=None) -> dict:
        return clip_outputs(self, images, texts, torch.tensor(self.logit_scale_value))

    def file_sizes(self) -> dict[str, int]:
        return {t: e["size_bytes"] for t, e in self.entries.items()}


def load_exported(out_dir, backend: str, quantization: str = "int8", towers=("image", "text"),
                  num_threads: int | None = None, check_hash: bool = True) -> ExportedEncoder:
    """Load the ``backend``/``quantization`` models listed in ``out_dir/manifest.json``.

    ``towers`` present in the manifest are loaded (at least one must be). Each file must be there with the
    manifest's sha256 (hashed once per process while its size and mtime stay the same; ``check_hash=False``
    checks presence only), else one line names it.
    """
    backend = backend_name(backend)  # litert = tflite
    quantization = quantization_name(quantization)
    out_dir = Path(out_dir)
    manifest = read_manifest(out_dir)
    validate_manifest(manifest)  # everything the encoder reads is there (the schema)
    entries = {m["tower"]: m for m in manifest["models"]
               if m["backend"] == backend and m["quantization"] == quantization and m["tower"] in towers}
    if not entries:
        have = sorted({f"{m['backend']}/{m['quantization']}" for m in manifest["models"]})
        raise MobileClipError(f"{out_dir}/manifest.json has no {backend} {quantization} models "
                              f"(has: {', '.join(have) or 'none'})")
    if check_hash:
        check_files(out_dir, entries.values())  # no '..', absolute paths or symlinks out; present and unchanged
    else:
        for e in entries.values():
            if not confined(out_dir, e["file"]).exists():
                raise MobileClipError(f"{manifest_path(out_dir)}: {e['file']} is missing; re-export to repair the "
                                      f"folder")
    return ExportedEncoder(out_dir, backend, quantization, manifest, entries, num_threads=num_threads)


def main(argv=None) -> list[dict]:
    """``python -m export.runtime OUT``: list the exported models of an export folder and check that each listed
    file is there with the manifest's sha256; exit status 2 (one line naming the files) when one is not (this
    module is mostly a library: ``load_exported`` runs them)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m export.runtime", description=main.__doc__)
    p.add_argument("out", help="export folder (holds manifest.json)")
    args = p.parse_args(argv)
    with cli_errors("export.runtime"):
        validate_manifest(read_manifest(Path(args.out)))  # the fields listed below are there
        models = list_exported(args.out)
        problems = file_problems(args.out, models)  # each file checked once, printed, then refused
        for m in models:
            status = problems.get(m["file"], "ok")
            print(f"{m['backend']:<10} {m['tower']:<5} {m['quantization']:<5} {m['size_bytes'] / 2**20:8.2f} MiB  "
                  f"{m['file']}  {status.split(' (')[0]}")
        if not models:
            print(f"{args.out}: the manifest lists no models")
        check_files(args.out, models, problems)  # the same refusal as benchmarks.latency and load_exported
    return models


if __name__ == "__main__":
    main()

"""The shared export pipeline with a stand-in backend (fast): manifest, schema, errors, threshold failure."""
from __future__ import annotations

import enum
import json
import sys

import numpy as np
import pytest
import torch

from export.backends import Backend, Lowered
from export.errors import VerificationError
from export.manifest import read_manifest, schema_path
from export.pipeline import export_checkpoint
from export.verify import Thresholds
from mobileclip.utils.fileio import atomic_write
from mobileclip import get_tokenizer
from mobileclip.utils.errors import BackendMissingError


class FakeBackend(Backend):
    """Writes the tower's TorchScript; its embedder adds ``noise`` to the PyTorch output."""

    name = "executorch"  # a name the schema accepts
    suffix = ".pt2"
    Recipe = enum.Enum("Recipe", {"PLAIN": "plain"}, type=str)

    def __init__(self, noise=0.0):
        self.noise = noise

    def default_recipe(self, tower, quantization):
        return self.Recipe.PLAIN

    def export(self, module, example, tower, quantization, recipe, calib, path):
        atomic_write(path, b"stand-in model " + tower.encode())
        return Lowered(info={"fake": True})

    def embedder(self, path, tower, module, lowered):
        gen = torch.Generator().manual_seed(0)

        def fn(x):
            with torch.no_grad():
                y = module(x)
            return (y + self.noise * torch.randn(y.shape, generator=gen)).numpy()

        return fn, "stand-in"


def test_manifest_schema_tokenizer_and_merge(tiny_student, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "exp"
    export_checkpoint(FakeBackend(), tiny_student, out, quantize="none", towers=["image", "text"])
    manifest = export_checkpoint(FakeBackend(noise=1e-4), tiny_student, out, quantize="int8", towers=["text"])
    jsonschema.validate(manifest, json.loads(schema_path().read_text()))
    assert read_manifest(out) == manifest
    keys = [(m["tower"], m["quantization"]) for m in manifest["models"]]
    assert keys == [("image", "fp32"), ("text", "fp32"), ("text", "int8")]  # merged, sorted
    text = [m for m in manifest["models"] if m["tower"] == "text"][0]
    assert text["inputs"] == [{"name": "input_ids", "shape": [1, 77], "dtype": "int32"}]
    assert text["outputs"] == [{"name": "embedding", "shape": [1, 32], "dtype": "float32"}]
    assert manifest["preprocess"]["image_size"] == 32 and manifest["preprocess"]["resize"] == "shortest_side"
    assert manifest["tokenizer"]["eot_token_id"] == 49407 and manifest["embed_dim"] == 32
    assert abs(manifest["logit_scale"] - 1 / 0.07) < 1e-3
    import hashlib
    assert manifest["source_checkpoint"]["sha256"] == hashlib.sha256(tiny_student.read_bytes()).hexdigest()
    vocab = json.loads((out / manifest["tokenizer"]["vocab"]).read_text())
    assert vocab["<|endoftext|>"] == 49407 and len(vocab) == get_tokenizer().vocab_size
    # re-export replaces the same (backend, tower, quantization) instead of appending
    again = export_checkpoint(FakeBackend(), tiny_student, out, quantize="none", towers=["text"])
    assert len(again["models"]) == 3
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    bad = dict(manifest, embed_dim="32")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json.loads(schema_path().read_text()))


def test_threshold_failure_names_tower_and_backend(tiny_student, tmp_path):
    with pytest.raises(VerificationError, match=r"executorch text tower \(int8\).*cosine_min"):
        export_checkpoint(FakeBackend(noise=0.5), tiny_student, tmp_path, quantize="int8", towers=["text"])
    # the files and the failed verification are still recorded for inspection
    (m,) = read_manifest(tmp_path)["models"]
    assert m["verification"]["passed"] is False
    # a strict fp32 threshold fails a tiny perturbation too
    with pytest.raises(VerificationError, match="image tower"):
        export_checkpoint(FakeBackend(noise=1e-3), tiny_student, tmp_path, quantize="none", towers=["image"],
                          thresholds=Thresholds(fp32_cosine=0.9999999))


def test_cli_threshold_failure_exits_nonzero(tiny_student, tmp_path, capsys, monkeypatch):
    import export.tflite as tfl
    monkeypatch.setattr(tfl, "BACKEND", FakeBackend(noise=0.5))
    monkeypatch.setattr(FakeBackend, "name", "tflite")
    with pytest.raises(SystemExit) as e:
        tfl.main([str(tiny_student), "--out", str(tmp_path), "--towers", "text", "--quantize", "int8"])
    assert e.value.code != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]  # progress bars above it go to stderr too
    assert last.startswith("export.tflite: error: verification failed") and "tflite text tower (int8)" in last


@pytest.mark.parametrize("backend", ["executorch", "coreml", "tflite"])
def test_corrupt_checkpoint_one_line_error(backend, tmp_path, capsys):
    import importlib
    ckpt = tmp_path / "broken.pt"
    ckpt.write_bytes(b"\x80\x02 definitely not a checkpoint")
    mod = importlib.import_module(f"export.{backend}")
    if backend == "coreml":
        pytest.importorskip("coremltools")
    with pytest.raises(SystemExit) as e:
        mod.main([str(ckpt), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # libraries may log to stderr on import
    assert last.startswith(f"export.{backend}: error:") and "not a readable checkpoint" in last
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("backend,package", [("executorch", "executorch"), ("coreml", "coremltools"),
                                             ("tflite", "litert_torch")])
def test_missing_backend_package_one_line_error(backend, package, tiny_student, tmp_path, capsys, monkeypatch):
    import builtins
    import importlib
    mod = importlib.import_module(f"export.{backend}")
    real_import = builtins.__import__
    real_import_module = importlib.import_module

    def fake_import(name, *args, **kw):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named '{package}'")
        return real_import(name, *args, **kw)

    def fake_import_module(name, *args, **kw):
        if name == package or name.startswith(package + "."):
            raise ImportError(f"No module named '{package}'")
        return real_import_module(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib, "import_module", fake_import_module)
    for m in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.delitem(sys.modules, m)
    with pytest.raises(SystemExit) as e:
        mod.main([str(tiny_student), "--out", str(tmp_path / "o")])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"export.{backend}: error:") and package in last and "install" in last
    assert not (tmp_path / "o").exists()


def test_bad_options_are_clear(tiny_student, tmp_path):
    from export.errors import ExportError
    from export.executorch import BACKEND
    with pytest.raises(ExportError, match="unknown tower"):
        export_checkpoint(BACKEND, tiny_student, tmp_path, towers=["audio"])
    with pytest.raises(ExportError, match="text tower's attention"):
        export_checkpoint(BACKEND, tiny_student, tmp_path, quantize="int8", recipe="xnnpack-int8-static",
                          towers=["text"])
    with pytest.raises(ExportError, match="unknown executorch recipe"):
        export_checkpoint(BACKEND, tiny_student, tmp_path, recipe="fp64")


def test_int8_embedding_matches_weights():
    from export.towers import Int8RowwiseEmbedding
    w = torch.randn(100, 16) * 0.02
    emb = Int8RowwiseEmbedding(w)
    ids = torch.tensor([[0, 5, 99]], dtype=torch.int32)
    got = emb(ids)
    assert got.shape == (1, 3, 16) and emb.qweight.dtype == torch.int8
    assert (got[0] - w[[0, 5, 99]]).abs().max() <= w.abs().max() / 127 / 2 + 1e-7


def test_bn_recalibration_unfolds_collapsed_features():
    from export.calibration import load_eval_data
    from mobileclip.models.batchnorm import recalibrate_bn
    from mobileclip import create_model
    torch.manual_seed(0)
    m = create_model("tiny-lsra-light").eval()
    d = load_eval_data(m.preprocess_cfg, n_calib=16, per_class=1)
    with torch.no_grad():
        before = (lambda e: (e @ e.T).mean().item())(m.encode_image(d.images))
        recalibrate_bn(m, d.calib_images.split(16))
        after = (lambda e: (e @ e.T).mean().item())(m.encode_image(d.images))
    assert after < before and after < 0.9 and not m.training
    assert np.isfinite(after)


def test_runtime_errors(tmp_path):
    from export.runtime import list_exported, load_exported
    from mobileclip import MobileClipError
    with pytest.raises(MobileClipError, match="no export manifest"):
        list_exported(tmp_path)
    with pytest.raises(MobileClipError, match="unknown backend"):
        load_exported(tmp_path, "onnx")
    if sys.platform != "darwin":
        (tmp_path / "manifest.json").write_text("{}")
        with pytest.raises(MobileClipError):
            load_exported(tmp_path, "coreml")


def test_coreml_runtime_needs_macos(tiny_student, tmp_path):
    if sys.platform == "darwin":
        pytest.skip("macOS runs Core ML")
    from export.runtime import load_exported
    export_checkpoint(_named("coreml"), tiny_student, tmp_path, towers=["text"])
    with pytest.raises(BackendMissingError, match="macOS"):
        load_exported(tmp_path, "coreml", "fp32")


def _named(name):
    b = FakeBackend()
    b.name = name
    return b


def test_calibration_folder_with_classes_and_captions(tmp_path):
    from PIL import Image
    from export.calibration import load_eval_data
    from export.errors import ExportError
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "captions.csv").write_text("image,caption\ncat/0.png,a cat\ndog/0.png,a dog on grass\n")
    pre = {"image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    d = load_eval_data(pre, str(tmp_path), n_calib=4)
    assert d.classnames == ["cat", "dog"] and d.images.shape == (6, 3, 32, 32) and d.labels.tolist() == [0] * 3 + [1] * 3
    assert d.caption_ids.shape == (2, 77) and d.calib_images.shape == (4, 3, 32, 32)
    assert "OVERLAP" in d.source  # 3 per class are all verification images: said, not hidden
    with pytest.raises(ExportError, match="not found"):
        load_eval_data(pre, str(tmp_path / "nope"))


def test_calibration_images_disjoint_from_verification(tmp_path):
    from PIL import Image
    from export.calibration import load_eval_data
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(11):  # 8 per class verified, 3 per class left for calibration
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    pre = {"image_size": 8, "mean": [0.5] * 3, "std": [0.5] * 3}
    d = load_eval_data(pre, str(tmp_path), per_class=8, n_calib=32)
    assert d.images.shape[0] == 16 and d.calib_images.shape[0] == 6 and "disjoint" in d.source
    verified = {tuple(x.flatten().tolist()) for x in d.images}
    assert not any(tuple(x.flatten().tolist()) in verified for x in d.calib_images)


def _fidelity(raw, n_decisive, flips, n=56):
    from export.fidelity import Fidelity
    agreement = 1 - flips / n_decisive if n_decisive else None
    return Fidelity(n=n, raw_agreement=raw, noise=1e-3, margin_threshold=4.2e-3, n_decisive=n_decisive,
                    decisive_flips=flips, decisive_agreement=agreement)


def test_int8_gate_counts_flips_only_on_decisive_inputs():
    from export.verify import _gate
    t = Thresholds()
    # 6 near-tie flips out of 56 (raw 89 %), none among the 40 decisive inputs: passes
    assert _gate("int8", True, 0.9997, _fidelity(50 / 56, 40, 0), t)[0]
    # 2 flips among 40 decisive inputs (95 %) fail the 98 % gate even though raw agreement is the same
    passed, rule = _gate("int8", True, 0.9997, _fidelity(50 / 56, 40, 2), t)
    assert not passed and "margin exceeds 3 sigma" in rule
    # cosine still gates; non-finite output fails; no decisive input -> cosine alone, said in the rule
    assert not _gate("int8", True, 0.98, _fidelity(1.0, 40, 0), t)[0]
    assert not _gate("int8", False, 0.9997, None, t)[0]
    passed, rule = _gate("int8", True, 0.9997, _fidelity(0.5, 0, 0), t)
    assert passed and "not measurable" in rule
    # fp32 gates on cosine only, whatever the agreement
    assert _gate("fp32", True, 0.99995, _fidelity(0.5, 40, 20), t)[0]
    assert not _gate("fp32", True, 0.9998, _fidelity(1.0, 40, 0), t)[0]


def test_verification_records_decisive_and_raw_agreement(tiny_student, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    from export.verify import verification_table
    manifest = export_checkpoint(FakeBackend(noise=1e-3), tiny_student, tmp_path, quantize="int8",
                                 towers=["image"], thresholds=Thresholds(int8_agreement=0.0))
    jsonschema.validate(manifest, json.loads(schema_path().read_text()))
    (m,) = manifest["models"]
    v, f = m["verification"], m["verification"]["zero_shot_fidelity"]
    assert f["n"] == v["zero_shot_n"] and f["raw_agreement"] == pytest.approx(v["zero_shot_agreement"], abs=1e-4)
    assert f["noise"] > 0 and 0 <= f["n_decisive"] <= f["n"] and f["decisive_flips"] <= f["n_decisive"]
    table = verification_table(manifest["models"])
    assert "zero-shot agree (decisive)" in table and "raw agree" in table and f"/{f['n']}" in table

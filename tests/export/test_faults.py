"""Issue 22, export half: an export into a folder is a transaction, and every reader checks what it reads.

A stand-in backend (it writes bytes that depend on the checkpoint's weights, and can fail on a tower) keeps
these fast; ``test_real_ctrl_c_mid_export`` (slow) interrupts a real ExecuTorch export with SIGINT.
"""
from __future__ import annotations

import enum
import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from export.backends import Backend, Lowered
from mobileclip.utils.errors import MobileClipError
from mobileclip.utils.fileio import atomic_write

from tests.support.export_helpers import require

REPO = Path(__file__).resolve().parents[2]
FAST = ["--verify-per-class", "1", "--calib-images", "1", "--threads", "1"]  # the least verification and calibration data


class WeightsBackend(Backend):
    """Writes each tower as bytes that depend on its weights (two checkpoints give different files); fails with
    ``fail`` (an exception) when it reaches tower ``fail_on``; its runner returns the PyTorch output."""

    name, suffix = "executorch", ".pt2"
    Recipe = enum.Enum("Recipe", {"PLAIN": "plain"}, type=str)

    def __init__(self, fail_on: str | None = None, fail: BaseException | None = None):
        self.fail_on, self.fail, self.modules = fail_on, fail, {}

    def default_recipe(self, tower, quantization):
        return self.Recipe.PLAIN

    def export(self, module, example, tower, quantization, recipe, calib, path):
        if tower == self.fail_on:
            raise self.fail
        weights = sum(float(p.detach().double().sum()) for p in module.parameters())
        atomic_write(path, f"stand-in {tower} {weights!r}".encode())
        self.modules[tower] = module
        return Lowered()

    def embedder(self, path, tower, module, lowered):
        return (lambda x: module(x).detach().numpy()), "stand-in"

    def load(self, path, tower, num_threads=None):
        return lambda x: np.zeros((1, 32), np.float32)


def run_cli(ckpt, out, backend=None):
    """``python -m export.executorch CKPT --out OUT`` with the stand-in backend; returns the exit status."""
    from export.cli import cli_main

    threads = torch.get_num_threads()
    try:
        cli_main(backend or WeightsBackend(), [str(ckpt), "--out", str(out), *FAST])
    except SystemExit as e:
        return e.code
    finally:
        torch.set_num_threads(threads)  # --threads 1 is for this export only
    return 0


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def runtime_lists(folder, capsys) -> tuple[int, str, str]:
    """``python -m export.runtime FOLDER``: (exit status, stdout, stderr)."""
    from export.runtime import main

    capsys.readouterr()
    try:
        main([str(folder)])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def checkpoint_b(tiny_student, tmp_path_factory) -> Path:
    """The tiny student with every weight moved: another checkpoint whose tower files differ."""
    from mobileclip import load_checkpoint, save_checkpoint

    model = load_checkpoint(tiny_student)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    return save_checkpoint(model, tmp_path_factory.mktemp("b") / "b.pt")


@pytest.fixture(scope="module")
def export_a(tiny_student, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("a") / "export"
    assert run_cli(tiny_student, out) == 0
    return out


@pytest.fixture
def folder(export_a, tmp_path) -> Path:
    """A copy of checkpoint A's complete export (image + text), for one test to break."""
    shutil.copytree(export_a, tmp_path / "E", copy_function=shutil.copy2)
    return tmp_path / "E"


def assert_previous_export(folder: Path, before: dict, capsys) -> None:
    """``folder`` holds exactly what it held before, and export.runtime lists it as complete."""
    assert snapshot(folder) == before
    code, out, err = runtime_lists(folder, capsys)
    assert code == 0, err
    assert [line.split()[-1] for line in out.splitlines()] == ["ok", "ok"], out
    assert not [p for p in folder.iterdir() if p.name.startswith(".export-staging")]


# ------------------------------------------------------------------------------ exports are transactions
@pytest.mark.parametrize("fault, said", [
    (KeyboardInterrupt(), "interrupted (Ctrl-C)"),
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
])
def test_fault_mid_export_keeps_the_previous_export(folder, checkpoint_b, capsys, fault, said):
    """Ctrl-C or a full disk while B's text tower is written (its image tower already is): the folder still
    holds A's complete export (the old code had moved B's image tower in beside A's text tower and manifest)."""
    before = snapshot(folder)
    assert run_cli(checkpoint_b, folder, WeightsBackend(fail_on="text", fail=fault)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("export.executorch: error: ") and said in err[-1], err[-3:]
    assert "keeps its previous export" in err[-1]
    assert_previous_export(folder, before, capsys)


@pytest.mark.parametrize("target", ["manifest", "tokenizer"])
def test_disk_full_writing_manifest_or_tokenizer_keeps_the_previous_export(folder, checkpoint_b, capsys,
                                                                          monkeypatch, target):
    import export.manifest

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    if target == "manifest":
        monkeypatch.setattr(export.manifest, "atomic_write", full)
    else:
        monkeypatch.setattr(export.manifest, "atomic_save_dir", full)
    before = snapshot(folder)
    assert run_cli(checkpoint_b, folder) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert_previous_export(folder, before, capsys)


def test_completed_export_replaces_the_previous_one_whole(folder, checkpoint_b, capsys):
    assert run_cli(checkpoint_b, folder) == 0
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source_checkpoint"]["sha256"] == __import__("hashlib").sha256(checkpoint_b.read_bytes()).hexdigest()
    code, out, _ = runtime_lists(folder, capsys)
    assert code == 0 and out.count(" ok") == 2
    assert sorted(p.name for p in folder.iterdir()) == ["executorch", "manifest.json", "tokenizer"]


def test_failed_first_export_leaves_no_folder(tiny_student, tmp_path, capsys):
    out = tmp_path / "new"
    assert run_cli(tiny_student, out, WeightsBackend(fail_on="text", fail=KeyboardInterrupt())) == 2
    assert not out.exists()


def _staging(folder: Path, name: str, files: dict, moves=None) -> Path:
    st = folder / name
    st.mkdir()
    (st / ".lock").write_text("")
    for rel, data in files.items():
        (st / rel).parent.mkdir(parents=True, exist_ok=True)
        (st / rel).write_bytes(data)
    if moves is not None:
        (st / "COMMIT.json").write_text(json.dumps({"moves": moves}))
    return st


def test_staging_left_by_a_kill_is_cleaned_only_when_ours(folder, capsys):
    """A kill -9 leaves ``.export-staging-XXXXXXXX``: the next run removes an unfinished one (lock free), keeps
    a live one (lock held) and anything else of the user's, even with a similar name."""
    from export.files import recover_staging

    before = snapshot(folder)
    dead = _staging(folder, ".export-staging-abcd1234", {"executorch/image_fp32.pt2": b"half"})
    live = _staging(folder, ".export-staging-live5678", {"executorch/image_fp32.pt2": b"live"})
    mine = [_staging(folder, n, {"x": b"user"}) for n in (".export-staging-notours", ".export-staging-ABCD1234x")]
    (folder / "notes.txt").write_text("the user's")
    fd = os.open(live / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert len(recover_staging(folder)) == 1
    finally:
        os.close(fd)
    assert not dead.exists() and (live / "executorch/image_fp32.pt2").read_bytes() == b"live"
    assert all((m / "x").read_bytes() == b"user" for m in mine) and (folder / "notes.txt").exists()
    shutil.rmtree(live), [shutil.rmtree(m) for m in mine], (folder / "notes.txt").unlink()
    assert_previous_export(folder, before, capsys)


def test_commit_cut_short_is_refused_on_load_and_finished_by_the_next_run(folder, checkpoint_b, capsys,
                                                                         monkeypatch):
    """A rename failing half-way through the move-in (as a kill there would): readers name the mixed file; the
    next export into the folder finishes the move, so the folder holds B's complete export."""
    import export.files
    from export.files import recover_staging

    real, calls = os.replace, []

    def second_fails(src, dst):
        if ".export-staging-" in str(src) and ".export-staging-" not in str(dst):  # a move into the folder
            calls.append(dst)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(export.files.os, "replace", second_fails)
    assert run_cli(checkpoint_b, folder) == 2
    monkeypatch.setattr(export.files.os, "replace", real)
    assert "moving the new export in failed half-way" in capsys.readouterr().err
    code, out, err = runtime_lists(folder, capsys)
    assert code == 2 and "executorch/image_fp32.pt2 does not match the manifest's sha256" in err
    assert recover_staging(folder)  # what the next export run does first
    assert runtime_lists(folder, capsys)[0] == 0
    assert json.loads((folder / "manifest.json").read_text())["source_checkpoint"]["file"] == "b.pt"


# ---------------------------------------------------------------------------- readers check what they read
def _tamper(folder: Path, how: str) -> str:
    """Break the export in ``folder``; returns what the one-line refusal must say."""
    image, text = folder / "executorch/image_fp32.pt2", folder / "executorch/text_fp32.pt2"
    if how == "tampered":
        image.write_bytes(image.read_bytes() + b"!")
        return "executorch/image_fp32.pt2 does not match the manifest's sha256"
    if how == "swapped":
        tmp = folder / "tmp"
        image.rename(tmp), text.rename(image), tmp.rename(text)
        return "executorch/image_fp32.pt2 does not match the manifest's sha256"
    if how == "missing":
        text.unlink()
        return "executorch/text_fp32.pt2 is missing"
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format_version"] = 999
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return "has format_version 999"


@pytest.mark.parametrize("how", ["tampered", "swapped", "missing", "version"])
def test_runtime_latency_and_load_refuse_the_same_broken_export(folder, capsys, monkeypatch, how):
    """export.runtime, benchmarks.latency and load_exported give the same one line naming the file (the old
    code listed a missing file as present, loaded a modified one, and measured a version export.runtime
    refuses)."""
    import export.runtime
    from benchmarks.latency import exported_cases
    from export.runtime import load_exported

    said = _tamper(folder, how)
    code, out, err = runtime_lists(folder, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and said in err, err
    if how == "missing":
        assert out.splitlines()[1].endswith("is missing") and out.splitlines()[0].endswith(" ok"), out
    with pytest.raises(MobileClipError) as latency:
        exported_cases(str(folder), {"executorch"}, [])
    monkeypatch.setattr(export.runtime, "get_backend", lambda name: WeightsBackend())
    with pytest.raises(MobileClipError) as load:
        load_exported(folder, "executorch", "fp32")
    assert str(latency.value) == str(load.value) == err.strip().split("error: ", 1)[1]
    assert str(load.value).count("sha256") <= 1 + (how == "swapped")


def test_swapped_towers_named_once_each(folder, monkeypatch):
    import export.runtime
    from export.runtime import load_exported

    _tamper(folder, "swapped")
    monkeypatch.setattr(export.runtime, "get_backend", lambda name: WeightsBackend())
    with pytest.raises(MobileClipError) as e:
        load_exported(folder, "executorch", "fp32")
    msg = str(e.value)
    assert "\n" not in msg and msg.count("image_fp32.pt2") == 1 and msg.count("text_fp32.pt2") == 1


def test_files_hashed_once_per_process_until_they_change(folder, monkeypatch):
    import export.files
    import export.runtime
    from export.runtime import load_exported

    hashed = []
    real = export.files.sha256_of
    monkeypatch.setattr(export.files, "sha256_of", lambda p: hashed.append(Path(p).name) or real(p))
    monkeypatch.setattr(export.runtime, "get_backend", lambda name: WeightsBackend())
    for _ in range(3):
        enc = load_exported(folder, "executorch", "fp32")
    assert sorted(hashed) == ["image_fp32.pt2", "text_fp32.pt2"]  # once each, not three times
    assert enc.encode_image(torch.zeros(2, 3, 32, 32)).shape == (2, 32)
    image = folder / "executorch/image_fp32.pt2"
    data = image.read_bytes()
    time.sleep(0.01)
    image.write_bytes(data)  # same bytes, new mtime: hashed again (and still accepted)
    load_exported(folder, "executorch", "fp32")
    assert sorted(hashed) == ["image_fp32.pt2", "image_fp32.pt2", "text_fp32.pt2"]


# ------------------------------------------------------------------------------ the real thing, with SIGINT
@pytest.mark.slow
def test_real_ctrl_c_mid_export(tiny_student, checkpoint_b, tmp_path, capsys):
    """``python -m export.executorch A --out E``, then B interrupted by SIGINT right after its image tower was
    written: E lists A's complete export (the issue's reproduction, with the real backend)."""
    require("executorch")
    out = tmp_path / "E"
    cmd = [sys.executable, "-m", "export.executorch", "--out", str(out), "--towers", "image,text"]
    subprocess.run(cmd + [str(tiny_student)], check=True, capture_output=True, cwd=REPO, timeout=600)
    before = snapshot(out)
    proc = subprocess.Popen(cmd + [str(checkpoint_b)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 600
    while not list(out.glob(".export-staging-*/executorch/image_fp32.pte")) and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and err.strip().splitlines()[-1].startswith("export.executorch: error: interrupted")
    assert_previous_export(out, before, capsys)

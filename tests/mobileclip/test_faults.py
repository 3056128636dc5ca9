"""Fault injection: one test per reliability item (nothing of the user's lost, one line per bad input), the device
ones against the emulated adbd, plus kill -9 at random steps of a tiny run then ``--resume auto``."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from tests.benchmarks.test_device import _argv, _connect, adb_server, bench_files, phone  # noqa: E402,F401  (fixtures)
from tests.support.data import make_csv  # noqa: E402

from benchmarks import device as D  # noqa: E402
from mobileclip import create_model, save_checkpoint  # noqa: E402
from mobileclip.utils.errors import MobileClipError  # noqa: E402
from mobileclip.training.loop import parse_args, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY = ["--model", "tiny-lsra-light", "--no-kd", "--quiet", "--workers", "0", "--threads", "1", "--log-every", "1",
        "--bn-recalibrate", "0"]


def targs(csv_path, out, *extra):
    return parse_args(["--train-data", str(csv_path), "--out", str(out), "--batch-size", "4", *TINY, *extra])


def one_line_error(capsys, prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith(f"{prog}: error: "), err[-5:]
    return err[-1]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_csv(tmp_path_factory.mktemp("faults") / "data", 12)


@pytest.fixture(scope="module")
def finished_run(data, tmp_path_factory):
    """A finished 2-step run: last.pt (with training state) and final.pt (weights only)."""
    out = tmp_path_factory.mktemp("run") / "run"
    train(targs(data, out, "--steps", "2"))
    return out


# ------------------------------------------------------------------ 1. the device harness and the user's files
def test_1_device_never_deletes_a_users_folder(adb_server, phone, bench_files, capsys):
    photo = "/sdcard/DCIM/Camera/IMG_0001.jpg"
    phone._write(photo, b"\xff\xd8 a photo")
    with pytest.raises(SystemExit) as e:
        D.main(_argv(adb_server, bench_files, "--serial", phone.serial, "--remote-dir", "/sdcard/DCIM"))
    assert e.value.code == 2
    assert "was not created by benchmarks.device" in one_line_error(capsys, "benchmarks.device")
    assert phone.files == {photo: b"\xff\xd8 a photo"}
    assert not any(c.startswith("rm") for c in phone.commands)
    # a new folder below DCIM: used, then removed with everything the run pushed; the photo stays
    result = D.main(_argv(adb_server, bench_files, "--serial", phone.serial, "--remote-dir", "/sdcard/DCIM/bench"))
    assert result["complete"] and phone.files == {photo: b"\xff\xd8 a photo"}
    assert "/sdcard/DCIM/bench" not in phone.dirs and "/sdcard/DCIM/Camera" in phone.dirs
    assert all("/sdcard/DCIM/bench/run-" in c for c in phone.commands if c.startswith("rm -rf"))


def test_1_device_keeps_other_files_in_its_own_folder(adb_server, phone, bench_files):
    base = "/data/local/tmp/mobileclip-bench"
    phone._write(f"{base}/.mobileclip-bench", b"")  # ours from an earlier run...
    phone._write(f"{base}/notes.txt", b"the user's")  # ...but someone put a file in it
    assert D.main(_argv(adb_server, bench_files, "--serial", phone.serial))["complete"]
    assert phone.files == {f"{base}/.mobileclip-bench": b"", f"{base}/notes.txt": b"the user's"}


# ------------------------------------------------------------------------------------- 2. one run per --out
def _hold_lock(folder: Path):
    code = ("import sys, time; from mobileclip.utils.runlock import acquire; acquire(sys.argv[1], 'holder'); "
            "print('held', flush=True); time.sleep(120)")
    p = subprocess.Popen([sys.executable, "-c", code, str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_2_second_run_on_the_same_out_refuses(data, tmp_path, capsys):
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        from mobileclip.training import loop as T

        with pytest.raises(SystemExit) as e:
            T.main(["--train-data", str(data), "--out", str(out), "--batch-size", "4", *TINY, "--steps", "2"])
        assert e.value.code == 2
        line = one_line_error(capsys, "mobileclip.train")
        assert f"pid {holder.pid}" in line and "in use by another run" in line
        assert sorted(p.name for p in out.iterdir()) == [".mobileclip.lock"]  # nothing written by the refused run
        from export import executorch

        with pytest.raises(SystemExit):
            executorch.main(["no-such.pt", "--out", str(out)])
        assert "in use by another run" in one_line_error(capsys, "export.executorch")
    finally:
        holder.kill()
        holder.wait()


def test_2_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    from mobileclip.utils.runlock import LOCK_NAME, run_lock

    holder = _hold_lock(tmp_path)
    holder.kill()  # kill -9: the lock file stays, its flock dies with the process
    holder.wait()
    assert (tmp_path / LOCK_NAME).is_file()
    with run_lock(tmp_path, "second") as lock:
        assert lock.took_over["pid"] == holder.pid
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert f"took over {tmp_path / LOCK_NAME}" in capsys.readouterr().err
    assert not (tmp_path / LOCK_NAME).exists()  # released


# ------------------------------------------------------------------------------------ 3. non-finite weights
@pytest.fixture(scope="module")
def nan_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("tiny-lsra-light")
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if "visual" in n and p.ndim == 4)[0, 0, 0, 0] = float("nan")
    return save_checkpoint(model, tmp_path_factory.mktemp("nan") / "nan.pt")


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("zs")
    for c, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / c).mkdir()
        for i in range(2):
            Image.new("RGB", (40, 40), colour).save(root / c / f"{i}.png")
    return root


def test_3_nan_weights_are_an_error_in_eval(nan_ckpt, two_classes, tmp_path, capsys):
    from mobileclip.evaluation import evaluate as E

    with pytest.raises(SystemExit) as e:
        E.main([str(nan_ckpt), "--zeroshot", str(two_classes), "--no-progress", "--json", str(tmp_path / "r.json")])
    assert e.value.code == 2 and "non-finite" in one_line_error(capsys, "mobileclip.eval")
    assert not (tmp_path / "r.json").exists()


def test_3_nan_embeddings_are_an_error_in_encode_paths():
    from mobileclip.evaluation.metrics import encode_texts

    model = create_model("tiny-lsra-light").eval()
    model.encode_text = lambda ids: torch.full((ids.shape[0], 32), float("nan"))  # e.g. an exported model gone bad
    with pytest.raises(MobileClipError, match="text embeddings: 32 non-finite"):
        encode_texts(model, ["a photo of a cat"])


def test_3_nan_weights_never_reach_an_export_or_its_manifest(nan_ckpt, tmp_path, capsys):
    pytest.importorskip("executorch")
    from export import executorch

    with pytest.raises(SystemExit):
        executorch.main([str(nan_ckpt), "--out", str(tmp_path / "exp")])
    assert "non-finite" in one_line_error(capsys, "export.executorch")
    assert not (tmp_path / "exp" / "manifest.json").exists()


def test_3_json_is_strict(tmp_path):
    from mobileclip.utils.fileio import write_json

    with pytest.raises(MobileClipError, match=r"non-finite number .* at /models/0/verification/cosine_min"):
        write_json(tmp_path / "m.json", {"models": [{"verification": {"cosine_min": float("nan")}}]})
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temp file


# ------------------------------------------------------------------------ 4. BatchNorm never sees one sample
def test_4_batch_with_one_readable_image(tmp_path, capsys):
    csv_path = make_csv(tmp_path / "bad", 1, corrupt=3)  # every batch of 4: one readable image
    with pytest.raises(MobileClipError, match="no batch of --batch-size 4 held 2 readable images"):
        train(targs(csv_path, tmp_path / "run", "--steps", "2"))
    from mobileclip.training.data import collate_train

    item = (torch.zeros(3, 32, 32), torch.zeros(77, dtype=torch.long), 0)
    assert collate_train([None, item, None, None]) == (None, 3)
    assert collate_train([item, item])[0] is not None
    from mobileclip.training import loop as T

    with pytest.raises(SystemExit):
        T.main(["--train-data", str(csv_path), "--out", str(tmp_path / "r1"), *TINY, "--batch-size", "1"])
    assert "--batch-size must be >= 2" in one_line_error(capsys, "mobileclip.train")


# --------------------------------------------------------------------------------- 5. resume says what is wrong
def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("last.pt", "final.pt"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


@pytest.mark.parametrize("damage,expect", [
    ("truncate", "not a readable checkpoint"),
    ("model", "does not match this run's model"),
    ("final", "a weights-only checkpoint"),
    ("no-balancer", "training state lacks balancer"),
])
def test_5_damaged_or_mismatched_resume(finished_run, data, tmp_path, capsys, damage, expect):
    from mobileclip.training import loop as T

    out = _copy_run(finished_run, tmp_path / "run")
    argv = ["--train-data", str(data), "--out", str(out), "--batch-size", "4", *TINY, "--steps", "4"]
    if damage == "truncate":
        raw = (out / "last.pt").read_bytes()
        (out / "last.pt").write_bytes(raw[:len(raw) // 2])
    elif damage == "model":
        argv += ["--model-overrides", '{"text_cfg": {"layers": 1, "kernel_sizes": [3]}}']
    elif damage == "final":
        argv += ["--resume", str(out / "final.pt")]
    else:
        payload = torch.load(out / "last.pt", weights_only=True)
        del payload["extra"]["train_state"]["balancer"]
        torch.save(payload, out / "last.pt")
    with pytest.raises(SystemExit) as e:
        T.main(argv)
    assert e.value.code == 2
    assert expect in one_line_error(capsys, "mobileclip.train")


# ------------------------------------------------------------------------------------- 6. temp files, modes
def test_6_stale_temps_removed_at_start_and_failed_writes_leave_none(data, tmp_path):
    from mobileclip.utils.fileio import atomic_torch_save

    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".last.pt.k2j_x9q1.pt", out / ".final.pt.abcdefgh.pt"]
    kept = [out / ".last.pt.notes", out / "my.last.pt.abcdefgh.pt", out / ".last.pt.abc.pt", out / "mine.pt"]
    for p in stale + kept:
        p.write_bytes(b"x")
    train(targs(data, out, "--steps", "1"))
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in kept)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full (simulated)")
    with pytest.raises(RuntimeError):
        atomic_torch_save({"x": Unpicklable()}, tmp_path / "t" / "ckpt.pt")
    assert list((tmp_path / "t").iterdir()) == []


def test_6_export_removes_its_stale_temps(tmp_path, capsys):
    from export import executorch

    out = tmp_path / "exp"
    (out / "executorch").mkdir(parents=True)
    stale = [out / ".manifest.json.abcd_123.json", out / "executorch" / ".image_int8.pte.x1y2z3w4.pte"]
    kept = [out / "manifest.json.bak", out / "executorch" / ".notes.pte.abcdefgh.pte"]
    for p in stale + kept:
        p.write_bytes(b"x")
    with pytest.raises(SystemExit):  # the checkpoint is missing: clean-up happened first anyway
        executorch.main([str(tmp_path / "missing.pt"), "--out", str(out)])
    assert "not found" in one_line_error(capsys, "export.executorch")
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)


def test_6_written_files_get_the_umask_mode(finished_run, tmp_path):
    old = os.umask(0o022)
    try:
        from mobileclip.utils.fileio import atomic_write

        assert (atomic_write(tmp_path / "a.json", "{}").stat().st_mode & 0o777) == 0o644
        assert ((finished_run / "last.pt").stat().st_mode & 0o777) == 0o644
        assert ((finished_run / "final.pt").stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(old)


# ------------------------------------------------------------------------ 7. file names confined to the folder
@pytest.fixture
def export_dir(tmp_path):
    exp = tmp_path / "export"
    (exp / "executorch").mkdir(parents=True)
    (exp / "executorch" / "image_int8.pte").write_bytes(b"PTE")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "secret.pte").write_bytes(b"TOP SECRET BYTES")
    return exp


@pytest.mark.parametrize("name", ["../other/secret.pte", "/etc/passwd", "link.pte"])
def test_7_runtime_refuses_files_outside_the_export_folder(export_dir, name):
    from export.manifest import MANIFEST_FORMAT
    from export.runtime import list_exported, load_exported

    (export_dir / "link.pte").symlink_to(export_dir.parent / "other" / "secret.pte")
    manifest = json.loads((REPO / "golden" / "manifest.json").read_text())  # a schema-valid manifest
    assert manifest["format"] == MANIFEST_FORMAT
    manifest["models"] = [{**manifest["models"][0], "file": name}]
    (export_dir / "manifest.json").write_text(json.dumps(manifest))
    for call in (lambda: list_exported(export_dir), lambda: load_exported(export_dir, "executorch", towers=("image",))):
        with pytest.raises(MobileClipError, match="outside the folder") as e:
            call()
        assert "SECRET" not in str(e.value) and "root:" not in str(e.value)


def test_7_device_never_pushes_a_file_from_outside(adb_server, phone, bench_files, capsys):
    exp = bench_files["export"]
    (exp.parent / "private.tflite").write_bytes(b"private")
    m = json.loads((exp / "manifest.json").read_text())
    m["models"][0]["file"] = "../private.tflite"
    (exp / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files, "--serial", phone.serial))
    assert "outside the folder" in one_line_error(capsys, "benchmarks.device")
    assert phone.files == {} and "sync:" not in phone.services


# ----------------------------------------------------------------------------------------- 8. smaller ones
def test_8_csv_with_utf8_bom(tmp_path):
    from mobileclip.data.datasets import read_caption_csv

    p = tmp_path / "excel.csv"
    p.write_bytes("image,caption\r\na.png,a café\r\n".encode("utf-8-sig"))
    assert read_caption_csv(p) == [(tmp_path / "a.png", "a café")]


def test_8_the_two_skip_counts_agree(tmp_path, capsys):
    csv_path = make_csv(tmp_path / "d", 9, corrupt=2, missing=1)  # 12 rows, 3 bad; 3 steps per epoch
    train(targs(csv_path, tmp_path / "run", "--steps", "7"))  # three epochs see the bad rows 3 times each
    out = capsys.readouterr().out
    assert "CaptionCsv: 3 skipped" in out and "skipped 3 unreadable image(s)" in out


@pytest.mark.parametrize("towers,expect", [("image,image", "names a tower twice"), ("", "--towers is empty"),
                                           ("image,depth", "unknown tower")])
def test_8_towers(towers, expect, tmp_path, capsys):
    from export import executorch

    with pytest.raises(SystemExit) as e:
        executorch.main([str(tmp_path / "x.pt"), "--out", str(tmp_path / "exp"), "--towers", towers])
    assert e.value.code == 2 and expect in one_line_error(capsys, "export.executorch")
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("text,expect", [("[1, 2]", "not a JSON object"), ("{nope", "not valid JSON")])
def test_8_existing_manifest_not_an_object_or_invalid(finished_run, tmp_path, text, expect):
    pytest.importorskip("executorch")
    from export.manifest import read_manifest
    from export.executorch import BACKEND
    from export.pipeline import export_checkpoint

    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(MobileClipError):
        read_manifest(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(MobileClipError, match=expect):
        export_checkpoint(BACKEND, finished_run / "final.pt", tmp_path)
    assert time.perf_counter() - t0 < 5  # refused before the export work
    assert (tmp_path / "manifest.json").read_text() == text  # never silently replaced


@pytest.mark.parametrize("flag,value,expect", [
    ("--save-every", "0", "--save-every must be >= 1"), ("--lr", "-1", "--lr must be > 0"),
    ("--steps", "0", "--steps must be >= 1"), ("--out", "FILE/sub", "is a file, not a folder"),
])
def test_8_bad_training_numbers_and_unwritable_out(data, tmp_path, capsys, flag, value, expect):
    from mobileclip.training import loop as T

    (tmp_path / "FILE").write_text("a file")
    value = str(tmp_path / value) if flag == "--out" else value
    argv = ["--train-data", str(data), "--out", str(tmp_path / "run"), "--batch-size", "4", *TINY, flag, value]
    with pytest.raises(SystemExit) as e:
        T.main(argv)
    assert e.value.code == 2 and expect in one_line_error(capsys, "mobileclip.train")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_8_unwritable_outputs_checked_before_the_work(tmp_path, two_classes, capsys):
    from mobileclip.training import cache_teacher
    from mobileclip.evaluation import evaluate as E

    (tmp_path / "FILE").write_text("a file")
    with pytest.raises(SystemExit):
        E.main(["no-such-model.pt", "--zeroshot", str(two_classes), "--json", str(tmp_path / "FILE" / "r.json")])
    assert "is a file, not a folder" in one_line_error(capsys, "mobileclip.eval")  # not "model not found"
    with pytest.raises(SystemExit):
        cache_teacher.main(["--teacher", "no-such-teacher", "--train-data", str(two_classes),
                            "--out", str(tmp_path / "FILE" / "c.pt")])
    assert "is a file, not a folder" in one_line_error(capsys, "mobileclip.cache_teacher")


def test_8_device_threads(adb_server, bench_files, capsys):
    with pytest.raises(SystemExit) as e:
        D.main(_argv(adb_server, bench_files) + ["--threads", "0,x"])
    assert e.value.code == 2 and "expected comma-separated positive integers" in \
        one_line_error(capsys, "benchmarks.device")


def test_8_zero_shot_on_a_single_class(tmp_path, capsys):
    from PIL import Image

    from mobileclip.evaluation import evaluate as E

    (tmp_path / "only" / "cat").mkdir(parents=True)
    Image.new("RGB", (40, 40)).save(tmp_path / "only" / "cat" / "0.png")
    ckpt = save_checkpoint(create_model("tiny-lsra-light"), tmp_path / "s.pt")
    with pytest.raises(SystemExit):
        E.main([str(ckpt), "--zeroshot", str(tmp_path / "only"), "--no-progress"])
    assert "at least 2 class" in one_line_error(capsys, "mobileclip.eval")


def test_8_export_runtime_module_says_something():
    r = subprocess.run([sys.executable, "-m", "export.runtime"], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode != 0 and "usage: python -m export.runtime" in r.stderr


# ------------------------------------------------------------------------- kill -9 at random steps, then resume
def _cmd(data, out, steps):
    return [sys.executable, "-m", "mobileclip.train", "--train-data", str(data), "--out", str(out), "--batch-size",
            "4", *TINY, "--steps", str(steps), "--save-every", "1", "--resume", "auto"]


def _log_rows(out: Path) -> int:
    try:
        return max(0, len((out / "log.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def test_kill_at_random_steps_then_resume_equals_uninterrupted(data, tmp_path):
    steps, rng = 9, random.Random(int(os.environ.get("FAULT_SEED", time.time_ns() % 10**6)))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    ref, out = tmp_path / "ref", tmp_path / "killed"
    train(parse_args(_cmd(data, ref, steps)[3:]))  # the uninterrupted reference, in this process
    kills = 0
    for _ in range(3):  # a handful of kill -9 at random steps (and random moments within a step)
        target = min(steps - 1, _log_rows(out) + rng.randint(1, 3))
        p = subprocess.Popen(_cmd(data, out, steps), cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.time() + 300
        while p.poll() is None and _log_rows(out) < target and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.random() * 0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
    (out / ".last.pt.zz9_kill.pt").write_bytes(b"half a checkpoint")  # as a kill inside torch.save leaves it
    r = subprocess.run(_cmd(data, out, steps), cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert kills >= 1
    a = torch.load(ref / "final.pt", weights_only=True)["state_dict"]
    b = torch.load(out / "final.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in out.iterdir()) == ["final.pt", "last.pt", "log.csv"]  # no temp file, no lock

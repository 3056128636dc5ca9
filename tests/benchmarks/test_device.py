"""benchmarks.device: output parsers on real-format samples, and the whole harness with the REAL adb client
against an Android device emulated on loopback (tests/support/adb_device_emulator.py)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tests.support.adb_device_emulator import ET_FAIL, ET_OK, LITERT_FAIL, LITERT_NO_GRAPH, LITERT_OK, EmulatedDevice  # noqa: E402

from benchmarks import device as D  # noqa: E402

# ------------------------------------------------------------------------------------------ parsers
LITERT_REAL = """\
INFO: Initialized session in 52.133ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=39 first=19858 curr=12626 min=12408 max=19858 avg=12838.5 std=1156

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=80 first=12689 curr=12423 min=12292 max=13318 avg=12523.7 std=168

INFO: Inference timings in us: Init: 52133, First inference: 19858, Warmup (avg): 12838.5, Inference (avg): 12523.7
"""


def test_parse_litert_plain():
    r = D.parse_litert(LITERT_REAL)
    assert r["init_us"] == 52133 and r["first_inference_us"] == 19858
    assert r["warmup_avg_us"] == 12838.5 and r["inference_avg_us"] == 12523.7
    assert r["inference_avg_ms"] == pytest.approx(12.5237)
    assert (r["count"], r["min_us"], r["max_us"], r["std_us"]) == (80, 12292, 13318, 168)  # the timed pass


def test_parse_litert_scientific_notation():
    text = "INFO: Inference timings in us: Init: 1.2345e+06, First inference: 2.5e+05, Warmup (avg): 1.9e+05, " \
           "Inference (avg): 1.87654e+05\n"
    r = D.parse_litert(text)
    assert r["init_us"] == 1234500 and r["first_inference_us"] == 250000
    assert r["inference_avg_ms"] == pytest.approx(187.654)
    r = D.parse_litert(LITERT_OK.format(graph="/x.tflite", threads=4, runs=50))
    assert r["first_inference_us"] == 19858 and r["inference_avg_us"] == pytest.approx(11523.7)


@pytest.mark.parametrize("text", [LITERT_FAIL.format(graph="/m.tflite"), LITERT_NO_GRAPH.format(graph="/m.tflite"), ""])
def test_parse_litert_errors(text):
    with pytest.raises(D.ParseError) as e:
        D.parse_litert(text)
    if text:
        assert "first error: ERROR:" in str(e.value)


def test_parse_executorch():
    r = D.parse_executorch(ET_OK.format(model="/m.pte", threads=4, runs=20, total=162.46912))
    assert r == {"executions": 20, "total_ms": pytest.approx(162.46912), "inference_avg_ms": pytest.approx(8.123456)}
    r = D.parse_executorch("I 00:00:01.5 executorch:executor_runner.cpp:389] Model executed successfully 3 time(s) "
                           "in 1.5e+03 ms.\n")
    assert r["inference_avg_ms"] == pytest.approx(500)


def test_parse_executorch_error():
    with pytest.raises(D.ParseError, match=r"first error: E 00:00:00.004012 executorch:method.cpp:749\] Missing"):
        D.parse_executorch(ET_FAIL.format(model="/m.pte", threads=1))


# ------------------------------------------------------------------------------- real adb harness
def _ensure_adb() -> str:
    path = shutil.which("adb")
    if path:
        return path
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        r = subprocess.run("apt-get update -qq && apt-get install -y -qq adb", shell=True, capture_output=True,
                           text=True, timeout=600)
        if r.returncode == 0 and shutil.which("adb"):
            return shutil.which("adb")
        pytest.skip(f"adb missing and apt-get install adb failed: {(r.stderr or r.stdout).strip()[-200:]}")
    pytest.skip("adb missing and cannot be installed here (needs root + apt-get: apt-get install adb)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def adb_server(tmp_path_factory):
    """A private adb server (own port, own HOME for its keys), killed at teardown."""
    binary = _ensure_adb()
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path_factory.mktemp("adb-home")))
    env.pop("ADB_SERVER_SOCKET", None)
    r = subprocess.run([binary, "-P", str(port), "start-server"], env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"adb server does not start here: {r.stderr.strip()[-200:]}")
    yield {"binary": binary, "port": port, "env": env}
    subprocess.run([binary, "-P", str(port), "kill-server"], env=env, capture_output=True, timeout=60)


def _adb(server, *args, timeout=30):
    return subprocess.run([server["binary"], "-P", str(server["port"]), *args], env=server["env"],
                          capture_output=True, text=True, timeout=timeout)


def _connect(server, dev, state="device"):
    _adb(server, "connect", dev.serial)
    for _ in range(100):
        if f"{dev.serial}\t{state}" in _adb(server, "devices").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"{dev.serial} never became {state}: {_adb(server, 'devices').stdout}")


@pytest.fixture
def phone(adb_server):
    dev = EmulatedDevice(model="Pixel 7", abi="arm64-v8a", release="14", sdk="34")
    _connect(adb_server, dev)
    yield dev
    _adb(adb_server, "disconnect", dev.serial)
    dev.close()


@pytest.fixture
def bench_files(tmp_path):
    """An export folder with a manifest and fake runner binaries (ELF magic; the emulator 'runs' them)."""
    export = tmp_path / "export"
    (export / "tflite").mkdir(parents=True)
    (export / "executorch").mkdir()
    models = []
    for backend, ext in (("tflite", "tflite"), ("executorch", "pte")):
        for tower in ("image", "text"):
            f = export / backend / f"{tower}_int8.{ext}"
            f.write_bytes(os.urandom(300_000 if tower == "image" else 1000))
            models.append({"backend": backend, "tower": tower, "quantization": "int8",
                           "file": f"{backend}/{f.name}", "size_bytes": f.stat().st_size})
    (export / "manifest.json").write_text(json.dumps({"format": "mobileclip-kd-export", "format_version": 1, "models": models}))
    bins = tmp_path / "bin"
    bins.mkdir()
    for name in ("benchmark_model", "executor_runner"):
        (bins / name).write_bytes(b"\x7fELF\x02\x01\x01" + os.urandom(2000))
    return {"export": export, "litert": bins / "benchmark_model", "executorch": bins / "executor_runner",
            "out": tmp_path / "out"}


def _argv(adb_server, files, *extra):
    return ["--export", str(files["export"]), "--litert-runner", str(files["litert"]),
            "--executorch-runner", str(files["executorch"]), "--adb", adb_server["binary"],
            "--adb-server-port", str(adb_server["port"]), "--threads", "1,4", "--repeats", "20",
            "--out", str(files["out"]), *extra]


def test_device_end_to_end(adb_server, phone, bench_files, capsys):
    result = D.main(_argv(adb_server, bench_files, "--serial", phone.serial))
    assert result["complete"] and result["device"] == {
        "serial": phone.serial, "model": "Pixel 7", "manufacturer": "Google", "abi": "arm64-v8a", "android": "14",
        "sdk": "34"}
    assert len(result["results"]) == 8  # 4 models x 2 thread counts
    lit = [r for r in result["results"] if r["runtime"] == "litert"]
    et = [r for r in result["results"] if r["runtime"] == "executorch"]
    assert all(r["inference_avg_us"] == pytest.approx(11523.7) and r["first_inference_us"] == 19858 for r in lit)
    assert all(r["executions"] == 20 and r["inference_avg_ms"] == pytest.approx(8.123456) for r in et)
    assert {r["threads"] for r in result["results"]} == {1, 4}
    # what the device saw: the runners really got the options, pushes went through sync, files cleaned up
    assert any("--num_threads=4 --num_runs=20" in c for c in phone.commands)
    assert any("--num_executions=20 --cpu_threads=1" in c for c in phone.commands)
    assert "sync:" in phone.services and any(s.startswith("shell,v2") for s in phone.services)
    assert phone.files == {}  # rm -rf at the end
    saved = json.loads((bench_files["out"] / "device.json").read_text())
    assert saved["complete"] and len(saved["results"]) == 8
    assert "Pixel 7" in (bench_files["out"] / "device.md").read_text()
    logs = sorted((bench_files["out"] / "device-logs").glob("*.log"))  # pulled back over sync RECV
    assert len(logs) == 8 and "Inference timings in us" in logs[0].read_text() + logs[-1].read_text()


def test_legacy_adbd_exit_status_via_sentinel(adb_server, bench_files):
    """No shell_v2 (old adbd): adb's own exit status is always 0, the sentinel still reports the failure."""
    dev = EmulatedDevice(shell_v2=False)
    try:
        _connect(adb_server, dev)
        r = _adb(adb_server, "-s", dev.serial, "shell", "/data/local/tmp/nothing")
        assert r.returncode == 0  # what makes the sentinel necessary
        dev.runner_mode = "fail"
        with pytest.raises(SystemExit) as e:
            D.main(_argv(adb_server, bench_files, "--serial", dev.serial))
        assert e.value.code == 2
    finally:
        _adb(adb_server, "disconnect", dev.serial)
        dev.close()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("benchmarks.device: error: ")
    return err[-1]


def test_remote_nonzero_exit_keeps_results(adb_server, phone, bench_files, capsys):
    phone.runner_mode = "ok"
    orig = phone._run_binary

    def fail_on_executorch(path, args, stream):  # LiteRT models succeed, then executor_runner aborts
        if path.endswith("executor_runner"):
            phone.runner_mode = "fail"
        return orig(path, args, stream)
    phone._run_binary = fail_on_executorch
    with pytest.raises(SystemExit) as e:
        D.main(_argv(adb_server, bench_files, "--serial", phone.serial))
    assert e.value.code == 2
    line = _one_line_error(capsys)
    assert "exited with status 134" in line and "Missing operator" in line
    saved = json.loads((bench_files["out"] / "device.json").read_text())
    assert not saved["complete"] and "134" in saved["error"]
    assert [r["runtime"] for r in saved["results"]] == ["litert"] * 4  # gathered before the failure, kept


def test_timeout(adb_server, phone, bench_files, capsys):
    phone.runner_mode = "hang"
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files, "--serial", phone.serial, "--timeout", "3", "--towers", "image"))
    assert "timed out after 3s" in _one_line_error(capsys)
    assert not json.loads((bench_files["out"] / "device.json").read_text())["complete"]


def test_device_vanishes(adb_server, phone, bench_files, capsys):
    phone.runner_mode = "vanish"
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files, "--serial", phone.serial, "--timeout", "30"))
    line = _one_line_error(capsys)
    assert f"device {phone.serial} vanished" in line
    saved = json.loads((bench_files["out"] / "device.json").read_text())
    assert saved["device"]["model"] == "Pixel 7" and not saved["complete"]


def test_no_device(adb_server, bench_files, capsys):
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files))
    assert "no Android device connected" in _one_line_error(capsys)
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files, "--serial", "127.0.0.1:1"))
    assert "device '127.0.0.1:1' not found" in _one_line_error(capsys)


def test_unauthorized_device(adb_server, bench_files, capsys):
    dev = EmulatedDevice(unauthorized=True)
    try:
        _connect(adb_server, dev, state="unauthorized")
        with pytest.raises(SystemExit):
            D.main(_argv(adb_server, bench_files, "--serial", dev.serial))
        assert "unauthorized" in _one_line_error(capsys)
    finally:
        _adb(adb_server, "disconnect", dev.serial)
        dev.close()


def test_missing_binary_and_adb(adb_server, phone, bench_files, capsys, tmp_path):
    argv = _argv(adb_server, bench_files, "--serial", phone.serial)
    argv[argv.index(str(bench_files["litert"]))] = str(tmp_path / "nope" / "benchmark_model")
    with pytest.raises(SystemExit):
        D.main(argv)
    assert "benchmark_model binary not found" in _one_line_error(capsys)
    with pytest.raises(SystemExit):
        D.main(_argv(adb_server, bench_files, "--adb", str(tmp_path / "no-adb")))
    assert "adb not found" in _one_line_error(capsys)
    assert not (bench_files["out"] / "device.json").exists()  # nothing gathered, nothing half-written


def test_help():
    with pytest.raises(SystemExit) as e:
        D.parse_args(["--help"])
    assert e.value.code == 0

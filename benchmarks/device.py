"""On-phone latency over the real ``adb``: push exported models and the official runner binaries, run, parse.

Steps: check the device (``adb devices``; model, ABI, Android version via ``getprop``), push the
models (from an export folder's ``manifest.json`` and/or ``--model`` files) and the runner binaries you
supply — LiteRT's ``benchmark_model`` for ``.tflite``, ExecuTorch's ``executor_runner`` for ``.pte``,
built for the phone's ABI — run each model at each thread count, pull the logs, parse the timings, clean
up the device folder, write JSON + Markdown.

Exit statuses of remote commands are captured with a sentinel (``; echo __RC__$?``) because older adbd
(no shell_v2) always reports 0. No device, an unauthorized or vanished device, a missing binary, a
non-zero remote exit or a timeout stop the run with a one-line error; the results gathered so far are
written (``"complete": false`` and the error in the JSON).

Parsed outputs: LiteRT "Inference timings in us: Init: ..., First inference: ..., Warmup (avg): ...,
Inference (avg): ..." (plain or scientific notation) plus its count/min/max/std line; ExecuTorch
"Model executed successfully N time(s) in X ms." (average = X / N; includes the first run, the runner
has no separate warm-up).

Example:
  python -m benchmarks.device --export .cache/demo/export --litert-runner ~/bin/benchmark_model \\
      --executorch-runner ~/bin/executor_runner --threads 1,4 --repeats 50 --out .cache/bench
"""
from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tabulate import tabulate

from export.backends import ALIASES, backend_for_file, get_backend, runtime_name
from export.manifest import confined, manifest_path, read_manifest
from mobileclip import MobileClipError
from mobileclip.utils.cli import add_output_args, add_thread_counts, default_paths
from mobileclip.utils.errors import cli_errors
from mobileclip.utils.validate import parse_positive_ints

from . import remote_dir
from .common import machine_info, split_list, write_outputs

PROG = "python -m benchmarks.device"
SENTINEL = "__RC__"
NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
PROPS = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer", "abi": "ro.product.cpu.abi",
         "android": "ro.build.version.release", "sdk": "ro.build.version.sdk"}
RUNNERS = {"litert": "benchmark_model", "executorch": "executor_runner"}


class DeviceError(MobileClipError):
    pass


class ParseError(MobileClipError):
    pass


# ------------------------------------------------------------------------------------------- parsers
def parse_litert(text: str) -> dict:
    """LiteRT ``benchmark_model`` output -> timings in microseconds (and ms for convenience)."""
    m = re.search(rf"Inference timings in us:\s*Init:\s*({NUM}),\s*First inference:\s*({NUM}),\s*"
                  rf"Warmup \(avg\):\s*({NUM}),\s*Inference \(avg\):\s*({NUM})", text)
    if not m:
        raise ParseError("LiteRT benchmark_model output has no 'Inference timings in us' line"
                         + _first_error(text, r"^(?:ERROR|E\b|F\b).*"))
    init, first, warm, avg = (float(v) for v in m.groups())
    out = {"init_us": init, "first_inference_us": first, "warmup_avg_us": warm, "inference_avg_us": avg,
           "inference_avg_ms": avg / 1000}
    counts = re.findall(rf"count=(\d+) first=({NUM}) curr=({NUM}) min=({NUM}) max=({NUM}) avg=({NUM}) std=({NUM})",
                        text)
    if counts:  # the last one is the timed (non-warm-up) run
        c = counts[-1]
        out.update({"count": int(c[0]), "min_us": float(c[3]), "max_us": float(c[4]), "std_us": float(c[6])})
    return out


def parse_executorch(text: str) -> dict:
    """ExecuTorch ``executor_runner`` output -> executions, total and average milliseconds."""
    m = re.search(rf"Model executed successfully (\d+) time\(s\) in ({NUM}) ms", text)
    if not m:
        raise ParseError("ExecuTorch executor_runner output has no 'Model executed successfully N time(s) in X ms'"
                         " line" + _first_error(text, r"^(?:[EF] \d\d:\d\d:\d\d\S*|ERROR:?|Aborted).*"))
    n, total = int(m.group(1)), float(m.group(2))
    return {"executions": n, "total_ms": total, "inference_avg_ms": total / max(n, 1)}


def _first_error(text: str, pattern: str) -> str:
    m = re.search(pattern, text, re.M)
    return f"; first error: {m.group(0).strip()[:240]}" if m else ""


PARSERS = {"litert": parse_litert, "executorch": parse_executorch}


# ----------------------------------------------------------------------------------------------- adb
class Adb:
    """The real adb client, one device (``-s SERIAL``), optional private server port (``-P``)."""

    def __init__(self, binary: str = "adb", serial: str | None = None, server_port: int | None = None,
                 timeout: float = 300):
        path = shutil.which(binary) if not Path(binary).is_file() else binary
        if not path:
            raise DeviceError(f"adb not found ({binary!r}): install Android platform-tools "
                              "(Debian/Ubuntu: apt-get install adb) or pass --adb PATH")
        self.binary, self.serial, self.server_port, self.timeout = path, serial, server_port, timeout

    def _cmd(self, *args, device=True):
        cmd = [self.binary]
        if self.server_port:
            cmd += ["-P", str(self.server_port)]
        if device and self.serial:
            cmd += ["-s", self.serial]
        return cmd + list(args)

    def call(self, *args, timeout=None, device=True, what=None) -> subprocess.CompletedProcess:
        timeout = timeout or self.timeout
        try:
            return subprocess.run(self._cmd(*args, device=device), capture_output=True, text=True,
                                  errors="replace", timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"timed out after {timeout:g}s: {what or 'adb ' + ' '.join(args)}"
                              + (f" on {self.serial}" if self.serial else "")) from None

    def devices(self) -> list[tuple[str, str]]:
        r = self.call("devices", device=False, timeout=60)
        if r.returncode != 0:
            raise DeviceError(f"adb devices failed: {_line(r.stderr or r.stdout)}")
        out = []
        for line in r.stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("*"):
                out.append((parts[0], parts[1]))
        return out

    def select(self, serial: str | None) -> str:
        devices = self.devices()
        if serial:
            state = dict(devices).get(serial)
            if state is None:
                raise DeviceError(f"device {serial!r} not found; adb devices lists "
                                  f"{', '.join(f'{s} ({st})' for s, st in devices) or 'none'}")
        else:
            if not devices:
                raise DeviceError("no Android device connected (adb devices lists none): plug in a phone with USB "
                                  "debugging on, or adb connect HOST:PORT")
            ready = [s for s, st in devices if st == "device"]
            if len(devices) > 1 and len(ready) != 1:
                raise DeviceError(f"several devices connected ({', '.join(s for s, _ in devices)}): pick one with "
                                  "--serial")
            serial = ready[0] if ready else devices[0][0]
            state = dict(devices)[serial]
        if state == "unauthorized":
            raise DeviceError(f"device {serial} is unauthorized: accept the USB debugging prompt on the phone")
        if state != "device":
            raise DeviceError(f"device {serial} is {state}, not ready (adb devices)")
        self.serial = serial
        return serial

    def shell(self, command: str, timeout=None, check=True, what=None) -> tuple[str, int]:
        """Run ``command`` on the device; returns (stdout+stderr, exit status from the sentinel)."""
        r = self.call("shell", f"{command}; echo {SENTINEL}$?", timeout=timeout, what=what or command)
        text = r.stdout
        m = None
        for m in re.finditer(rf"^{SENTINEL}(\d+)\s*$", text, re.M):
            pass
        if m is None:  # the shell never got to the sentinel: connection lost or adb refused
            self._lost(what or command, r)
        rc = int(m.group(1))
        output = text[:m.start()] + r.stderr
        if check and rc != 0:
            raise DeviceError(f"remote command failed with exit status {rc}: {what or command}"
                              f"{': ' + _line(output) if output.strip() else ''}")
        return output, rc

    def push(self, local, remote, timeout=None):
        r = self.call("push", str(local), remote, timeout=timeout, what=f"adb push {local} {remote}")
        if r.returncode != 0:
            self._lost(f"adb push {local} {remote}", r)

    def pull(self, remote, local, timeout=None):
        r = self.call("pull", remote, str(local), timeout=timeout, what=f"adb pull {remote}")
        if r.returncode != 0:
            self._lost(f"adb pull {remote}", r)

    def _lost(self, what, r):
        msg = _line(r.stderr or r.stdout) or f"adb exited with status {r.returncode}"
        try:
            state = dict(self.devices()).get(self.serial)
        except DeviceError:
            state = None
        if state != "device":
            raise DeviceError(f"device {self.serial} vanished ({'no longer listed' if state is None else state}) "
                              f"during: {what} ({msg})")
        raise DeviceError(f"{what} failed: {msg}")


def _line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


# ----------------------------------------------------------------------------------------- the plan
def plan_models(args) -> tuple[list[dict], list[dict]]:
    """Models to run: manifest entries (filtered) and --model files; returns (models, skipped)."""

    models, skipped = [], []
    towers, quants = set(split_list(args.towers)), set(split_list(args.quantization))
    if args.export:
        folder = manifest_path(args.export).parent
        for e in read_manifest(args.export).get("models", []):
            runtime = android_runtime(e["backend"])
            item = {"file": str(confined(folder, e["file"])), "tower": e["tower"],  # inside the export folder
                    "quantization": e["quantization"], "backend": e["backend"], "runtime": runtime}
            if runtime is None:
                skipped.append({**item, "reason": f"{e['backend']} models do not run on Android"})
            elif e["tower"] in towers and e["quantization"] in quants:
                models.append(item)
    for f in args.model or []:
        runtime = android_runtime(backend_for_file(f))
        if runtime is None:
            raise MobileClipError(f"--model {f}: expected a .tflite or .pte file")
        models.append({"file": f, "tower": "?", "quantization": "?", "backend": runtime, "runtime": runtime})
    runners = {"litert": args.litert_runner, "executorch": args.executorch_runner}
    kept = []
    for m in models:
        if not Path(m["file"]).is_file():
            raise MobileClipError(f"model file not found: {m['file']}")
        if not runners[m["runtime"]]:
            skipped.append({**m, "reason": f"no --{m['runtime']}-runner ({RUNNERS[m['runtime']]}) given"})
        else:
            kept.append(m)
    if not kept:
        raise MobileClipError("nothing to run: give --export DIR or --model FILE together with "
                              "--litert-runner PATH (.tflite) and/or --executorch-runner PATH (.pte)"
                              + (f"; skipped: {skipped[0]['reason']}" if skipped else ""))
    for name, path in runners.items():
        if path and not Path(path).is_file():
            raise MobileClipError(f"{RUNNERS[name]} binary not found: {path}")
    return kept, skipped


def android_runtime(backend: str | None) -> str | None:
    """The on-phone runtime of a backend's files (``tflite`` -> ``litert``), None when phones don't run them."""
    return runtime_name(backend) if backend in ALIASES and get_backend(backend).android else None


def runner_command(runtime: str, binary: str, model: str, threads: int, repeats: int, warmup: int) -> str:
    q = shlex.quote
    if runtime == "litert":
        return (f"{q(binary)} --graph={q(model)} --num_threads={threads} --num_runs={repeats} "
                f"--warmup_runs={warmup}")
    return f"{q(binary)} --model_path={q(model)} --num_executions={repeats} --cpu_threads={threads}"


def run(args, result: dict) -> dict:
    models, skipped = plan_models(args)
    threads_list = parse_positive_ints(args.threads, "--threads")
    remote_dir.check_remote_base(args.remote_dir)
    result["skipped"] = skipped
    adb = Adb(args.adb, server_port=args.adb_server_port, timeout=args.timeout)
    serial = adb.select(args.serial)
    info = {"serial": serial}
    for key, prop in PROPS.items():
        info[key] = adb.shell(f"getprop {prop}", what=f"getprop {prop}")[0].strip()
    result["device"] = info
    print(f"device {serial}: {info['manufacturer']} {info['model']}, Android {info['android']} (SDK {info['sdk']}), "
          f"{info['abi']}")
    logs = Path(args.out or ".cache/bench") / "device-logs"
    logs.mkdir(parents=True, exist_ok=True)
    run_dir = remote_dir.prepare(adb, args.remote_dir)  # reliability hook: our own marked sub-folder
    remote = run_dir.run
    try:
        binaries = {}
        for runtime in sorted({m["runtime"] for m in models}):
            local = getattr(args, f"{runtime}_runner")
            binaries[runtime] = f"{remote}/{RUNNERS[runtime]}"
            adb.push(local, binaries[runtime])
            adb.shell(f"chmod 755 {shlex.quote(binaries[runtime])}")
        for m in models:
            m["remote"] = f"{remote}/{Path(m['file']).name}"
            adb.push(m["file"], m["remote"])
        for m in models:
            for threads in threads_list:
                name = f"{Path(m['file']).name}_t{threads}"  # image_int8.tflite_t4: unique per model file
                cmd = runner_command(m["runtime"], binaries[m["runtime"]], m["remote"], threads, args.repeats,
                                     args.warmup)
                log_remote = f"{remote}/{name}.log"
                what = f"{RUNNERS[m['runtime']]} on {Path(m['file']).name} ({threads} thread(s))"
                print(f"running {what}")
                _, rc = adb.shell(f"{cmd} > {shlex.quote(log_remote)} 2>&1", check=False, what=what)
                adb.pull(log_remote, logs / f"{name}.log")
                text = (logs / f"{name}.log").read_text(errors="replace")
                entry = {"file": Path(m["file"]).name, "tower": m["tower"], "quantization": m["quantization"],
                         "runtime": m["runtime"], "threads": threads, "repeats": args.repeats,
                         "command": cmd, "remote_exit": rc, "log": str(logs / f"{name}.log")}
                if rc != 0:
                    err = _first_error(text, r"^(?:ERROR|[EF] \d\d:\d\d:\d\d\S*|Aborted|/system/bin/sh).*")
                    raise DeviceError(f"{what} exited with status {rc}{err or ': ' + _line(text)}")
                entry.update(PARSERS[m["runtime"]](text))
                result["results"].append(entry)
                print(f"  {entry['inference_avg_ms']:.3f} ms/inference")
    finally:
        if not args.keep_remote:
            try:
                remote_dir.clean_up(adb, run_dir)  # reliability hook: only what this run created
            except DeviceError:
                pass  # device gone: nothing left to clean; the original error is what matters
    result["complete"] = True
    return result


def to_markdown(result: dict) -> str:
    d = result.get("device") or {}
    lines = ["# On-device latency", ""]
    if d:
        lines += [f"Device: {d.get('manufacturer', '')} {d.get('model', '')} ({d.get('serial')}), Android "
                  f"{d.get('android')} (SDK {d.get('sdk')}), ABI {d.get('abi')}.", ""]
    rows = [[r["file"], r["tower"], r["quantization"], r["runtime"], r["threads"], r["inference_avg_ms"],
             r.get("first_inference_us", 0) / 1000 if "first_inference_us" in r else "—",
             r.get("init_us", 0) / 1000 if "init_us" in r else "—", r.get("count", r.get("executions", "—"))]
            for r in result["results"]]
    if rows:
        lines += [tabulate(rows, headers=["model", "tower", "precision", "runner", "threads", "avg (ms)",
                                          "first (ms)", "init (ms)", "runs"], floatfmt=".2f", tablefmt="github"), ""]
    if result.get("skipped"):
        lines += ["Skipped: " + "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in result["skipped"]), ""]
    if result.get("error"):
        lines += [f"**Incomplete**: {result['error']}", ""]
    lines.append("Runners: LiteRT benchmark_model (avg of the timed runs after warm-up), ExecuTorch executor_runner "
                 "(total / N, first run included). Host: " + result["host"]["cpu"] + ".")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--export", default=None, help="export folder with manifest.json (.tflite -> LiteRT, .pte -> ExecuTorch)")
    p.add_argument("--model", action="append", help="extra .tflite/.pte file to run (repeatable)")
    p.add_argument("--towers", default="image,text", help="towers from the manifest (default: %(default)s)")
    p.add_argument("--quantization", default="fp32,int8", help="precisions from the manifest (default: %(default)s)")
    p.add_argument("--litert-runner", default=None, help="LiteRT benchmark_model binary built for the phone's ABI")
    p.add_argument("--executorch-runner", default=None, help="ExecuTorch executor_runner binary built for the phone")
    p.add_argument("--serial", default=None, help="device serial (adb devices) when several are connected")
    p.add_argument("--adb", default="adb", help="adb client binary (default: adb on PATH)")
    p.add_argument("--adb-server-port", type=int, default=None, help="adb server port (adb -P; default: adb's)")
    add_thread_counts(p, "1,4")
    p.add_argument("--repeats", type=int, default=50, help="timed runs per model and thread count (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up runs (LiteRT only; default: 5)")
    p.add_argument("--timeout", type=float, default=300, help="seconds per adb command (default: 300)")
    p.add_argument("--remote-dir", default="/data/local/tmp/mobileclip-bench",
                   help="working folder on the phone, owned by the harness: created (and marked) if absent, refused "
                        "if it exists unmarked; each run works in its own sub-folder and removes only that")
    p.add_argument("--keep-remote", action="store_true", help="leave the pushed files on the phone")
    add_output_args(p, "device", " and device-logs/")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    with cli_errors("benchmarks.device"):
        if args.repeats < 1:
            raise MobileClipError("--repeats must be >= 1")
        result = {"benchmark": "device", "host": machine_info(), "device": None, "results": [], "skipped": [],
                  "complete": False}
        paths = default_paths(args.out, "device", args.json, args.md)
        try:
            run(args, result)
        except MobileClipError as e:
            result["error"] = " ".join(str(e).split())
            if result["results"] or result["device"]:  # keep what was gathered
                for path in write_outputs(result, to_markdown(result), *paths):
                    print(f"wrote {path} (incomplete)")
            raise
        md = to_markdown(result)
        print(md)
        for path in write_outputs(result, md, *paths):
            print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main()
